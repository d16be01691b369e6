/**
 * Parts of the file outside the mapped sections, and fields that hold file
 * offsets (which move when the patcher inserts bytes): the overlay, the COFF
 * symbol table, the certificate table and the debug directory.
 *
 * @module
 */

import { PeFormatError } from "./errors.ts";
import { DIR, directory, endOfSectionData, type PeHeaders } from "./headers.ts";
import { mapRva } from "./_rva.ts";
import { u32 } from "./_read.ts";
import type { ByteSource } from "./source.ts";

/** A range of bytes in the file. */
export interface FileRange {
  /** File offset. */
  offset: number;
  /** Length in bytes. */
  size: number;
}

/** The COFF symbol table and the string table after it. */
export interface SymbolTable extends FileRange {
  /** Number of 18-byte symbol records. */
  count: number;
  /** Size of the string table that follows (its first u32). */
  stringTableSize: number;
}

/** One IMAGE_DEBUG_DIRECTORY entry. */
export interface DebugEntry {
  /** IMAGE_DEBUG_TYPE_* (2 is CodeView). */
  type: number;
  /** Size of the debug data. */
  sizeOfData: number;
  /** RVA of the data when mapped, or 0. */
  addressOfRawData: number;
  /** File offset of the data. */
  pointerToRawData: number;
  /** File offset of this entry (to rewrite PointerToRawData). */
  entryOffset: number;
}

/** Data after the last section's raw data (installers, signatures, symbols). */
export function readOverlay(h: PeHeaders): FileRange | undefined {
  const start = endOfSectionData(h);
  return start < h.fileSize
    ? { offset: start, size: h.fileSize - start }
    : undefined;
}

/**
 * The COFF symbol table with its string table, if the header points to one
 * that the file holds. The loader never reads the pointer: UPX keeps a
 * MinGW program's as it was when it packs the sections smaller, so one
 * that does not fit the file is none, not a damaged file.
 */
export function readSymbolTable(
  src: ByteSource,
  h: PeHeaders,
): SymbolTable | undefined {
  if (h.pointerToSymbolTable === 0) return undefined;
  const strings = h.pointerToSymbolTable + h.numberOfSymbols * 18;
  if (strings + 4 > h.fileSize) return undefined;
  const size = u32(src.read(strings, 4), 0);
  if (size > 0 && (size < 4 || strings + size > h.fileSize)) return undefined;
  return {
    offset: h.pointerToSymbolTable,
    count: h.numberOfSymbols,
    stringTableSize: size,
    size: strings + Math.max(size, 4) - h.pointerToSymbolTable,
  };
}

/**
 * The Authenticode certificate table. Its directory entry holds a file
 * offset, not an RVA.
 */
export function readCertificate(h: PeHeaders): FileRange | undefined {
  const dir = directory(h, DIR.SECURITY);
  if (dir.rva === 0 && dir.size === 0) return undefined;
  if (
    dir.size < 8 || dir.rva < endOfSectionData(h) ||
    dir.rva + dir.size > h.fileSize
  ) {
    throw new PeFormatError(
      "IMAGE_DIRECTORY_ENTRY_SECURITY",
      h.dataDirectoryOffset + DIR.SECURITY * 8,
      `certificate table 0x${dir.rva.toString(16)}+0x${
        dir.size.toString(16)
      } is not inside the overlay`,
    );
  }
  return { offset: dir.rva, size: dir.size };
}

/** The debug directory entries. */
export function readDebug(src: ByteSource, h: PeHeaders): DebugEntry[] {
  const dir = directory(h, DIR.DEBUG);
  if (dir.rva === 0) return [];
  const field = "IMAGE_DEBUG_DIRECTORY";
  const count = Math.floor(dir.size / 28);
  if (count > 1024) {
    throw new PeFormatError(
      field,
      h.dataDirectoryOffset + DIR.DEBUG * 8,
      `absurd count ${count}`,
    );
  }
  const off = mapRva(
    h,
    dir.rva,
    count * 28,
    field,
    h.dataDirectoryOffset + DIR.DEBUG * 8,
  );
  const b = src.read(off, count * 28);
  const out: DebugEntry[] = [];
  for (let i = 0; i < count; i++) {
    const at = i * 28;
    const e: DebugEntry = {
      type: u32(b, at + 12),
      sizeOfData: u32(b, at + 16),
      addressOfRawData: u32(b, at + 20),
      pointerToRawData: u32(b, at + 24),
      entryOffset: off + at,
    };
    out.push(e);
  }
  return out;
}
