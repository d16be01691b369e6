/**
 * Compiling Windows binaries, x64 or x86 (32-bit): mingw-w64 GCC against
 * the UCRT, in the Wine environment on Linux (or on PATH on Windows). MSVC
 * support for the hook DLL lives in build_dll.ts, which is the only thing
 * that needs it.
 *
 * @module
 */

import { isWindows, repoRoot, rootfsDir, runInEnv } from "./winenv.ts";

/** A Windows target architecture. */
export type Arch = "x64" | "x86";

/** Every architecture, x64 first. */
export const ARCHES: readonly Arch[] = ["x64", "x86"];

/** What to produce. */
export interface CompileOptions {
  /** Source files (host paths, inside the checkout). */
  sources: string[];
  /** Output file (host path, inside the checkout). */
  out: string;
  /** `exe` (default) or `dll`. */
  kind?: "exe" | "dll";
  /** `x64` (default) or `x86`. */
  arch?: Arch;
  /** Extra compiler flags (include paths, defines, libraries). */
  flags?: string[];
  /** Print the command line before running it. */
  verbose?: boolean;
}

/** Raised when the compiler fails; carries its exit code. */
export class CompileError extends Error {
  override name = "CompileError";
  /** The compiler's exit code. */
  code: number;
  constructor(
    out: string,
    code: number,
    compiler = MINGW_CC,
    /** The whole message, instead of the one made of the others. */
    message?: string,
  ) {
    super(
      message ??
        (code === 127
          ? `Cannot build ${out}: the compiler ${compiler} was not found (${
            missingCompilerHint(compiler)
          })`
          : `Cannot build ${out}: the compiler exited with ${code} (its messages are above)`),
    );
    this.code = code;
  }

  /** The same failure of the build of `out`, its message `message`. */
  reworded(out: string, message: string): CompileError {
    return new CompileError(out, this.code, undefined, message);
  }
}

/** Debian's package of each compiler the environment provisions. */
const COMPILER_PACKAGES: Readonly<Record<string, string>> = {
  "x86_64-w64-mingw32ucrt-gcc": "gcc-mingw-w64-ucrt64",
  "i686-w64-mingw32-gcc": "gcc-mingw-w64-i686-win32",
};

/** What to do about a compiler that is not there. */
function missingCompilerHint(compiler: string): string {
  if (isWindows) {
    return "install mingw-w64 with the UCRT runtime, e.g. MSYS2's ucrt64 gcc, and put its bin directory on PATH; the hook DLL also builds with Visual Studio's C++ tools";
  }
  const pkg = COMPILER_PACKAGES[compiler] ?? "its package";
  // provisioning installs it, so it was removed from a provisioned
  // environment (provision, which goes by its markers, does not repair)
  return `the Wine environment at ${rootfsDir()} lacks it, though provisioned; put Debian's ${pkg} back: deno task env run -- sh -c 'apt-get update && apt-get install -y ${pkg}'`;
}

/** The mingw-w64 UCRT compiler's name (x64). */
export const MINGW_CC = "x86_64-w64-mingw32ucrt-gcc";

/**
 * The compiler and its UCRT flag per architecture: Debian's i686 mingw
 * defaults to msvcrt.dll, `-mcrtdll=ucrt` links `libucrt.a` instead (the
 * program then imports `api-ms-win-crt-*`, like an MSVC `/MD` build).
 */
export const MINGW: Record<Arch, readonly string[]> = {
  x64: [MINGW_CC],
  x86: ["i686-w64-mingw32-gcc", "-mcrtdll=ucrt"],
};

/** Builds the mingw command line for {@linkcode compile}. */
export function mingwArgs(options: CompileOptions): string[] {
  const kind = options.kind ?? "exe";
  return [
    ...MINGW[options.arch ?? "x64"],
    "-O2",
    "-g0",
    "-Wall",
    // -static keeps libgcc and winpthread inside the binary: a DLL that
    // needs libgcc_s_seh-1.dll fails LoadLibrary with error 126.
    "-static",
    ...(kind === "dll" ? ["-shared"] : []),
    "-o",
    options.out,
    ...options.sources,
    ...(options.flags ?? []),
  ];
}

/**
 * Compiles Windows x64 or x86 code with mingw-w64 (UCRT). The result
 * appears at `options.out` whole or not at all: the compiler writes it in
 * a directory of its own beside `out` (same name, so a DLL's export
 * directory names it as ever), and it is renamed into place when the
 * compiler succeeds. A build killed halfway leaves no truncated file, newer
 * than its sources, where the next build would take it for up to date;
 * two builds of the same output at once each rename a whole file.
 */
export async function compile(options: CompileOptions): Promise<FileFacts> {
  return await compileWith(options, runCompiler);
}

/** Runs a compiler command line; returns its exit code (127: not found). */
export type CompilerRunner = (args: string[]) => Promise<number>;

async function runCompiler(args: string[]): Promise<number> {
  if (!isWindows) {
    return await runInEnv(["sh", "-c", 'exec "$@"', "sh", ...args], {
      cwd: repoRoot(),
      noWine: true,
    });
  }
  try {
    // spawned, its messages on our stdout and stderr (output() would
    // collect them unseen, and CompileError says they are above)
    return (await new Deno.Command(args[0], {
      args: args.slice(1),
      stdout: "inherit",
      stderr: "inherit",
    }).spawn().status).code;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return 127;
    throw e;
  }
}

/** {@linkcode compile} with the compiler run by `run` (tests). */
export async function compileWith(
  options: CompileOptions,
  run: CompilerRunner,
): Promise<FileFacts> {
  const out = options.out;
  const dir = dirOf(out);
  await Deno.mkdir(dir, { recursive: true });
  await removeAbandoned(dir);
  const staging = await Deno.makeTempDir({ dir, prefix: ".build-" });
  try {
    const made = `${staging}/${out.slice(out.lastIndexOf("/") + 1)}`;
    const args = mingwArgs({ ...options, out: made });
    if (options.verbose) console.error(`$ ${args.join(" ")}`);
    const code = await run(args);
    if (code !== 0) throw new CompileError(out, code, args[0]);
    // what this build wrote (another may replace it right after)
    const facts = fileFacts(made);
    await Deno.rename(made, out);
    return facts;
  } finally {
    await Deno.remove(staging, { recursive: true }).catch(() => {});
  }
}

/** How old a `.build-*` directory must be to count as a killed build's. */
const ABANDONED_MS = 24 * 3600 * 1000;

/**
 * Removes the staging directories (`PREFIX*`) of builds killed in `dir`:
 * those a day old (a build running now has a newer one).
 */
export async function removeAbandoned(
  dir: string,
  prefix = ".build-",
): Promise<void> {
  for (const e of Deno.readDirSync(dir)) {
    if (!e.isDirectory || !e.name.startsWith(prefix)) continue;
    const p = `${dir}/${e.name}`;
    let t: number;
    try {
      t = Deno.statSync(p).mtime?.getTime() ?? Date.now();
    } catch {
      continue; // another build (of another output there) removed it first
    }
    if (Date.now() - t > ABANDONED_MS) {
      await Deno.remove(p, { recursive: true }).catch(() => {});
    }
  }
}

/**
 * Whether `out` is missing or older than any of `inputs`. (Times only: a
 * file put back with an older time, or a changed compiler, goes unseen;
 * {@linkcode isCurrent} compares contents.)
 */
export function isStale(out: string, inputs: string[]): boolean {
  let outTime: number;
  try {
    outTime = Deno.statSync(out).mtime?.getTime() ?? 0;
  } catch {
    return true;
  }
  return inputs.some((f) => (Deno.statSync(f).mtime?.getTime() ?? 0) > outTime);
}

async function sha256(data: Uint8Array | string): Promise<string> {
  const bytes = typeof data === "string"
    ? new TextEncoder().encode(data)
    : data;
  const d = await crypto.subtle.digest("SHA-256", bytes as BufferSource);
  return [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, "0"))
    .join("");
}

/**
 * A digest of what an output is built from: each file's name and
 * contents (in the order given) and `extra` (flags, the compiler's
 * identity, …). A missing file is an error naming it.
 */
export async function inputsDigest(
  files: readonly string[],
  extra: readonly string[] = [],
): Promise<string> {
  const parts: string[] = [];
  for (const f of files) {
    parts.push(`${f}\0${await sha256(await Deno.readFile(f))}`);
  }
  return await sha256(
    JSON.stringify({ files: parts, extra: [...extra] }),
  );
}

/** Where the record of `out`'s build is kept: `.NAME.stamp` beside it. */
export function stampPath(out: string): string {
  const i = out.lastIndexOf("/");
  return `${out.slice(0, i + 1)}.${out.slice(i + 1)}.stamp`;
}

/** A built file as its stamp knows it: a rename keeps all three. */
export interface FileFacts {
  size: number;
  /** Modification time, ms. */
  mtime: number;
  /**
   * The file's number on its file system (0 where Deno has none): two
   * builds of one size within one tick of the file system's clock differ
   * only there.
   */
  ino: number;
}

interface Stamp extends FileFacts {
  inputs: string;
}

/** `path`'s size and time; throws when it is not there. */
export function fileFacts(path: string): FileFacts {
  const st = Deno.statSync(path);
  return { size: st.size, mtime: st.mtime?.getTime() ?? 0, ino: st.ino ?? 0 };
}

function outputFacts(out: string): FileFacts | null {
  try {
    return fileFacts(out);
  } catch {
    return null;
  }
}

/**
 * Whether `out` is the file a build from inputs of digest `inputs` wrote
 * (its stamp says so, and it is still the file of that size and time
 * that the build left: not replaced, not truncated, not another build's
 * output since).
 */
export async function isCurrent(out: string, inputs: string): Promise<boolean> {
  const facts = outputFacts(out);
  if (!facts) return false;
  let stamp: Stamp;
  try {
    // the record is the last line (lines of the caller's come first)
    const lines = (await Deno.readTextFile(stampPath(out))).trim().split("\n");
    stamp = JSON.parse(lines[lines.length - 1]);
  } catch {
    return false;
  }
  return stamp.inputs === inputs && stamp.size === facts.size &&
    stamp.mtime === facts.mtime && stamp.ino === facts.ino;
}

/**
 * Records that the file a build put at `out` (`built`: its facts as that
 * build wrote it, before the rename; default: `out` as it is now) was
 * built from inputs of digest `inputs`. If another build has replaced it
 * since, the facts differ and the stamp does not hold. Written whole
 * (temporary file, then rename).
 */
export async function writeStamp(
  out: string,
  inputs: string,
  built?: FileFacts,
  /** Lines for other readers, before the record (which is the last). */
  header: readonly string[] = [],
): Promise<void> {
  const facts = built ?? outputFacts(out);
  if (!facts) throw new Error(`no ${out} to record`);
  const path = stampPath(out);
  const tmp = `${path}.${crypto.randomUUID()}.tmp`;
  await Deno.writeTextFile(
    tmp,
    [...header, JSON.stringify({ inputs, ...facts } satisfies Stamp), ""]
      .join("\n"),
  );
  await Deno.rename(tmp, path);
}

/**
 * The mingw-w64 packages (name and version) in a Debian dpkg `status`
 * file: the compilers, binutils, headers and import libraries a build
 * uses. Sorted, one a line.
 */
export function mingwPackages(status: string): string {
  const found: string[] = [];
  for (const para of status.split(/\n\n+/)) {
    const name = /^Package: (\S+)$/m.exec(para)?.[1];
    const version = /^Version: (\S+)$/m.exec(para)?.[1];
    const installed = /^Status: .* installed$/m.test(para);
    if (name && version && installed && /mingw/.test(name)) {
      found.push(`${name} ${version}`);
    }
  }
  return found.sort().join("\n");
}

/**
 * What identifies the mingw compiler a build runs (part of a build's
 * inputs: an upgraded compiler rebuilds): off Windows, the versions of the
 * environment's mingw-w64 packages ("" before it is provisioned); on
 * Windows, the compiler's `--version` ("" when it cannot be run).
 */
export async function mingwIdentity(arch: Arch = "x64"): Promise<string> {
  if (!isWindows) {
    const status = await Deno.readTextFile(
      `${rootfsDir()}/var/lib/dpkg/status`,
    ).catch(() => "");
    return mingwPackages(status);
  }
  const [cc, ...flags] = MINGW[arch];
  try {
    const out = await new Deno.Command(cc, { args: [...flags, "--version"] })
      .output();
    return out.success ? new TextDecoder().decode(out.stdout).trim() : "";
  } catch {
    return "";
  }
}

/**
 * What {@linkcode compile} passes every build of `kind` for `arch`, with
 * no sources, output or flags of its own: part of a build's inputs.
 */
export function baseArgs(kind: "exe" | "dll", arch: Arch): string[] {
  return mingwArgs({ sources: [], out: "", kind, arch });
}

function dirOf(path: string): string {
  const i = path.lastIndexOf("/");
  return i <= 0 ? "." : path.slice(0, i);
}
