/**
 * Pure byte-level patching of the import table: put a DLL first, by moving
 * it there or by adding it in a new section.
 *
 * @module
 */

import { PePatchError } from "./errors.ts";
import {
  DIR,
  directory,
  endOfSectionData,
  OPT,
  type Section,
} from "./headers.ts";
import type { ImportedDll } from "./imports.ts";
import { type PeInfo, readPe } from "./reader.ts";
import { bytesSource } from "./source.ts";
import {
  ascii,
  certificatePlan,
  editableCopy,
  finish,
  moveFileOffsets,
  sameDll,
  setDir,
} from "./_edit.ts";
import { planImportSection } from "./_import_section.ts";
import { writeMarker } from "./_marker.ts";
import { alignUp, put16, put32, u32 } from "./_read.ts";

/** The DLL heapshift injects by default. */
export const DEFAULT_DLL = "heapshift.dll";
/** The harmless export of heapshift.dll that the new import names. */
export const DEFAULT_SYMBOL = "heapshift_anchor";
/** Name of the section the patcher adds. */
export const SECTION_NAME = ".hsimp";

const SCN_CNT_INITIALIZED_DATA = 0x40;
const SCN_MEM_READ = 0x40000000;
const SCN_MEM_WRITE = 0x80000000;

/** Which DLL to put first (or remove). */
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

/**
 * Puts a DLL first in the import table. If the file already imports it
 * first, nothing changes; if it imports it later, it is moved to the front
 * in place; otherwise a new section holds a rebuilt import directory whose
 * first descriptor imports one symbol of the DLL. The original import
 * address tables stay where they are, since the program's code refers to
 * them. Bound imports are cleared, an Authenticode signature is removed
 * (with a warning), the overlay and COFF symbol table are kept, and the
 * checksum is recomputed.
 *
 * Throws `PeFormatError` for malformed input and `PePatchError` when the
 * file cannot be patched this way.
 *
 * @example
 * ```ts ignore
 * const r = patchImportsBytes(await Deno.readFile("game.exe"));
 * if (r.changed) await Deno.writeFile("game.heapshift.exe", r.bytes);
 * ```
 */
export function patchImportsBytes(
  input: Uint8Array,
  options: PatchBytesOptions = {},
): PatchResult {
  const dll = resolveDllName(options);
  const info = readPe(bytesSource(input));
  const warnings: string[] = [];
  const idx = info.imports.findIndex((d) => sameDll(d.dll, dll));
  if (idx === 0) {
    return { bytes: input, changed: false, action: "unchanged", dll, warnings };
  }
  if (idx > 0) {
    const out = editableCopy(input, { info, warnings });
    moveToFront(out, { imports: info.imports, index: idx });
    const bytes = finish(out, info.headers);
    return { bytes, changed: true, action: "moved", dll, warnings };
  }
  const bytes = addSection(input, info, { dll, options, warnings });
  return { bytes, changed: true, action: "added", dll, warnings };
}

// Descriptors are contiguous, so a rotation of the first index+1 of them.
function moveToFront(
  out: Uint8Array,
  move: { imports: ImportedDll[]; index: number },
): void {
  const { imports: list, index: idx } = move;
  const base = list[0].descriptorOffset;
  const from = list[idx].descriptorOffset;
  const moved = out.slice(from, from + 20);
  out.copyWithin(base + 20, base, base + idx * 20);
  out.set(moved, base);
}

function sectionEnd(s: Section): number {
  return s.virtualAddress + Math.max(s.virtualSize, s.sizeOfRawData, 1);
}

function checkOptions(options: PatchBytesOptions): {
  sectionName: string;
  symbol: string | number;
} {
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
  return { sectionName, symbol };
}

function addSection(
  input: Uint8Array,
  info: PeInfo,
  add: { dll: string; options: PatchBytesOptions; warnings: string[] },
): Uint8Array {
  const h = info.headers;
  const { warnings } = add;
  const fa = h.fileAlignment;
  const sa = h.sectionAlignment;
  if (sa < 0x1000) {
    throw new PePatchError(
      `SectionAlignment 0x${
        sa.toString(16)
      } is below the page size; such images map sections at their file offsets and are not supported`,
    );
  }
  const { sectionName, symbol } = checkOptions(add.options);
  const plan = planImportSection(input, info, {
    dll: add.dll,
    symbol,
    warnings,
  });
  const rawSize = alignUp(plan.size, fa);

  // Room for one more section header: the bytes after the table must be
  // free (bound import data there is dropped anyway).
  const tableEnd = h.sectionTableOffset + h.sections.length * 40;
  const endSec = endOfSectionData(h);
  const firstRaw = Math.min(
    endSec,
    ...h.sections.filter((s) => s.sizeOfRawData > 0).map((s) =>
      s.pointerToRawData
    ),
  );
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
  if (needHeaders > h.sections[0].virtualAddress) {
    throw new PePatchError(
      "the headers cannot grow: the first section starts right after them",
    );
  }
  // No room before the first section's data: move all section data down.
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
  const keepEnd = certificatePlan(info, warnings);
  const rawPtr = alignUp(endSec + shift, fa);
  const overlaySize = keepEnd - endSec;
  let maxEnd = 0;
  for (const s of h.sections) maxEnd = Math.max(maxEnd, sectionEnd(s));
  const va = Math.max(alignUp(maxEnd, sa), alignUp(h.sizeOfImage, sa));
  const sizeOfImage = alignUp(va + plan.size, sa);
  const total = rawPtr + rawSize + Math.max(0, overlaySize);
  if (sizeOfImage > 0xffffffff || total > 0xffffffff) {
    throw new PePatchError("the patched image would exceed 4 GiB");
  }

  // Headers, section data (maybe moved), our section, then the overlay.
  const out = new Uint8Array(total);
  out.set(input.subarray(0, firstRaw), 0);
  out.set(input.subarray(firstRaw, endSec), firstRaw + shift);
  if (overlaySize > 0) {
    out.set(input.subarray(endSec, keepEnd), rawPtr + rawSize);
  }
  const sec = out.subarray(rawPtr, rawPtr + rawSize);
  const imp = directory(h, DIR.IMPORT);
  const boundOverwritten = boundInHeaders && bound.rva < tableEnd + 40 &&
    bound.rva + bound.size > tableEnd;
  const keepBound = bound.rva !== 0 && !boundOverwritten;
  writeMarker(sec, {
    importRva: imp.rva,
    importSize: imp.size,
    boundRva: keepBound ? bound.rva : 0,
    boundSize: keepBound ? bound.size : 0,
    insertedAt: endSec + shift,
    sizeOfImage: h.sizeOfImage,
    sizeOfHeaders: h.sizeOfHeaders,
    headerShift: shift,
    firstRaw,
  });
  plan.write(sec, va);

  // Bound data that the new header overwrites is wiped whole; otherwise it
  // stays in place (unreferenced) so that removal can restore it.
  if (boundOverwritten) out.fill(0, bound.rva, bound.rva + bound.size);
  moveFileOffsets(out, info, {
    at: (o) =>
      o >= endSec
        ? o - endSec + rawPtr + rawSize
        : o >= firstRaw
        ? o + shift
        : o,
  });
  out.fill(0, tableEnd, tableEnd + 40);
  out.set(ascii(sectionName), tableEnd);
  put32(out, tableEnd + 8, plan.size);
  put32(out, tableEnd + 12, va);
  put32(out, tableEnd + 16, rawSize);
  put32(out, tableEnd + 20, rawPtr);
  put32(
    out,
    tableEnd + 36,
    (SCN_CNT_INITIALIZED_DATA | SCN_MEM_READ | SCN_MEM_WRITE) >>> 0,
  );
  put16(out, h.peOffset + 6, h.sections.length + 1);
  const opt = h.optionalHeaderOffset;
  put32(out, opt + OPT.SIZE_OF_IMAGE, sizeOfImage);
  put32(out, opt + OPT.SIZE_OF_HEADERS, Math.max(h.sizeOfHeaders, needHeaders));
  put32(
    out,
    opt + OPT.SIZE_OF_INITIALIZED_DATA,
    (u32(out, opt + OPT.SIZE_OF_INITIALIZED_DATA) + rawSize) >>> 0,
  );
  setDir(out, h, {
    index: DIR.IMPORT,
    rva: va + plan.directoryOffset,
    size: plan.directorySize,
  });
  setDir(out, h, { index: DIR.BOUND_IMPORT, rva: 0, size: 0 });
  setDir(out, h, { index: DIR.SECURITY, rva: 0, size: 0 });
  return finish(out, h);
}
