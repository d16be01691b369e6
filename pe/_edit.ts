// Helpers shared by the patch and remove edits (internal).

import { PePatchError } from "./errors.ts";
import {
  DIR,
  directory,
  OPT,
  type PeHeaders,
  type Section,
} from "./headers.ts";
import type { ImportedDll } from "./imports.ts";
import type { PeInfo } from "./reader.ts";
import type { ByteSource } from "./source.ts";
import { Output } from "./_output.ts";
import { put32 } from "./_read.ts";
import { rawStart, sectionSize } from "./_rva.ts";

/** Bytes of a string of one-byte characters. */
export function ascii(s: string): Uint8Array {
  const b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i);
  return b;
}

/** DLL names compare case-insensitively, as on Windows. */
export function sameDll(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

/**
 * What Windows' loader makes writable while it binds an image that names
 * no IAT directory: the whole section holding the import directory
 * (matched by its raw size, sized by its virtual size or else its raw
 * one, as ReactOS' LdrpSnapIAT does). An image whose import directory
 * moves out of that section must name it as its IAT, or its IATs there
 * (read-only ones too) are written unprotected. Undefined with an IAT
 * directory, no imports, or no such section.
 */
export function loaderIatRange(
  h: PeHeaders,
): { rva: number; size: number } | undefined {
  const imp = directory(h, DIR.IMPORT).rva;
  if (directory(h, DIR.IAT).rva !== 0 || imp === 0) return undefined;
  const s = h.sections.find((s) =>
    imp >= s.virtualAddress && imp < s.virtualAddress + s.sizeOfRawData
  );
  return s && { rva: s.virtualAddress, size: s.virtualSize || s.sizeOfRawData };
}

/**
 * Unbinds import descriptor `d`, a copy of which is at `at` in `b`: its
 * TimeDateStamp and ForwarderChain zeroed, the loader resolves it from its
 * names (an edit that drops the bound import directory does). A bound one
 * without a lookup table has lost its names: it keeps its bound addresses,
 * with a warning.
 */
export function unbind(
  b: Uint8Array,
  at: number,
  d: { descriptor: ImportedDll; warnings: string[] },
): void {
  const { descriptor, warnings } = d;
  if (descriptor.timeDateStamp === 0) return;
  if (descriptor.lookupRva === 0) {
    warnings.push(
      `${descriptor.dll} is bound but has no lookup table; it keeps its bound addresses`,
    );
    return;
  }
  put32(b, at + 4, 0); // TimeDateStamp
  put32(b, at + 8, 0); // ForwarderChain
}

/**
 * Refuses an edit of a file with a section whose raw data starts in the
 * headers (a packer's layout, which Windows loads): that section holds
 * header bytes in memory, the file's first sector or more, and every edit
 * rewrites header fields (the checksum at least), which would change it.
 * One at offset 0 holds zeros instead, and is refused too.
 */
export function checkRawOutsideHeaders(
  h: PeHeaders,
  say: { edit: string; instead: string },
): void {
  const s = h.sections.find((s) =>
    s.sizeOfRawData > 0 && rawStart(h, s) < h.sizeOfHeaders
  );
  if (!s) return;
  // PointerToRawData 0 is no raw data to Windows (demand-zero pages): no
  // header bytes, but the edits' moves would give it some.
  if (s.pointerToRawData === 0) {
    throw new PePatchError(
      `section ${s.index} (${JSON.stringify(s.name)}) has 0x${
        s.sizeOfRawData.toString(16)
      } bytes of raw data at file offset 0, which Windows does not read: it fills the section with zeros, and ${say.edit} that moves section data would give it file bytes instead. ${say.instead}`,
    );
  }
  throw new PePatchError(
    `section ${s.index} (${JSON.stringify(s.name)}) has its raw data at 0x${
      s.pointerToRawData.toString(16)
    }, inside the headers (SizeOfHeaders 0x${
      h.sizeOfHeaders.toString(16)
    }), as packers lay files out: Windows maps those header bytes into the section, so ${say.edit} that rewrites the headers would change the program. ${say.instead}`,
  );
}

/** Whether `rva` lies in section `s` in memory. */
export function rvaIn(s: Section, rva: number): boolean {
  return rva >= s.virtualAddress &&
    rva < s.virtualAddress + sectionSize(s);
}

/**
 * Shared tail of most edits: the checksum of the input `h` describes is
 * updated for what changed. One that was right stays right and 0 (none)
 * stays 0, without reading the unchanged bytes; one that cannot be right
 * (below the file's length, or more than 0xffff above) is computed anew.
 */
export function finish(out: Output, h: PeHeaders): void {
  if (h.checksum === 0) return;
  const at = h.optionalHeaderOffset + OPT.CHECKSUM;
  const folded = h.checksum - h.fileSize;
  out.checksum = folded >= 0 && folded <= 0xffff
    ? { kind: "update", at, folded }
    : { kind: "full", at };
}

/** Sets data directory `index` (which must exist unless set to zero). */
export function setDir(
  out: Output,
  h: PeHeaders,
  dir: { index: number; rva: number; size: number },
): void {
  if (dir.index >= h.dataDirectories.length) {
    if (dir.rva === 0 && dir.size === 0) return;
    throw new PePatchError(
      `its optional header has ${h.dataDirectories.length} data directories (NumberOfRvaAndSizes), too few for directory ${dir.index}; a normal Windows program has 16`,
    );
  }
  out.put32(h.dataDirectoryOffset + dir.index * 8, dir.rva);
  out.put32(h.dataDirectoryOffset + dir.index * 8 + 4, dir.size);
}

/**
 * Any edit invalidates an Authenticode signature: its directory is cleared
 * (the caller does that) and the certificate bytes are dropped when they
 * end the file. Returns the end of the input bytes to keep.
 */
export function certificatePlan(info: PeInfo, warnings: string[]): number {
  const cert = info.certificate;
  const damaged = info.damagedCertificate;
  if (damaged) {
    warnings.push(
      damaged.cutShort
        ? "the file's signature was cut short (an interrupted download?); it was removed"
        : "the signature entry does not fit the file; it was cleared (the bytes it pointed to stay)",
    );
    // A cut signature ends the file, as a whole one would.
    if (damaged.cutShort) return damaged.offset;
  }
  if (!cert) return info.headers.fileSize;
  warnings.push(
    "the file was signed (Authenticode); patching invalidates the signature, so it was removed — re-sign the output if needed",
  );
  return cert.offset + cert.size === info.headers.fileSize
    ? cert.offset
    : info.headers.fileSize;
}

/**
 * A copy of the input (described by `edit.info`) up to the kept end, with
 * editable headers and the signature cleared; a warning is added to
 * `edit.warnings` when there was one.
 */
export function editableCopy(
  src: ByteSource,
  edit: { info: PeInfo; warnings: string[] },
): Output {
  const { info, warnings } = edit;
  const h = info.headers;
  const end = certificatePlan(info, warnings);
  const out = new Output();
  out.literal(src.read(0, h.sizeOfHeaders).slice());
  out.copy(h.sizeOfHeaders, end - h.sizeOfHeaders);
  setDir(out, h, { index: DIR.SECURITY, rva: 0, size: 0 });
  return out;
}

/**
 * Rewrites every file offset stored in the headers and debug directory
 * after bytes moved: `at` maps an input offset to an output offset.
 * Section `skip` (being removed) is left alone.
 */
export function moveFileOffsets(
  out: Output,
  info: PeInfo,
  move: { at: (o: number) => number; skip?: Section },
): void {
  const h = info.headers;
  const { at } = move;
  for (const s of h.sections) {
    if (s === move.skip) continue;
    const ho = s.headerOffset;
    if (s.sizeOfRawData > 0) out.put32(ho + 20, at(s.pointerToRawData));
    // PointerToRelocations and PointerToLinenumbers (obsolete in images).
    for (const f of [24, 28]) {
      const v = out.u32(ho + f);
      if (v !== 0) out.put32(ho + f, at(v));
    }
  }
  if (h.pointerToSymbolTable !== 0) {
    out.put32(h.peOffset + 12, at(h.pointerToSymbolTable));
  }
  for (const d of info.debug) {
    if (d.pointerToRawData !== 0) {
      out.put32(at(d.entryOffset) + 24, at(d.pointerToRawData));
    }
  }
}
