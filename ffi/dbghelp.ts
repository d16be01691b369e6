/**
 * dbghelp's image helpers over a PE file's bytes: where its NT headers and
 * data directories are, and the file offset of an RVA (`ImageNtHeader`,
 * `ImageDirectoryEntryToData`, `ImageRvaToVa`). The helpers return
 * pointers into our own buffer; they are turned into offsets here, so
 * nothing outside sees a pointer. What the bytes there mean is decoded by
 * pe/, not here.
 *
 * @module
 */

import { fail } from "./win32_error.ts";
import { dbghelp } from "./library.ts";

/** Where dbghelp finds a data directory's data. */
export interface DbghelpDirectory {
  /** File offset of the data. */
  offset: number;
  /** Its size, as the data directory says. */
  size: number;
}

/** A PE file's bytes as dbghelp's image helpers see them. */
export interface DbghelpImage {
  /** File offset of the NT headers (`ImageNtHeader`). */
  readonly ntHeaders: number;
  /**
   * Data directory `entry` (`ImageDirectoryEntryToData`), or `undefined`
   * when the file has none.
   */
  directory(entry: number): DbghelpDirectory | undefined;
  /**
   * The file offset of `rva` (`ImageRvaToVa`), or `undefined` when no
   * section maps it to the file.
   */
  rvaToOffset(rva: number): number | undefined;
}

/**
 * dbghelp's view of the PE file whose bytes are `image` (which must not
 * change while the result is used). Throws a Win32Error when
 * `ImageNtHeader` rejects the bytes.
 */
export function dbghelpImage(image: Uint8Array): DbghelpImage {
  const d = dbghelp();
  const base = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(image)));
  const offsetOf = (p: Deno.PointerValue): number | undefined =>
    p === null ? undefined : Number(BigInt(Deno.UnsafePointer.value(p)) - base);
  const nt = d.ImageNtHeader(image);
  if (nt === null) fail("ImageNtHeader");
  return {
    ntHeaders: offsetOf(nt)!,
    directory(entry) {
      const size = new Uint32Array(1);
      const offset = offsetOf(
        d.ImageDirectoryEntryToData(image, 0, entry, size),
      );
      return offset === undefined ? undefined : { offset, size: size[0] };
    },
    rvaToOffset: (rva) => offsetOf(d.ImageRvaToVa(nt, image, rva, null)),
  };
}
