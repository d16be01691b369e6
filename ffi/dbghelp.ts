/**
 * Reading a PE file's imports with dbghelp's image helpers
 * (`ImageNtHeader`, `ImageDirectoryEntryToData`, `ImageRvaToVa`) over the
 * file's bytes. The helpers return pointers into our own buffer; they are
 * turned into offsets here, so nothing outside sees a pointer.
 *
 * @module
 */

import { PeFormatError } from "../pe/errors.ts";
import type { ImportedDll, ImportedSymbol } from "../pe/imports.ts";
import { fail } from "./win32_error.ts";
import { dbghelp } from "./library.ts";

/**
 * One imported DLL as dbghelp sees it: the very records of pe/'s reader,
 * so that both readers can be compared (and swapped) as they are.
 */
export type DbghelpImport = ImportedDll;

const IMAGE_DIRECTORY_ENTRY_IMPORT = 1;
const IMAGE_DIRECTORY_ENTRY_DELAY_IMPORT = 13;

/**
 * The imports of the PE file whose bytes are `image`. Throws a Win32Error
 * when dbghelp rejects the file, and a `PeFormatError` (as pe/'s reader
 * does) when the import data it points to lies outside the file.
 */
export function dbghelpImports(image: Uint8Array): DbghelpImport[] {
  try {
    return readWithDbghelp(image);
  } catch (e) {
    // A DataView read past the end: a table that runs off the file.
    if (e instanceof RangeError) {
      throw new PeFormatError(
        "import directory",
        -1,
        "runs past the end of the file",
      );
    }
    throw e;
  }
}

function readWithDbghelp(image: Uint8Array): DbghelpImport[] {
  const d = dbghelp();
  const base = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(image)));
  const offsetOf = (p: Deno.PointerValue): number | undefined =>
    p === null ? undefined : Number(BigInt(Deno.UnsafePointer.value(p)) - base);
  const view = new DataView(image.buffer, image.byteOffset, image.byteLength);

  const nt = d.ImageNtHeader(image);
  if (nt === null) fail("ImageNtHeader");
  const ntOff = offsetOf(nt)!;
  const pe32plus = view.getUint16(ntOff + 24, true) === 0x20b;
  const rva = (r: number): number => {
    const p = d.ImageRvaToVa(nt, image, r, null);
    if (p === null) fail("ImageRvaToVa");
    const off = offsetOf(p)!;
    if (off < 0 || off >= image.byteLength) {
      throw new PeFormatError(
        "RVA",
        -1,
        `0x${r.toString(16)} maps outside the file`,
      );
    }
    return off;
  };
  const cstr = (off: number): string => {
    let end = off;
    while (end < image.byteLength && image[end] !== 0) end++;
    return new TextDecoder("latin1").decode(image.subarray(off, end));
  };
  const thunks = (r: number): ImportedSymbol[] => {
    const out: ImportedSymbol[] = [];
    const size = pe32plus ? 8 : 4;
    for (let at = rva(r);; at += size) {
      const lo = view.getUint32(at, true);
      const hi = pe32plus ? view.getUint32(at + 4, true) : 0;
      if (lo === 0 && hi === 0) break;
      if ((pe32plus ? hi : lo) & 0x8000_0000) {
        out.push({ ordinal: lo & 0xffff });
      } else {
        const by = rva(lo);
        out.push({ hint: view.getUint16(by, true), name: cstr(by + 2) });
      }
    }
    return out;
  };
  const directory = (entry: number): number | undefined => {
    const size = new Uint32Array(1);
    const p = d.ImageDirectoryEntryToData(image, 0, entry, size);
    return offsetOf(p);
  };

  const out: DbghelpImport[] = [];
  const imp = directory(IMAGE_DIRECTORY_ENTRY_IMPORT);
  if (imp !== undefined) {
    for (let at = imp;; at += 20) {
      const lookup = view.getUint32(at, true);
      const name = view.getUint32(at + 12, true);
      const iat = view.getUint32(at + 16, true);
      if (name === 0 || iat === 0) break;
      out.push({
        dll: cstr(rva(name)),
        kind: "static",
        symbols: thunks(lookup || iat),
        descriptorOffset: at,
        nameRva: name,
        iatRva: iat,
        lookupRva: lookup,
        timeDateStamp: view.getUint32(at + 4, true),
      });
    }
  }
  const delay = directory(IMAGE_DIRECTORY_ENTRY_DELAY_IMPORT);
  if (delay !== undefined) {
    for (let at = delay;; at += 32) {
      let name = view.getUint32(at + 4, true);
      if (name === 0) break;
      let iat = view.getUint32(at + 12, true);
      let lookup = view.getUint32(at + 16, true);
      // Attributes bit 0 clear: the Visual C++ 6 layout, with VAs (PE32).
      if ((view.getUint32(at, true) & 1) === 0 && !pe32plus) {
        const imageBase = view.getUint32(ntOff + 24 + 28, true);
        name = (name - imageBase) >>> 0;
        iat = iat ? (iat - imageBase) >>> 0 : 0;
        lookup = lookup ? (lookup - imageBase) >>> 0 : 0;
      }
      out.push({
        dll: cstr(rva(name)),
        kind: "delay",
        symbols: lookup ? thunks(lookup) : [],
        descriptorOffset: at,
        nameRva: name,
        iatRva: iat,
        lookupRva: lookup,
        timeDateStamp: view.getUint32(at + 28, true),
      });
    }
  }
  return out;
}
