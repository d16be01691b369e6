// Helpers shared by the patch and remove edits (internal).

import { peChecksum } from "./checksum.ts";
import { PePatchError } from "./errors.ts";
import { DIR, OPT, type PeHeaders, type Section } from "./headers.ts";
import type { PeInfo } from "./reader.ts";
import { put32, u32 } from "./_read.ts";

/** Bytes of an ASCII string. */
export function ascii(s: string): Uint8Array {
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

/** DLL names compare case-insensitively, as on Windows. */
export function sameDll(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

/** Whether `rva` lies in section `s` in memory. */
export function rvaIn(s: Section, rva: number): boolean {
  return rva >= s.virtualAddress &&
    rva < s.virtualAddress + Math.max(s.virtualSize, s.sizeOfRawData);
}

/** Shared tail of every edit: recompute the checksum. */
export function finish(out: Uint8Array, h: PeHeaders): Uint8Array {
  const sum = peChecksum(out, h.optionalHeaderOffset + OPT.CHECKSUM);
  put32(out, h.optionalHeaderOffset + OPT.CHECKSUM, sum);
  return out;
}

/** Sets data directory `index` (which must exist unless set to zero). */
export function setDir(
  out: Uint8Array,
  h: PeHeaders,
  dir: { index: number; rva: number; size: number },
): void {
  if (dir.index >= h.dataDirectories.length) {
    if (dir.rva === 0 && dir.size === 0) return;
    throw new PePatchError(`the header has no data directory ${dir.index}`);
  }
  put32(out, h.dataDirectoryOffset + dir.index * 8, dir.rva);
  put32(out, h.dataDirectoryOffset + dir.index * 8 + 4, dir.size);
}

/**
 * Any edit invalidates an Authenticode signature: its directory is cleared
 * (the caller does that) and the certificate bytes are dropped when they
 * end the file. Returns the end of the input bytes to keep.
 */
export function certificatePlan(info: PeInfo, warnings: string[]): number {
  const cert = info.certificate;
  if (!cert) return info.headers.fileSize;
  warnings.push(
    "the file was signed (Authenticode); patching invalidates the signature, so it was removed — re-sign the output if needed",
  );
  return cert.offset + cert.size === info.headers.fileSize
    ? cert.offset
    : info.headers.fileSize;
}

/**
 * Copies `input` (described by `edit.info`) up to the kept end with the
 * signature cleared; a warning is added to `edit.warnings` when one was.
 */
export function editableCopy(
  input: Uint8Array,
  edit: { info: PeInfo; warnings: string[] },
): Uint8Array {
  const { info, warnings } = edit;
  const out = input.slice(0, certificatePlan(info, warnings));
  setDir(out, info.headers, { index: DIR.SECURITY, rva: 0, size: 0 });
  return out;
}

/**
 * Rewrites every file offset stored in the headers and debug directory
 * after bytes moved: `at` maps an input offset to an output offset.
 * Section `skip` (being removed) is left alone.
 */
export function moveFileOffsets(
  out: Uint8Array,
  info: PeInfo,
  move: { at: (o: number) => number; skip?: Section },
): void {
  const h = info.headers;
  const { at } = move;
  for (const s of h.sections) {
    if (s === move.skip) continue;
    const ho = s.headerOffset;
    if (s.sizeOfRawData > 0) put32(out, ho + 20, at(s.pointerToRawData));
    // PointerToRelocations and PointerToLinenumbers (obsolete in images).
    for (const f of [24, 28]) {
      const v = u32(out, ho + f);
      if (v !== 0) put32(out, ho + f, at(v));
    }
  }
  if (h.pointerToSymbolTable !== 0) {
    put32(out, h.peOffset + 12, at(h.pointerToSymbolTable));
  }
  for (const d of info.debug) {
    if (d.pointerToRawData !== 0) {
      put32(out, at(d.entryOffset) + 24, at(d.pointerToRawData));
    }
  }
}
