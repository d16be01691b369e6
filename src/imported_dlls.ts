/**
 * The DLLs a program imports, decoded by pe/: with the file's data located
 * by dbghelp's image helpers on Windows, by pe/'s own header reader
 * everywhere.
 *
 * @module
 */

import { HeapshiftError } from "./heapshift_error.ts";
import { checkOptions, checkPath, typeName } from "./_arguments.ts";
import { dbghelpImage, isWindows, Win32Error } from "../ffi/mod.ts";
import {
  bytesSource,
  FileSource,
  type ImageLocator,
  type ImportedDll,
  imports as peImports,
  PeFileError,
  PeFormatError,
  type PeHeaders,
  readAllImports,
  readHeaders,
} from "../pe/mod.ts";
import { readFailure } from "./_image_kind.ts";
import { heapshiftError, kindOf } from "./_error_kinds.ts";

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
   * Which reader: `dbghelp` (Windows only; the default there: dbghelp's
   * image helpers locate the import data) or `pe` (the pure-TypeScript
   * reader; the default elsewhere). pe/ decodes the tables either way.
   */
  reader?: "dbghelp" | "pe";
}

/**
 * Lists the DLLs the executable (or DLL) at `exePath` imports: the import
 * directory in load order, then the delay-loaded DLLs, each with its
 * functions (the same records as pe/'s reader, whichever reader is used).
 * A file that cannot be read is a `not-found`, `access-denied` or
 * `bad-path` {@linkcode HeapshiftError}, a malformed one `bad-pe`.
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
  checkPath(exePath, "read the imports");
  checkOptions(options, `read the imports of ${exePath}`);
  const reader = options.reader ?? (isWindows ? "dbghelp" : "pe");
  if (reader !== "pe" && reader !== "dbghelp") {
    throw new HeapshiftError(
      "bad-argument",
      `Cannot read the imports of ${exePath}: reader must be "pe" or "dbghelp", not ${
        typeof reader === "string" ? JSON.stringify(reader) : typeName(reader)
      }`,
    );
  }
  try {
    // dbghelp's image helpers work on the bytes in memory; the pe/ reader
    // gets the path and reads only the pages it needs.
    return reader === "dbghelp"
      ? dbghelpImports(readWhole(exePath))
      : await peImports(exePath);
  } catch (e) {
    const cannot = `Cannot read the imports of ${exePath}`;
    if (e instanceof PeFileError) {
      throw new HeapshiftError(kindOf(e)!, `${cannot}: ${e.reason}`, {
        cause: e,
      });
    }
    if (e instanceof Win32Error || e instanceof PeFormatError) {
      throw new HeapshiftError(
        "bad-pe",
        `${cannot}: not a valid PE file (${e.message})`,
        { cause: e },
      );
    }
    if (isFileError(e)) {
      throw new HeapshiftError(
        e instanceof Deno.errors.NotFound
          ? "not-found"
          : e instanceof Deno.errors.PermissionDenied
          ? "access-denied"
          : "bad-path",
        `${cannot}: ${readFailure(exePath, e)}`,
        { cause: e },
      );
    }
    throw heapshiftError(e);
  }
}

/** The imports of the PE file `image`, located by dbghelp. */
function dbghelpImports(image: Uint8Array): ImportedDll[] {
  const src = bytesSource(image);
  return readAllImports(src, dbghelpLocator(image, readHeaders(src)));
}

/**
 * dbghelp's directories and RVA mapping over `image`; the format and image
 * base are the headers' (`h`). Data may run to the end of the file, which
 * is all dbghelp says of a section.
 */
function dbghelpLocator(image: Uint8Array, h: PeHeaders): ImageLocator {
  const dbg = dbghelpImage(image);
  const size = image.length;
  const offsetOf = (rva: number): number | undefined => {
    const off = dbg.rvaToOffset(rva);
    return off !== undefined && off >= 0 && off < size ? off : undefined;
  };
  return {
    format: h.format,
    imageBase: h.imageBase,
    directory(index, table) {
      const dir = dbg.directory(index);
      if (!dir) return undefined;
      if (dir.offset < 0 || dir.offset + table.entry > size) {
        throw new PeFormatError(
          table.field,
          -1,
          "runs past the end of the file",
        );
      }
      return { offset: dir.offset, available: size - dir.offset };
    },
    map(rva, length, field, fieldOffset = -1) {
      const off = offsetOf(rva);
      if (off === undefined || off + length > size) {
        throw new PeFormatError(
          field,
          fieldOffset,
          `RVA 0x${rva.toString(16)} (+${length}) maps outside the file`,
        );
      }
      return off;
    },
    bytesAt(rva) {
      const off = offsetOf(rva);
      return off === undefined ? 0 : size - off;
    },
  };
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
