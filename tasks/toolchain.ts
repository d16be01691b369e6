/**
 * Compiling Windows binaries, x64 or x86 (32-bit): mingw-w64 GCC against
 * the UCRT, in the Wine environment on Linux (or on PATH on Windows). MSVC
 * support for the hook DLL lives in build_dll.ts, which is the only thing
 * that needs it.
 *
 * @module
 */

import { isWindows, repoRoot, runInEnv } from "./winenv.ts";

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
  constructor(out: string, code: number) {
    super(`Cannot build ${out}: the compiler exited with ${code}`);
    this.code = code;
  }
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

/** Compiles Windows x64 or x86 code with mingw-w64 (UCRT). */
export async function compile(options: CompileOptions): Promise<void> {
  const args = mingwArgs(options);
  await Deno.mkdir(dirOf(options.out), { recursive: true });
  if (options.verbose) console.error(`$ ${args.join(" ")}`);
  const code = isWindows
    ? (await new Deno.Command(args[0], { args: args.slice(1) }).output()).code
    : await runInEnv(["sh", "-c", 'exec "$@"', "sh", ...args], {
      cwd: repoRoot(),
      noWine: true,
    });
  if (code !== 0) throw new CompileError(options.out, code);
}

/** Whether `out` is missing or older than any of `inputs`. */
export function isStale(out: string, inputs: string[]): boolean {
  let outTime: number;
  try {
    outTime = Deno.statSync(out).mtime?.getTime() ?? 0;
  } catch {
    return true;
  }
  return inputs.some((f) => (Deno.statSync(f).mtime?.getTime() ?? 0) > outTime);
}

function dirOf(path: string): string {
  const i = path.lastIndexOf("/");
  return i <= 0 ? "." : path.slice(0, i);
}
