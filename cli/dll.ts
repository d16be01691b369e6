/**
 * Which hook DLL a command uses: `--dll PATH`, else the one matching the
 * target's architecture — the copy embedded in a compiled binary (x64),
 * else the checkout's `build/heapshift.dll` (x64) or
 * `build/heapshift32.dll` (x86), built on demand.
 *
 * @module
 */

import { type Arch, archName, archOf } from "../src/arch.ts";
import {
  FileSource,
  isDll,
  PeFileError,
  type PeHeaders,
  readHeaders,
} from "../pe/mod.ts";
import { embeddedDll, extractDll, keptCopy } from "./embed.ts";
import { CliError, progress } from "./output.ts";
import { isWindows } from "../ffi/mod.ts";
import { exists, isDir, isFile } from "../src/_paths.ts";
import { dllSourcesDigest, MIMALLOC_TREES } from "../src/_dll_sources.ts";
import { repoPath, repoRoot } from "../src/_repo.ts";
import { systemRoot } from "../src/_system_dll.ts";
import { wow64Path } from "../src/_wow64_path.ts";
import { runTask } from "./run_task.ts";
import { underWine } from "./wine_bridge.ts";

export type { Arch };

/** The hook DLL's file name for each architecture. */
export const HOOK_DLL: Readonly<Record<Arch, string>> = {
  x64: "heapshift.dll",
  x86: "heapshift32.dll",
};

/** `64-bit` / `32-bit`, for messages about the hook DLL. */
const BITS: Readonly<Record<Arch, string>> = { x64: "64-bit", x86: "32-bit" };

/**
 * `dlls` (resolved `--dll` paths) with each file once, the first spelling
 * kept: a DLL given twice, or spelt two ways (another case on Windows, a
 * link), is loaded once and reported once: each is known by the name the
 * file system resolves it to. `options.windows`: a path that no longer
 * resolves is compared as Windows names files, in any case (default: this
 * system).
 */
export function distinctDlls(
  dlls: readonly string[],
  options: { windows?: boolean } = {},
): string[] {
  const windows = options.windows ?? isWindows;
  const seen = new Set<string>();
  return dlls.filter((dll) => {
    let key: string;
    try {
      // The file's own name, in its stored case (GetFinalPathNameByHandle):
      // two names that differ in case are two files once resolved (a
      // case-sensitive directory; toLowerCase also folds letters NTFS
      // keeps apart, such as the Kelvin sign and k).
      key = Deno.realPathSync(dll).replace(/^\\\\\?\\/, "");
    } catch {
      // resolveDll found it: gone meanwhile, launch says so
      key = windows ? dll.replace(/^\\\\\?\\/, "").toLowerCase() : dll;
    }
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/**
 * The checkout's hook DLL path for `arch` (it may not exist yet), or its
 * path in the directory `dir`.
 */
export function builtDll(arch: Arch = "x64", dir?: string): string {
  if (dir === undefined) return repoPath(`build/${HOOK_DLL[arch]}`);
  const sep = isWindows && !dir.includes("/") ? "\\" : "/";
  return `${dir.replace(/[\\/]$/, "")}${sep}${HOOK_DLL[arch]}`;
}

/** `deno task build-dll`'s arguments that build the DLL for `arch` only. */
export function buildArgs(arch: Arch): string[] {
  return arch === "x64" ? [] : ["--arch", arch];
}

/**
 * Whether the DLL can be built from here: only a checkout has
 * tasks/build_dll.ts (a compiled binary has none).
 */
export function canBuild(): boolean {
  return isFile(repoPath("tasks/build_dll.ts"));
}

/**
 * Runs `deno task build-dll` (tasks/build_dll.ts) with this Deno; its
 * output on our stdout, or (`stdout: "stderr"`) on stderr.
 */
export async function buildDll(
  args: string[] = [],
  options: { stdout?: "inherit" | "stderr" } = {},
): Promise<number> {
  if (!canBuild()) {
    throw new CliError(
      "The hook DLL is built from a checkout of heapshift (tasks/build_dll.ts), and there is none here: pass --dll PATH",
    );
  }
  if (underWine()) {
    throw new CliError(
      "The hook DLL is built on the Linux side (the mingw-w64 compiler lives in the Wine environment, not inside Wine): run `deno task build-dll` there first",
    );
  }
  return await runTask("build_dll.ts", args, {
    stdin: "null",
    stdout: options.stdout,
  });
}

/** Options for {@linkcode resolveDll}. */
export interface ResolveOptions {
  /** Build the DLL when missing (default true). */
  build?: boolean;
  /** The target's architecture (default x64): which DLL is the default. */
  arch?: Arch;
  /** Where built DLLs are (default the checkout's `build/`); for tests. */
  dir?: string;
  /** Runs the build (default {@linkcode buildDll}); for tests. */
  builder?: (args: string[]) => Promise<number>;
  /**
   * The path is to be written down for later (a Special K ini): a DLL
   * extracted from a compiled binary is copied where no prune removes it.
   */
  lasting?: boolean;
}

/** Returns the absolute path of the hook DLL to use. */
export async function resolveDll(
  explicit?: string,
  options: ResolveOptions = {},
): Promise<string> {
  if (explicit) {
    // A System32 path that only SysWOW64 fills is a 32-bit target's DLL
    // (WOW64 redirects it there): inject and launch read it there.
    if (
      !isFile(explicit) &&
      !isFile(wow64Path(absolute(explicit), systemRoot()))
    ) {
      throw new CliError(
        isDir(explicit)
          ? `Cannot use DLL ${explicit}: it is a directory; give the DLL file (for example build/heapshift.dll)`
          : `No DLL at ${explicit}`,
      );
    }
    return absolute(explicit);
  }
  const arch = options.arch ?? "x64";
  // A compiled binary embeds both (one of them if built with --dll)
  const emb = embeddedDll(arch);
  if (emb) {
    const path = absolute((await extractDll(emb)).path);
    return options.lasting ? absolute(await keptCopy(path)) : path;
  }
  if (embeddedDll(otherArch(arch))) {
    // A compiled binary: its checkout paths are inside the binary, and it
    // cannot build
    throw new CliError(
      `This heapshift binary was compiled without the ${BITS[arch]} hook DLL (${
        HOOK_DLL[arch]
      }): pass --dll PATH to one, or compile it with both (deno task compile without --dll)`,
    );
  }
  const dll = builtDll(arch, options.dir);
  const buildable = options.build !== false && canBuild() && !underWine();
  const there = isFile(dll);
  // (under Wine the Linux side has rebuilt a stale one before handing over)
  const rebuild = !there ? buildArgs(arch) : buildable && await staleBuild(dll);
  if (!rebuild) return dll;
  const task = ["deno task build-dll", ...rebuild].join(" ");
  if (!buildable) {
    throw new CliError(
      `The ${BITS[arch]} hook DLL is not built (${dll}): run \`${task}\`${
        isWindows && underWine() ? " on the Linux side" : ""
      }, or pass --dll PATH`,
    );
  }
  progress(
    there
      ? `rebuilding the ${
        BITS[arch]
      } hook DLL (${dll}), as it was built: the checkout's sources changed since…`
      : `building the ${BITS[arch]} hook DLL (${dll})…`,
  );
  // built on the side of another command: on stderr, its stdout is its
  // result (--json)
  const code = await (options.builder ??
    ((args) => buildDll(args, { stdout: "stderr" })))(rebuild);
  if (code !== 0 || !isFile(dll)) {
    throw new CliError(
      `${there ? "Rebuilding" : "Building"} the ${
        BITS[arch]
      } hook DLL (${dll}) with \`${task}\` failed (exit ${code}${
        code === 0 ? `, but ${HOOK_DLL[arch]} is not there` : ""
      }); see the build output above${
        there
          ? `, or pass --dll ${dll} to use it as it is (built from older sources)`
          : ""
      }`,
    );
  }
  progress(`built ${dll}`, { colour: "green" });
  return dll;
}

/**
 * Builds the checkout's default hook DLLs for `arches` that are missing
 * and returns their paths. On Linux a command's Windows half runs under
 * Wine, where nothing can be built, so the Linux side calls this before it
 * hands over a command that takes the default DLL: for the target's
 * architecture when the command line tells it (an exe path), else both.
 * With more than one (the target's is not known yet) a failed build is a
 * warning: the Windows half reports the DLL the target needs, if missing.
 */
export async function buildMissingDlls(
  arches: readonly Arch[],
  options: Pick<ResolveOptions, "dir" | "builder"> = {},
): Promise<string[]> {
  return await buildEach(arches, {
    ...options,
    missing: true,
    fatal: arches.length === 1,
  });
}

/**
 * Rebuilds each of the checkout's default hook DLLs for `arches` that is
 * there but built from other sources than the checkout's (a missing one is
 * left to {@linkcode resolveDll}), before `inject --wait` waits: the
 * program that appears is then injected at once, not after a build of a
 * minute or more, while it runs on. A failed rebuild is a warning (the
 * command says it again if that DLL is the one it needs).
 */
export async function rebuildStaleDlls(
  arches: readonly Arch[],
  options: Pick<ResolveOptions, "dir" | "builder"> = {},
): Promise<string[]> {
  if (!canBuild() || underWine()) return [];
  return await buildEach(arches, { ...options, missing: false, fatal: false });
}

/**
 * Builds, through {@linkcode resolveDll}, each default DLL for `arches`
 * that is stale (or, with `missing`, not there); the paths built. A
 * failure is a warning unless `fatal`.
 */
async function buildEach(
  arches: readonly Arch[],
  options: Pick<ResolveOptions, "dir" | "builder"> & {
    missing: boolean;
    fatal: boolean;
  },
): Promise<string[]> {
  const { missing, fatal, ...resolve } = options;
  const built: string[] = [];
  for (const arch of arches) {
    const dll = builtDll(arch, options.dir);
    if (isFile(dll) ? !await staleBuild(dll) : !missing) continue;
    try {
      built.push(await resolveDll(undefined, { ...resolve, arch }));
    } catch (e) {
      if (fatal || !(e instanceof CliError)) throw e;
      progress(`warning: ${e.message}`);
    }
  }
  return built;
}

/**
 * Warns of each of the checkout's default hook DLLs for `arches` that was
 * built from other sources than the checkout's (a prefix of the user's:
 * nothing is built for it, the Windows half uses the DLL as it is).
 */
export async function warnStaleDlls(
  arches: readonly Arch[],
  options: Pick<ResolveOptions, "dir"> = {},
): Promise<void> {
  for (const arch of arches) {
    const dll = builtDll(arch, options.dir);
    const args = isFile(dll) ? await staleBuild(dll) : undefined;
    if (!args) continue;
    progress(
      `warning: ${dll} was built from other sources than the checkout's (after a git pull?): run \`${
        ["deno task build-dll", ...args].join(" ")
      }\` to rebuild it`,
    );
  }
}

/**
 * The hook DLL for a target: `explicit` (`--dll`) as given, else the
 * default for the architecture `arch()` finds (asked only then: finding it
 * may open the target).
 */
export async function dllForTarget(
  explicit: string | undefined,
  arch: () => Arch | undefined,
): Promise<string> {
  return await resolveDll(explicit, explicit ? {} : { arch: arch() });
}

/**
 * The architecture of the PE file at `path` (a program or a DLL), or
 * `undefined` when it cannot be read or is of another machine (the command
 * then reports that itself).
 */
export function fileArch(path: string): Arch | undefined {
  const h = fileHeaders(path);
  return h && archOf(h.machine);
}

/** IMAGE_SUBSYSTEM_WINDOWS_CUI: a program that runs in a console. */
const CONSOLE_SUBSYSTEM = 3;

/**
 * Whether the executable at `path` is a console program (its PE header's
 * subsystem): one that gets our console's Ctrl+C. A GUI program (a game)
 * never does, so the CLI must stay interruptible while it waits for one.
 */
export function isConsoleProgram(path: string): boolean {
  return fileHeaders(path)?.subsystem === CONSOLE_SUBSYSTEM;
}

/** Whether the file at `path` is a DLL (false when it cannot be read). */
export function isDllFile(path: string): boolean {
  const h = fileHeaders(path);
  return h !== undefined && isDll(h);
}

/** The PE headers of the file at `path`; undefined if it has none. */
function fileHeaders(path: string): PeHeaders | undefined {
  try {
    using src = FileSource.open(path);
    return readHeaders(src);
  } catch {
    return undefined;
  }
}

/**
 * What is wrong with `path` as the hook DLL for `arch` (x64 or x86)
 * programs, `what` naming the target ("the program"); `otherArch` when it
 * is a DLL of the other bitness (the reason says which one it needs).
 */
function dllProblem(
  path: string,
  arch: Arch,
  what: string,
): { reason: string; otherArch?: boolean } | undefined {
  let h: PeHeaders;
  try {
    using src = FileSource.open(path);
    h = readHeaders(src);
  } catch (e) {
    return { reason: unreadablePe(path, e) };
  }
  if (!isDll(h)) return { reason: `${path} is not a DLL` };
  const own = archOf(h.machine);
  if (!own || h.format !== (own === "x64" ? "PE32+" : "PE32")) {
    return { reason: `${path} is neither an x64 nor an x86 DLL` };
  }
  if (own === arch) return undefined;
  return {
    reason: `${path} is a ${archName(own)} DLL but ${what} is ${
      archName(arch)
    }: it needs ${HOOK_DLL[arch]}`,
    otherArch: true,
  };
}

/**
 * Why `path` is not a DLL for `arch` (x64 or x86) programs, or undefined
 * when it is one; `what` names the target in the reason.
 */
export function dllFormat(
  path: string,
  arch: Arch = "x64",
  what = "the program",
): string | undefined {
  return dllProblem(path, arch, what)?.reason;
}

/** Why the PE file `path` cannot be read, naming the path once. */
export function unreadablePe(path: string, e: unknown): string {
  // A PeFileError's message names the path already; a format error's not.
  return e instanceof PeFileError
    ? e.message
    : `${path}: ${(e as Error).message}`;
}

/**
 * Throws a {@linkcode CliError} unless `dll` is a DLL for `arch` (`what`
 * names the target, e.g. `a 32-bit game`): one of the other bitness is
 * named with both, anything else (an EXE, not a PE file) with what
 * `--dll` takes.
 */
export function checkDllFor(dll: string, arch: Arch, what: string): void {
  const problem = dllProblem(dll, arch, what);
  if (!problem) return;
  throw new CliError(
    problem.otherArch
      ? problem.reason
      : `${problem.reason}: --dll takes the hook DLL, ${HOOK_DLL[arch]}`,
  );
}

/**
 * `build-dll`'s arguments that rebuild the checkout's DLL `dll` as it was
 * built (toolchain, a mimalloc tree of the user's or else the checkout's
 * of that version, `_msize`), when the record build-dll
 * wrote beside it (`.NAME.stamp`) says it was built from sources other
 * than the checkout's now (a `git pull`, an edit; or a record from before
 * the sources were recorded); undefined when they are the same, or when
 * there is no readable record (a DLL put there by hand is used as it is).
 */
export async function staleBuild(dll: string): Promise<string[] | undefined> {
  const i = Math.max(dll.lastIndexOf("/"), dll.lastIndexOf("\\"));
  let lines: string[];
  try {
    lines = (await Deno.readTextFile(
      `${dll.slice(0, i + 1)}.${dll.slice(i + 1)}.stamp`,
    )).split(/\r?\n/);
  } catch {
    return undefined;
  }
  const [toolchain, mi, version, msize, sources] = lines;
  if (!/^(mingw|msvc)$/.test(toolchain) || !/^\d+$/.test(version)) {
    return undefined;
  }
  const arch: Arch = dll.endsWith(HOOK_DLL.x86) ? "x86" : "x64";
  const major = Number(version) >= 300 ? 3 : 2;
  // A checkout's own tree (build-dll's default, --mimalloc-version) is no
  // choice of the user's: its recorded path may be gone (the checkout was
  // moved: build-dll finds the DLL up to date and leaves the record) or be
  // another checkout's (build/ copied); this checkout's tree is the one.
  const path = (mi ?? "").replaceAll("\\", "/");
  const tail = `/${MIMALLOC_TREES[major]}`;
  const own = !exists(`${mi}/src/static.c`) || (path.endsWith(tail) &&
    exists(`${path.slice(0, -tail.length)}/dll/mimalloc_unit.c`));
  const tree = own ? `${repoRoot()}/${MIMALLOC_TREES[major]}` : mi;
  const args = [
    ...buildArgs(arch),
    "--toolchain",
    toolchain,
    ...(/^(exact|usable)$/.test(msize) ? ["--msize", msize] : []),
    ...(own ? ["--mimalloc-version", String(major)] : ["--mimalloc", mi]),
  ];
  const recorded = /^sources ([0-9a-f]{64})$/.exec(sources ?? "")?.[1];
  if (!recorded || !exists(`${tree}/src/static.c`)) return args;
  try {
    return recorded === await dllSourcesDigest(repoRoot(), tree)
      ? undefined
      : args;
  } catch {
    return args; // (a source that cannot be read: the build says which)
  }
}

function absolute(path: string): string {
  if (isWindows) {
    // One separator: this path goes into a Special K ini, whose loader
    // is LoadLibrary (its docs: backslashes, not forward slashes)
    if (/^[A-Za-z]:[\\/]/.test(path) || /^[\\/]{2}/.test(path)) {
      return path.replaceAll("/", "\\");
    }
    if (path.startsWith("/") || path.startsWith("\\")) {
      return Deno.cwd().slice(0, 2) + path.replaceAll("/", "\\");
    }
    return `${Deno.cwd()}\\${path.replaceAll("/", "\\")}`;
  }
  return path.startsWith("/") ? path : `${Deno.cwd()}/${path}`;
}

export { absolute as absolutePath };

function otherArch(arch: Arch): Arch {
  return arch === "x64" ? "x86" : "x64";
}
