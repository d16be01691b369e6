/**
 * The DLLs a program imports: dbghelp on Windows, the pure-TypeScript PE
 * reader of pe/ everywhere.
 *
 * @module
 */

import { HeapshiftError } from "./errors.ts";
import { dbghelpImports, isWindows, Win32Error } from "./ffi/mod.ts";
import {
  type ImportedDll,
  imports as peImports,
  PeFormatError,
} from "./pe/mod.ts";

/**
 * Options for {@linkcode imports}.
 *
 * @example Use the pure-TypeScript reader on Windows too
 * ```ts
 * import { imports } from "@heapshift/heapshift";
 * const dlls = await imports("C:\\games\\game.exe", { reader: "pe" });
 * ```
 */
export interface ImportsOptions {
  /**
   * Which reader: `dbghelp` (Windows only; the default there) or `pe`
   * (the pure-TypeScript reader; the default elsewhere).
   */
  reader?: "dbghelp" | "pe";
}

/**
 * Lists the DLLs the executable (or DLL) at `exePath` imports: the import
 * directory in load order, then the delay-loaded DLLs, each with its
 * functions (the same records as pe/'s reader, whichever reader is used).
 *
 * @example Does a program use the UCRT?
 * ```ts
 * import { imports } from "@heapshift/heapshift";
 * const dlls = await imports("C:\\games\\game.exe");
 * const ucrt = dlls.some((d) => /^(ucrtbase|api-ms-win-crt-)/i.test(d.dll));
 * ```
 */
export async function imports(
  exePath: string,
  options: ImportsOptions = {},
): Promise<ImportedDll[]> {
  const reader = options.reader ?? (isWindows ? "dbghelp" : "pe");
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(exePath);
  } catch (e) {
    throw new HeapshiftError(
      "not-found",
      `Cannot read the imports of ${exePath}: ${
        e instanceof Deno.errors.NotFound
          ? "no such file"
          : (e as Error).message
      }`,
      { cause: e },
    );
  }
  try {
    return reader === "dbghelp"
      ? dbghelpImports(bytes)
      : await peImports(bytes);
  } catch (e) {
    if (e instanceof Win32Error || e instanceof PeFormatError) {
      throw new HeapshiftError(
        "failed",
        `Cannot read the imports of ${exePath}: not a valid PE file (${e.message})`,
        { cause: e },
      );
    }
    throw e;
  }
}
