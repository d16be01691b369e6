/**
 * Pure byte-level patching of the import table: put a DLL first (adding it
 * in a new section, or moving it), or remove it again.
 *
 * @module
 */

import { peChecksum } from "./checksum.ts";
import { PePatchError } from "./errors.ts";
import {
  DIR,
  directory,
  endOfSectionData,
  OPT,
  type PeHeaders,
  type Section,
} from "./headers.ts";
import type { ImportedDll } from "./imports.ts";
import { type PeInfo, readPe } from "./reader.ts";
import { alignUp, put16, put32, u32 } from "./_read.ts";
import { bytesSource } from "./source.ts";

/** The DLL heapshift injects by default. */
export const DEFAULT_DLL = "heapshift.dll";
/** The harmless export of heapshift.dll that the new import names. */
export const DEFAULT_SYMBOL = "heapshift_anchor";
/** Name of the section the patcher adds. */
export const SECTION_NAME = ".hsimp";

// Start of our section: lets `removeImportBytes` undo exactly what we did.
const MAGIC = [0x48, 0x53, 0x49, 0x4d, 0x50, 0x00, 0x01, 0x00]; // "HSIMP\0" v1
const MARKER = 48;
const M = {
  IMPORT_RVA: 8,
  IMPORT_SIZE: 12,
  BOUND_RVA: 16,
  BOUND_SIZE: 20,
  INSERTED_AT: 24,
  SIZE_OF_IMAGE: 28,
  SIZE_OF_HEADERS: 32,
  HEADER_SHIFT: 36,
  FIRST_RAW: 40,
} as const;

const SCN_CNT_INITIALIZED_DATA = 0x40;
const SCN_MEM_READ = 0x40000000;
const SCN_MEM_WRITE = 0x80000000;

/** Which DLL to put first, and what to import from it. */
export interface DllOptions {
  /** DLL file name (default `heapshift.dll`). */
  dll?: string;
  /**
   * Inserted before the DLL's extension, as minject's `--postfix`:
   * `heapshift.dll` with `-debug` becomes `heapshift-debug.dll`.
   */
  postfix?: string;
}

/** Options for {@linkcode patchImportsBytes}. */
export interface PatchBytesOptions extends DllOptions {
  /**
   * The export to import from the DLL when it is added: a name (default
   * `heapshift_anchor`) or an ordinal number.
   */
  symbol?: string | number;
  /** Name of the added section, at most 8 bytes (default `.hsimp`). */
  sectionName?: string;
}

/** Options for {@linkcode removeImportBytes}. */
export interface RemoveBytesOptions extends DllOptions {
  /**
   * Remove the DLL even if heapshift did not add it (the program may then
   * fail to load if it calls into that DLL).
   */
  allowForeign?: boolean;
}

/** What a patch did. */
export interface PatchResult {
  /** The new file (the input itself when nothing changed). */
  bytes: Uint8Array;
  /** Whether `bytes` differ from the input. */
  changed: boolean;
  /**
   * `added` (new descriptor in a new section), `moved` (already imported,
   * now first), `removed`, or `unchanged` (already first / not present).
   */
  action: "added" | "moved" | "removed" | "unchanged";
  /** The DLL name acted on (with the postfix applied). */
  dll: string;
  /** Things the caller should tell the user, e.g. a stripped signature. */
  warnings: string[];
}

/** The DLL name that `options` designate (postfix applied). */
export function resolveDllName(options: DllOptions = {}): string {
  const dll = options.dll ?? DEFAULT_DLL;
  if (!options.postfix) return checkDllName(dll);
  const dot = dll.lastIndexOf(".");
  return checkDllName(
    dot > 0
      ? dll.slice(0, dot) + options.postfix + dll.slice(dot)
      : dll + options.postfix,
  );
}

function checkDllName(dll: string): string {
  if (
    !/^[\x21-\x7e][\x20-\x7e]{0,258}$/.test(dll) || /[\\/:*?"<>|]/.test(dll)
  ) {
    throw new PePatchError(`invalid DLL name ${JSON.stringify(dll)}`);
  }
  return dll;
}

function ascii(s: string): Uint8Array {
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

function sameDll(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

function hasMarker(input: Uint8Array, s: Section): boolean {
  if (s.sizeOfRawData < MARKER) return false;
  return MAGIC.every((v, i) => input[s.pointerToRawData + i] === v);
}

/** Sections whose start carries our marker. */
function ourSections(input: Uint8Array, h: PeHeaders): Section[] {
  return h.sections.filter((s) => hasMarker(input, s));
}

function rvaIn(s: Section, rva: number): boolean {
  return rva >= s.virtualAddress &&
    rva < s.virtualAddress + Math.max(s.virtualSize, s.sizeOfRawData);
}

/** Shared tail of every edit: drop the signature, fix the checksum. */
function finish(out: Uint8Array, h: PeHeaders): Uint8Array {
  const sum = peChecksum(out, h.optionalHeaderOffset + OPT.CHECKSUM);
  put32(out, h.optionalHeaderOffset + OPT.CHECKSUM, sum);
  return out;
}

function setDir(
  out: Uint8Array,
  h: PeHeaders,
  index: number,
  rva: number,
  size: number,
): void {
  if (index >= h.dataDirectories.length) {
    if (rva === 0 && size === 0) return;
    throw new PePatchError(`the header has no data directory ${index}`);
  }
  put32(out, h.dataDirectoryOffset + index * 8, rva);
  put32(out, h.dataDirectoryOffset + index * 8 + 4, size);
}

/**
 * The certificate table is dropped when it ends the file, its directory is
 * always cleared. Returns the end of the bytes to keep.
 */
function certificatePlan(info: PeInfo, warnings: string[]): number {
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
 * Puts a DLL first in the import table. If the file already imports it
 * first, nothing changes; if it imports it later, it is moved to the front
 * in place; otherwise a new section holds a rebuilt import directory whose
 * first descriptor imports one symbol of the DLL. The original import
 * address tables stay where they are, since the program's code refers to
 * them.
 *
 * Throws `PeFormatError` for malformed input and `PePatchError` when the
 * file cannot be patched this way.
 */
export function patchImportsBytes(
  input: Uint8Array,
  options: PatchBytesOptions = {},
): PatchResult {
  const dll = resolveDllName(options);
  const info = readPe(bytesSource(input));
  const h = info.headers;
  const warnings: string[] = [];
  const idx = info.imports.findIndex((d) => sameDll(d.dll, dll));
  if (idx === 0) {
    return { bytes: input, changed: false, action: "unchanged", dll, warnings };
  }
  if (idx > 0) {
    const end = certificatePlan(info, warnings);
    const out = input.slice(0, end);
    setDir(out, h, DIR.SECURITY, 0, 0);
    moveToFront(out, info.imports, idx);
    return {
      bytes: finish(out, h),
      changed: true,
      action: "moved",
      dll,
      warnings,
    };
  }
  const out = addSection(input, info, dll, options, warnings);
  return { bytes: out, changed: true, action: "added", dll, warnings };
}

function moveToFront(out: Uint8Array, list: ImportedDll[], idx: number): void {
  const base = list[0].descriptorOffset;
  const moved = out.slice(
    list[idx].descriptorOffset,
    list[idx].descriptorOffset + 20,
  );
  out.copyWithin(base + 20, base, base + idx * 20);
  out.set(moved, base);
}

function sectionEnd(s: Section): number {
  return s.virtualAddress + Math.max(s.virtualSize, s.sizeOfRawData, 1);
}

// The ordinal flag is the top bit of the thunk (bit 31 or bit 63).
function writeOrdinal(
  b: Uint8Array,
  at: number,
  ordinal: number,
  is64: boolean,
): void {
  if (is64) {
    put32(b, at, ordinal);
    put32(b, at + 4, 0x80000000);
  } else {
    put32(b, at, (0x80000000 | ordinal) >>> 0);
  }
}

function addSection(
  input: Uint8Array,
  info: PeInfo,
  dll: string,
  options: PatchBytesOptions,
  warnings: string[],
): Uint8Array {
  const h = info.headers;
  const fa = h.fileAlignment;
  const sa = h.sectionAlignment;
  if (sa < 0x1000) {
    throw new PePatchError(
      `SectionAlignment 0x${
        sa.toString(16)
      } is below the page size; such images map sections at their file offsets and are not supported`,
    );
  }
  const sectionName = options.sectionName ?? SECTION_NAME;
  if (sectionName.length > 8 || !/^[\x21-\x7e]+$/.test(sectionName)) {
    throw new PePatchError(
      `invalid section name ${JSON.stringify(sectionName)}`,
    );
  }
  const symbol = options.symbol ?? DEFAULT_SYMBOL;
  if (
    typeof symbol === "number"
      ? !Number.isInteger(symbol) || symbol < 0 || symbol > 0xffff
      : !/^[\x21-\x7e]{1,1024}$/.test(symbol)
  ) {
    throw new PePatchError(`invalid symbol ${JSON.stringify(symbol)}`);
  }

  // Layout of the new section.
  const is64 = h.format === "PE32+";
  const thunk = is64 ? 8 : 4;
  const n = info.imports.length;
  const descOff = MARKER;
  let p = descOff + (n + 2) * 20;
  p = alignUp(p, 8);
  const iltOff = p;
  p += 2 * thunk;
  const iatOff = p;
  p += 2 * thunk;
  let hintNameOff = 0;
  if (typeof symbol === "string") {
    hintNameOff = p;
    p = alignUp(p + 2 + symbol.length + 1, 2);
  }
  const dllOff = p;
  p += dll.length + 1;
  // Copies of the other DLL names: objdump only prints descriptors whose
  // name lies in the same section as the import directory.
  // The same holds for the lookup tables, so they are copied as well
  // (the IATs stay where they are).
  const nameOffs: number[] = [];
  const lookupOffs: number[] = [];
  const hintOffs: number[][] = [];
  for (const d of info.imports) {
    nameOffs.push(p);
    p += d.dll.length + 1;
  }
  for (const d of info.imports) {
    const copy = d.timeDateStamp === 0 || d.lookupRva !== 0;
    p = alignUp(p, 8);
    lookupOffs.push(copy ? p : -1);
    if (copy) p += (d.symbols.length + 1) * thunk;
  }
  for (const [i, d] of info.imports.entries()) {
    const offs: number[] = [];
    if (lookupOffs[i] >= 0) {
      for (const sym of d.symbols) {
        offs.push(sym.name === undefined ? -1 : p);
        if (sym.name !== undefined) p = alignUp(p + 2 + sym.name.length + 1, 2);
      }
    }
    hintOffs.push(offs);
  }
  const virtualSize = p;
  const rawSize = alignUp(virtualSize, fa);

  // Room for one more section header.
  const tableEnd = h.sectionTableOffset + h.sections.length * 40;
  const endSec = endOfSectionData(h);
  const firstRaw = Math.min(
    endSec,
    ...h.sections.filter((s) => s.sizeOfRawData > 0).map((s) =>
      s.pointerToRawData
    ),
  );
  const minVa = h.sections[0].virtualAddress;
  const bound = directory(h, DIR.BOUND_IMPORT);
  const boundInHeaders = bound.rva !== 0 &&
    bound.rva + bound.size <= h.sizeOfHeaders;
  for (let o = tableEnd; o < Math.min(tableEnd + 40, firstRaw); o++) {
    const inBound = boundInHeaders && o >= bound.rva &&
      o < bound.rva + bound.size;
    if (input[o] !== 0 && !inBound) {
      throw new PePatchError(
        `no free room for a section header at 0x${
          tableEnd.toString(16)
        }: the bytes after the section table are in use`,
      );
    }
  }
  const needHeaders = alignUp(tableEnd + 40, fa);
  if (needHeaders > minVa) {
    throw new PePatchError(
      "the headers cannot grow: the first section starts right after them",
    );
  }
  const shift = needHeaders > firstRaw
    ? alignUp(needHeaders - firstRaw, fa)
    : 0;
  if (shift) {
    warnings.push(
      `no room for a section header: section data moved down by 0x${
        shift.toString(16)
      } bytes`,
    );
  }
  const newSizeOfHeaders = Math.max(h.sizeOfHeaders, needHeaders);
  const keepEnd = certificatePlan(info, warnings);
  const rawPtr = alignUp(endSec + shift, fa);
  const overlaySize = keepEnd - endSec;
  const at = (o: number): number =>
    o >= endSec ? o - endSec + rawPtr + rawSize : o >= firstRaw ? o + shift : o;

  let maxEnd = 0;
  for (const s of h.sections) maxEnd = Math.max(maxEnd, sectionEnd(s));
  const va = Math.max(alignUp(maxEnd, sa), alignUp(h.sizeOfImage, sa));
  const sizeOfImage = alignUp(va + virtualSize, sa);
  if (sizeOfImage > 0xffffffff || rawPtr + rawSize + overlaySize > 0xffffffff) {
    throw new PePatchError("the patched image would exceed 4 GiB");
  }

  const out = new Uint8Array(rawPtr + rawSize + Math.max(0, overlaySize));
  out.set(input.subarray(0, firstRaw), 0);
  out.set(input.subarray(firstRaw, endSec), firstRaw + shift);
  if (overlaySize > 0) {
    out.set(input.subarray(endSec, keepEnd), rawPtr + rawSize);
  }

  // The new section's contents.
  const sec = out.subarray(rawPtr, rawPtr + rawSize);
  sec.set(MAGIC, 0);
  const imp = directory(h, DIR.IMPORT);
  put32(sec, M.IMPORT_RVA, imp.rva);
  put32(sec, M.IMPORT_SIZE, imp.size);
  const boundOverwritten = boundInHeaders && bound.rva < tableEnd + 40 &&
    bound.rva + bound.size > tableEnd;
  if (bound.rva !== 0 && !boundOverwritten) {
    put32(sec, M.BOUND_RVA, bound.rva);
    put32(sec, M.BOUND_SIZE, bound.size);
  }
  put32(sec, M.INSERTED_AT, endSec + shift);
  put32(sec, M.FIRST_RAW, firstRaw);
  put32(sec, M.SIZE_OF_IMAGE, h.sizeOfImage);
  put32(sec, M.SIZE_OF_HEADERS, h.sizeOfHeaders);
  put32(sec, M.HEADER_SHIFT, shift);

  put32(sec, descOff, va + iltOff);
  put32(sec, descOff + 12, va + dllOff);
  put32(sec, descOff + 16, va + iatOff);
  for (let i = 0; i < n; i++) {
    const d = info.imports[i];
    const o = descOff + (i + 1) * 20;
    sec.set(input.subarray(d.descriptorOffset, d.descriptorOffset + 20), o);
    sec.set(ascii(d.dll), nameOffs[i]);
    put32(sec, o + 12, va + nameOffs[i]);
    if (lookupOffs[i] >= 0) {
      put32(sec, o, va + lookupOffs[i]);
      d.symbols.forEach((sym, j) => {
        const t = lookupOffs[i] + j * thunk;
        if (sym.name === undefined) {
          writeOrdinal(sec, t, sym.ordinal!, is64);
        } else {
          const hn = hintOffs[i][j];
          put16(sec, hn, sym.hint ?? 0);
          sec.set(ascii(sym.name), hn + 2);
          put32(sec, t, va + hn);
        }
      });
    }
    if (d.timeDateStamp !== 0) {
      if (d.lookupRva !== 0) {
        // Bound imports are cleared: make the loader resolve from names.
        put32(sec, o + 4, 0);
        put32(sec, o + 8, 0);
      } else {
        warnings.push(
          `${d.dll} is bound but has no lookup table; it keeps its bound addresses`,
        );
      }
    }
  }
  if (typeof symbol === "string") {
    put16(sec, hintNameOff, 0);
    sec.set(ascii(symbol), hintNameOff + 2);
    put32(sec, iltOff, va + hintNameOff);
    put32(sec, iatOff, va + hintNameOff);
  } else {
    writeOrdinal(sec, iltOff, symbol, is64);
    writeOrdinal(sec, iatOff, symbol, is64);
  }
  sec.set(ascii(dll), dllOff);

  // Headers.
  // Bound data that the new header overwrites is wiped whole; otherwise it
  // stays in place (unreferenced) so that removal can restore it.
  if (boundOverwritten) out.fill(0, bound.rva, bound.rva + bound.size);
  for (const s of h.sections) {
    const ho = s.headerOffset;
    if (s.sizeOfRawData > 0) put32(out, ho + 20, at(s.pointerToRawData));
    for (const f of [24, 28]) {
      const v = u32(out, ho + f);
      if (v !== 0) put32(out, ho + f, at(v));
    }
  }
  const nh = tableEnd;
  out.fill(0, nh, nh + 40);
  out.set(ascii(sectionName), nh);
  put32(out, nh + 8, virtualSize);
  put32(out, nh + 12, va);
  put32(out, nh + 16, rawSize);
  put32(out, nh + 20, rawPtr);
  put32(
    out,
    nh + 36,
    (SCN_CNT_INITIALIZED_DATA | SCN_MEM_READ | SCN_MEM_WRITE) >>> 0,
  );
  put16(out, h.peOffset + 6, h.sections.length + 1);
  if (h.pointerToSymbolTable !== 0) {
    put32(out, h.peOffset + 12, at(h.pointerToSymbolTable));
  }
  const opt = h.optionalHeaderOffset;
  put32(out, opt + OPT.SIZE_OF_IMAGE, sizeOfImage);
  put32(out, opt + OPT.SIZE_OF_HEADERS, newSizeOfHeaders);
  put32(
    out,
    opt + OPT.SIZE_OF_INITIALIZED_DATA,
    (u32(out, opt + OPT.SIZE_OF_INITIALIZED_DATA) + rawSize) >>> 0,
  );
  setDir(out, h, DIR.IMPORT, va + descOff, (n + 2) * 20);
  setDir(out, h, DIR.BOUND_IMPORT, 0, 0);
  setDir(out, h, DIR.SECURITY, 0, 0);
  for (const d of info.debug) {
    if (d.pointerToRawData !== 0) {
      put32(out, at(d.entryOffset) + 24, at(d.pointerToRawData));
    }
  }
  return finish(out, h);
}

/**
 * Removes a DLL from the import table. When heapshift added it in the last
 * section, that section is dropped and the original import directory
 * restored, which gives back the original layout; otherwise its descriptor
 * is taken out of the table in place. Removing a DLL that heapshift did not
 * add needs `force`.
 */
export function removeImportBytes(
  input: Uint8Array,
  options: RemoveBytesOptions = {},
): PatchResult {
  const dll = resolveDllName(options);
  const info = readPe(bytesSource(input));
  const h = info.headers;
  const warnings: string[] = [];
  const idx = info.imports.findIndex((d) => sameDll(d.dll, dll));
  if (idx < 0) {
    return { bytes: input, changed: false, action: "unchanged", dll, warnings };
  }
  const d = info.imports[idx];
  const ours = ourSections(input, h).find((s) => rvaIn(s, d.nameRva));
  if (!ours && !options.allowForeign) {
    throw new PePatchError(
      `${dll} was not added by heapshift; removing it may break the program (pass allowForeign to remove it anyway)`,
    );
  }
  const last = h.sections[h.sections.length - 1];
  const imp = directory(h, DIR.IMPORT);
  if (
    ours && ours === last && idx === 0 &&
    imp.rva === ours.virtualAddress + MARKER &&
    ours.pointerToRawData + ours.sizeOfRawData === endOfSectionData(h)
  ) {
    return {
      bytes: dropSection(input, info, ours, warnings),
      changed: true,
      action: "removed",
      dll,
      warnings,
    };
  }
  const end = certificatePlan(info, warnings);
  const out = input.slice(0, end);
  setDir(out, h, DIR.SECURITY, 0, 0);
  const base = info.imports[0].descriptorOffset;
  const n = info.imports.length;
  out.copyWithin(base + idx * 20, base + (idx + 1) * 20, base + n * 20);
  out.fill(0, base + (n - 1) * 20, base + n * 20);
  if (imp.size >= 40) setDir(out, h, DIR.IMPORT, imp.rva, imp.size - 20);
  if (!ours) warnings.push(`${d.dll} was not added by heapshift`);
  return {
    bytes: finish(out, h),
    changed: true,
    action: "removed",
    dll,
    warnings,
  };
}

function dropSection(
  input: Uint8Array,
  info: PeInfo,
  s: Section,
  warnings: string[],
): Uint8Array {
  const h = info.headers;
  const m = input.subarray(s.pointerToRawData, s.pointerToRawData + MARKER);
  const insertedAt = u32(m, M.INSERTED_AT);
  const shift = u32(m, M.HEADER_SHIFT);
  const firstRaw = u32(m, M.FIRST_RAW);
  const cutEnd = s.pointerToRawData + s.sizeOfRawData;
  if (
    insertedAt > s.pointerToRawData || insertedAt < h.sizeOfHeaders ||
    firstRaw + shift > insertedAt || (shift && firstRaw < tableEndOf(h))
  ) {
    throw new PePatchError("the heapshift section marker is inconsistent");
  }
  const keepEnd = certificatePlan(info, warnings);
  const cut = cutEnd - insertedAt;
  const out = new Uint8Array(keepEnd - cut - shift);
  // Undo both insertions: the moved-down section data and our section.
  out.set(input.subarray(0, firstRaw), 0);
  out.set(input.subarray(firstRaw + shift, insertedAt), firstRaw);
  out.set(input.subarray(cutEnd, keepEnd), insertedAt - shift);
  const at = (o: number): number =>
    o >= cutEnd ? o - cut - shift : o >= firstRaw + shift ? o - shift : o;
  for (const sec of h.sections) {
    if (sec === s) continue;
    const ho = sec.headerOffset;
    if (sec.sizeOfRawData > 0) put32(out, ho + 20, at(sec.pointerToRawData));
    for (const f of [24, 28]) {
      const v = u32(out, ho + f);
      if (v !== 0) put32(out, ho + f, at(v));
    }
  }
  // Only the part of the slot that stays header (section data may follow).
  out.fill(0, s.headerOffset, Math.min(s.headerOffset + 40, firstRaw));
  put16(out, h.peOffset + 6, h.sections.length - 1);
  if (h.pointerToSymbolTable !== 0) {
    put32(out, h.peOffset + 12, at(h.pointerToSymbolTable));
  }
  const opt = h.optionalHeaderOffset;
  put32(out, opt + OPT.SIZE_OF_IMAGE, u32(m, M.SIZE_OF_IMAGE));
  put32(out, opt + OPT.SIZE_OF_HEADERS, u32(m, M.SIZE_OF_HEADERS));
  put32(
    out,
    opt + OPT.SIZE_OF_INITIALIZED_DATA,
    (u32(out, opt + OPT.SIZE_OF_INITIALIZED_DATA) - s.sizeOfRawData) >>> 0,
  );
  setDir(out, h, DIR.IMPORT, u32(m, M.IMPORT_RVA), u32(m, M.IMPORT_SIZE));
  setDir(out, h, DIR.BOUND_IMPORT, u32(m, M.BOUND_RVA), u32(m, M.BOUND_SIZE));
  setDir(out, h, DIR.SECURITY, 0, 0);
  for (const d of info.debug) {
    if (d.pointerToRawData !== 0) {
      put32(out, at(d.entryOffset) + 24, at(d.pointerToRawData));
    }
  }
  finish(out, h);
  // The restored file must parse, or the marker lied.
  readPe(bytesSource(out));
  return out;
}

function tableEndOf(h: PeHeaders): number {
  return h.sectionTableOffset + (h.sections.length - 1) * 40;
}
