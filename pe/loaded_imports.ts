/**
 * Putting DLLs first in a loaded image's import table (Detours'
 * UpdateImports, as `DetourCreateProcessWithDlls` does to a suspended
 * process): a new descriptor array, ours followed by the original ones,
 * in a block outside the image; the headers then point at it and name no
 * bound imports. Pure: it reads the image through a
 * {@linkcode mappedSource} and returns the bytes to write. PE32 and PE32+.
 *
 * @module
 */

import { PeFormatError } from "./errors.ts";
import { DIR, directory, OPT, type PeHeaders } from "./headers.ts";
import { readMappedHeaders } from "./mapped.ts";
import { loaderIatRange } from "./_edit.ts";
import { alignUp, need, put32, put64, u32 } from "./_read.ts";
import type { ByteSource } from "./source.ts";

/** A DLL to import first: its path (ASCII) and an ordinal it exports. */
export interface FirstImport {
  /** What the loader loads: a full path or a file name, plain ASCII. */
  path: string;
  /** An ordinal the DLL exports (the import names one function). */
  ordinal: number;
}

/** Bytes to write at an RVA of the image. */
export interface ImageWrite {
  /** Where in the image the bytes go. */
  rva: number;
  /** The bytes. */
  bytes: Uint8Array;
}

/** The rewrite, once the new block has an address. */
export interface PlacedImports {
  /** The new block's contents (descriptors, lookup tables, IAT, names). */
  block: ImageWrite;
  /** The changed header bytes (the NT headers' data directories, checksum). */
  headers: ImageWrite;
}

/** A planned rewrite: allocate `size` bytes, then `place` them. */
export interface FirstImportsPlan {
  /** `PE32` or `PE32+`: the width of the thunks. */
  format: PeHeaders["format"];
  /** Bytes the new block needs. */
  size: number;
  /** Where the image ends (the block goes above, within 4 GiB of its base). */
  sizeOfImage: number;
  /** Builds the block for `rva` (above SizeOfImage) and the header changes. */
  place(rva: number): PlacedImports;
}

/** Most descriptors read before the table counts as runaway. */
const MAX_DESCRIPTORS = 4096;
const DESC = 20;

/** The original import descriptors, up to their null terminator. */
function descriptors(src: ByteSource, h: PeHeaders): Uint8Array[] {
  const importRva = directory(h, DIR.IMPORT).rva;
  const out: Uint8Array[] = [];
  if (importRva === 0) return out;
  for (let i = 0;; i++) {
    if (i === MAX_DESCRIPTORS) {
      throw new PeFormatError(
        "IMAGE_IMPORT_DESCRIPTOR[]",
        importRva,
        `no terminator within ${MAX_DESCRIPTORS} descriptors`,
      );
    }
    const at = importRva + DESC * i;
    const d = need(src, at, DESC, `IMAGE_IMPORT_DESCRIPTOR[${i}]`).slice();
    if (u32(d, 12) === 0 && u32(d, 16) === 0) return out; // Name, FirstThunk
    out.push(d);
  }
}

/**
 * Plans putting `dlls` first in the import table of the loaded image read
 * by `src` (a {@linkcode mappedSource}). Each is imported by ordinal.
 */
export function planFirstImports(
  src: ByteSource,
  dlls: FirstImport[],
): FirstImportsPlan {
  const h = readMappedHeaders(src);
  if (h.dataDirectories.length <= DIR.IAT) {
    throw new PeFormatError(
      "IMAGE_OPTIONAL_HEADER.NumberOfRvaAndSizes",
      h.dataDirectoryOffset - 4,
      `${h.dataDirectories.length} directories: no room for the IAT one`,
    );
  }
  const old = descriptors(src, h);
  const thunk = h.format === "PE32+" ? 8 : 4;
  const names = dlls.map((d) => {
    if (!/^[\x20-\x7e]+$/.test(d.path)) {
      throw new RangeError(`import name ${d.path} is not plain ASCII`);
    }
    return new TextEncoder().encode(`${d.path}\0`);
  });
  const descBytes = DESC * (dlls.length + old.length + 1);
  const thunksAt = alignUp(descBytes, 8);
  // Per DLL: a lookup table and an IAT of one entry and a terminator each.
  const perDll = 4 * thunk;
  const stringsAt = thunksAt + perDll * dlls.length;
  const size = stringsAt + names.reduce((n, s) => n + alignUp(s.length, 8), 0);
  const headerEnd = h.dataDirectoryOffset + 8 * h.dataDirectories.length;

  const place = (rva: number): PlacedImports => {
    if (rva < h.sizeOfImage || rva + size > MAX_RVA) {
      throw new RangeError(
        `block RVA 0x${
          rva.toString(16)
        } is not between the image's end and 4 GiB`,
      );
    }
    const block = new Uint8Array(size);
    const putThunk = (at: number, ordinal: number) =>
      thunk === 8
        ? put64(block, at, 0x8000_0000_0000_0000n | BigInt(ordinal))
        : put32(block, at, (0x8000_0000 | ordinal) >>> 0);
    let str = stringsAt;
    dlls.forEach((d, i) => {
      const lookup = thunksAt + perDll * i;
      const iat = lookup + 2 * thunk;
      putThunk(lookup, d.ordinal);
      putThunk(iat, d.ordinal);
      put32(block, DESC * i + 0, rva + lookup); // OriginalFirstThunk
      put32(block, DESC * i + 12, rva + str); // Name
      put32(block, DESC * i + 16, rva + iat); // FirstThunk
      block.set(names[i], str);
      str += alignUp(names[i].length, 8);
    });
    old.forEach((d, i) => block.set(d, DESC * (dlls.length + i)));

    const headers = src.read(h.peOffset, headerEnd - h.peOffset).slice();
    const dir = (i: number) => h.dataDirectoryOffset - h.peOffset + 8 * i;
    if (directory(h, DIR.IAT).rva === 0) {
      // The loader would look for the section holding the import
      // directory; ours is in none, so name an IAT (as Detours does): the
      // original import section, or with no imports before, the block.
      const iat = loaderIatRange(h) ?? { rva, size };
      put32(headers, dir(DIR.IAT), iat.rva);
      put32(headers, dir(DIR.IAT) + 4, iat.size);
    }
    put32(headers, dir(DIR.IMPORT), rva);
    put32(headers, dir(DIR.IMPORT) + 4, descBytes);
    put64(headers, dir(DIR.BOUND_IMPORT), 0n);
    put32(headers, h.optionalHeaderOffset - h.peOffset + OPT.CHECKSUM, 0);
    return {
      block: { rva, bytes: block },
      headers: { rva: h.peOffset, bytes: headers },
    };
  };
  return { format: h.format, size, sizeOfImage: h.sizeOfImage, place };
}

/** RVAs are 32-bit. */
const MAX_RVA = 0xffff_ffff;
