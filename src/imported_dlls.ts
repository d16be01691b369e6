/**
 * The DLLs a program imports: dbghelp on Windows, the pure-TypeScript PE
 * reader of pe/ everywhere.
 *
 * @module
 */

import { HeapshiftError } from "./heapshift_error.ts";
import { dbghelpImports, isWindows, Win32Error } from "../ffi/mod.ts";
import {
  FileSource,
  type ImportedDll,
  imports as peImports,
  PeFileError,
  PeFormatError,
} from "../pe/mod.ts";
import { readFailure } from "./_pe_image.ts";

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
  try {
    // dbghelp's image helpers work on the bytes in memory; the pe/ reader
    // gets the path and reads only the pages it needs.
    return reader === "dbghelp"
      ? dbghelpImports(readWhole(exePath))
      : await peImports(exePath);
  } catch (e) {
    if (e instanceof PeFileError) {
      throw new HeapshiftError(
        "not-found",
        `Cannot read the imports of ${exePath}: ${e.reason}`,
        { cause: e },
      );
    }
    if (e instanceof Win32Error || e instanceof PeFormatError) {
      throw new HeapshiftError(
        "failed",
        `Cannot read the imports of ${exePath}: not a valid PE file (${e.message})`,
        { cause: e },
      );
    }
    if (isFileError(e)) {
      throw new HeapshiftError(
        "not-found",
        `Cannot read the imports of ${exePath}: ${readFailure(exePath, e)}`,
        { cause: e },
      );
    }
    throw e;
  }
}

/** A regular file's bytes (pe/ refuses FIFOs, devices, directories). */
function readWhole(path: string): Uint8Array {
  using src = FileSource.open(path);
  const bytes = new Uint8Array(src.size);
  src.readInto(0, bytes);
  return bytes;
}

/** Whether `e` is one of Deno's file-system errors (not found, denied, …). */
function isFileError(e: unknown): boolean {
  return Object.values(Deno.errors).some((c) => e instanceof c);
}
