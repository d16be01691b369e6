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
  isDll,
  OPT,
  type PeHeaders,
  readHeaders,
} from "./headers.ts";
import type { ImportedDll } from "./imports.ts";
import { type PeInfo, readPe } from "./reader.ts";
import type { FileRange } from "./layout.ts";
import { type ByteSource, bytesSource, FileSource } from "./source.ts";
import { readExports } from "./exports.ts";
import {
  ascii,
  certificatePlan,
  checkRawOutsideHeaders,
  editableCopy,
  finish,
  loaderIatRange,
  moveFileOffsets,
  sameDll,
  setDir,
  unbind,
} from "./_edit.ts";
import { planImportSection } from "./_import_section.ts";
import { addedBy, headerHash, writeMarker } from "./_marker.ts";
import { Output, readInto } from "./_output.ts";
import { type EditPlan, renderPlan } from "./_plan.ts";
import { alignUp, put32, u32 } from "./_read.ts";
import { mappedByPage, mapRva, rawStart, sectionEnd } from "./_rva.ts";

/** The DLL heapshift injects by default. */
export const DEFAULT_DLL = "heapshift.dll";
/** The harmless export of heapshift.dll that the new import names. */
export const DEFAULT_SYMBOL = "heapshift_anchor";
/**
 * Whether the DLL at `path` is heapshift's hook DLL: it exports
 * {@linkcode DEFAULT_SYMBOL} (false when it cannot be read).
 */
export function isHeapshiftDll(path: string): boolean {
  return exportedNames(path).has(DEFAULT_SYMBOL);
}

/**
 * The names the DLL at `path` exports (none when it cannot be read).
 */
export function exportedNames(path: string): Set<string> {
  try {
    using src = FileSource.open(path);
    const exported = readExports(src, readHeaders(src))?.symbols ?? [];
    return new Set(exported.flatMap((s) => s.name ?? []));
  } catch {
    return new Set();
  }
}

/** Name of the section the patcher adds. */
export const SECTION_NAME = ".hsimp";

const SCN_CNT_INITIALIZED_DATA = 0x40;
const SCN_MEM_READ = 0x40000000;
const SCN_MEM_WRITE = 0x80000000;
const COMIMAGE_FLAGS_ILONLY = 1;

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
  /**
   * Add the DLL even when the file already loads another DLL that
   * heapshift added (refused by default: both files would have to be next
   * to the program, and only the first to load takes over).
   */
  allowSecond?: boolean;
  /**
   * Add the DLL even when the file carries data after its sections (an
   * installer's payload, a .NET single-file bundle): the new section moves
   * it further into the file, which breaks a program that finds it by its
   * file offset. Refused by default; allowed, a warning says where it went.
   */
  allowOverlay?: boolean;
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
  /**
   * The target's IMAGE_FILE_MACHINE_* value: 0x8664 for x64 programs,
   * 0x14c for 32-bit x86 ones (which need a 32-bit DLL).
   */
  machine: number;
  /** Things the caller should tell the user, e.g. a stripped signature. */
  warnings: string[];
}

/**
 * The DLL name that `options` designate (postfix applied). `loadable`
 * (default true): also refuse a name Windows would not load as that file;
 * false for a removal, which takes any name an import table can hold (a
 * program patched with it before still has it to remove).
 */
export function resolveDllName(
  options: DllOptions = {},
  check: { loadable?: boolean } = {},
): string {
  const dll = options.dll ?? DEFAULT_DLL;
  const dot = dll.lastIndexOf(".");
  const name = !options.postfix
    ? dll
    : dot > 0
    ? dll.slice(0, dot) + options.postfix + dll.slice(dot)
    : dll + options.postfix;
  checkDllName(name);
  if (check.loadable ?? true) checkLoadable(name);
  return name;
}

/**
 * Reserved DOS device names, which Windows opens instead of a file (before
 * Windows 11 with any extension too); COM0 and LPT0, which only the
 * documentation lists, are files. src/_output_name.ts keeps the list for
 * output files, with the superscript digits an ASCII DLL name cannot hold.
 */
const DEVICE = /^(CON|PRN|AUX|NUL|COM[1-9]|LPT[1-9]|CONIN\$|CONOUT\$)$/i;

/** A name the import table can hold, as a file name. */
function checkDllName(dll: string): void {
  const why = dllNameProblem(dll);
  if (why === undefined) return;
  throw new PePatchError(
    `invalid DLL name ${
      JSON.stringify(dll)
    }: ${why}: name the DLL otherwise, e.g. ${DEFAULT_DLL}`,
  );
}

/**
 * Why `dll` is no name for an import table to hold: it must be 1 to 259
 * printable ASCII characters (the loader reads other bytes in the
 * system's code page), the first not a space, none of them one a file
 * name cannot hold; `undefined` when it will do.
 */
function dllNameProblem(dll: string): string | undefined {
  if (dll === "") return "it is empty";
  if (dll.length > 259) {
    return `it is ${dll.length} characters, longer than the 259 a DLL name may have`;
  }
  if (dll.startsWith(" ")) return "it starts with a space";
  const bad = /[^\x20-\x7e]|[\\/:*?"<>|]/u.exec(dll)?.[0];
  if (bad === undefined) return undefined;
  if (/[\x20-\x7e]/.test(bad)) {
    return `it holds '${bad}', which a file name cannot`;
  }
  // a control or an invisible character as an escape, to see which
  const cp = bad.codePointAt(0)!;
  const shown = !/[\p{C}\p{Z}]/u.test(bad)
    ? bad
    : cp <= 0xff
    ? `\\x${cp.toString(16).padStart(2, "0")}`
    : cp <= 0xffff
    ? `\\u${cp.toString(16).padStart(4, "0")}`
    : `\\u{${cp.toString(16)}}`;
  return `it holds '${shown}': an import table holds printable ASCII names`;
}

/**
 * A name the loader would look up as that very file: what Windows' path
 * rules make of it is what it looks for.
 */
function checkLoadable(dll: string): void {
  const invalid = (why: string) =>
    new PePatchError(
      `invalid DLL name ${
        JSON.stringify(dll)
      }: ${why}: name the DLL otherwise, e.g. heapshift.dll`,
    );
  if (/^\.+$/.test(dll)) throw invalid("it names a directory");
  // (an import table holds 259; a file system's names, NTFS's too, 255)
  if (dll.length > 255) {
    throw invalid(
      `it is ${dll.length} characters, longer than the 255 a file name may have, so Windows would never find it`,
    );
  }
  const end = /[. ]$/.exec(dll)?.[0];
  if (end) {
    throw invalid(
      `it ends in '${end}', which Windows drops when it looks for the file`,
    );
  }
  const stem = dll.replace(/\..*$/, "").replace(/ +$/, "");
  if (DEVICE.test(stem)) {
    throw invalid(
      `${stem.toUpperCase()} is a device's name, which Windows opens instead of a file`,
    );
  }
}

/**
 * Puts a DLL first in the import table. If the file already imports it
 * first, nothing changes; if it imports it later, it is moved to the front
 * in place; otherwise a new section holds a rebuilt import directory whose
 * first descriptor imports one symbol of the DLL. The original import
 * address tables stay where they are, since the program's code refers to
 * them. Bound imports are cleared, an Authenticode signature is removed
 * (with a warning), the overlay and COFF symbol table are kept, and the
 * checksum is updated for what changed (a right one stays right, 0 stays
 * 0). The new section records the original headers, so that
 * `removeImportBytes` gives back the exact bytes.
 *
 * Throws `PeFormatError` for malformed input and `PePatchError` when the
 * file cannot be patched this way: no room for a section header, a new
 * section that would reach 2 GiB, an IL-only .NET assembly, a driver,
 * native program or EFI image (which cannot load a Windows DLL), or a
 * machine other than x64 and x86.
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
  return renderPlan(planPatch(bytesSource(input), options), input);
}

/**
 * Works out the patch of the file `src` without writing it (the heart of
 * {@linkcode patchImportsBytes} and of the file-level patch).
 */
export function planPatch(
  src: ByteSource,
  options: PatchBytesOptions = {},
): EditPlan {
  const dll = resolveDllName(options);
  const info = readPe(src);
  const h = info.headers;
  checkServable(src, h);
  const warnings: string[] = [];
  if (isDll(h)) {
    warnings.push(
      `this is a DLL, not a program: ${dll} loads when it does, which may be after the program's first allocations (those blocks stay on the CRT heap until freed)`,
    );
  }
  const names = info.imports.map((d) => d.dll);
  const base = { dll, machine: h.machine, warnings };
  const idx = info.imports.findIndex((d) => sameDll(d.dll, dll));
  if (idx === 0) {
    return { ...base, changed: false, action: "unchanged", imports: names };
  }
  checkSignatureDemand(h);
  checkRawOutsideHeaders(h, {
    edit: "a patch",
    instead:
      "Load heapshift with launch or inject instead, which leave the file as it is",
  });
  if (idx > 0) {
    const override = info.imports.find((d) => ALLOCATOR_OVERRIDES.test(d.dll));
    if (override) {
      warnings.push(
        `it loads ${override.dll}, mimalloc's own override of the CRT's allocator: if ${dll} takes it over too, the two would each free the other's blocks`,
      );
    }
    const out = editableCopy(src, { info, warnings });
    moveToFront(src, { out, imports: info.imports, index: idx, warnings });
    // A loader that walks the bound import directory loads in its order,
    // not the descriptors': the binding goes, as when a DLL is added.
    setDir(out, h, { index: DIR.BOUND_IMPORT, rva: 0, size: 0 });
    finish(out, h);
    return {
      ...base,
      output: out,
      changed: true,
      action: "moved",
      imports: [names[idx], ...names.filter((_, i) => i !== idx)],
    };
  }
  // One hook DLL: a second one under another name would need both files
  // next to the program, and only the first to load would take over.
  const other = !options.allowSecond &&
    info.imports.find((d) => addedBy(src, h, d));
  if (other) {
    throw new PePatchError(
      `it already loads ${other.dll}, which heapshift added; remove that first (--remove --dll ${other.dll} on the command line), or patch with that name`,
    );
  }
  checkNoOtherOverride(info, warnings);
  const output = addSection(src, info, { dll, options, warnings });
  return {
    ...base,
    output,
    changed: true,
    action: "added",
    imports: [dll, ...names],
  };
}

/** DLLs that take over the CRT's allocator themselves. */
const ALLOCATOR_OVERRIDES = /^mimalloc-(redirect|redirect32|override)\.dll$/i;
const DLLCHARACTERISTICS_FORCE_INTEGRITY = 0x80;

// Any change to the file invalidates its signature: a program that Windows
// starts only with a valid one would not start.
function checkSignatureDemand(h: PeHeaders): void {
  if (h.dllCharacteristics & DLLCHARACTERISTICS_FORCE_INTEGRITY) {
    throw new PePatchError(
      "the program demands a valid signature (FORCE_INTEGRITY): any change to the file invalidates it, and Windows would refuse to start the patched copy; load heapshift with launch or inject instead, which leave the file as it is",
    );
  }
}

// A DLL added first takes over the CRT's allocator: not beside another
// DLL that does (each would free the other's blocks).
function checkNoOtherOverride(info: PeInfo, warnings: string[]): void {
  const other = info.imports.find((d) => ALLOCATOR_OVERRIDES.test(d.dll));
  if (other) {
    throw new PePatchError(
      `it loads ${other.dll}, mimalloc's own override of the CRT's allocator: two takeovers in one process would each free the other's blocks; remove that one first`,
    );
  }
  const mi = info.imports.find((d) => /^mimalloc(32)?\.dll$/i.test(d.dll));
  if (mi) {
    warnings.push(
      `it loads ${mi.dll}: if that is mimalloc's override build (with mimalloc-redirect.dll beside it), it takes over the CRT's allocator too, and the two would each free the other's blocks`,
    );
  }
}

const MACHINES: Record<number, string> = {
  0x14c: "x86",
  0x8664: "x64",
  0xaa64: "ARM64",
  0xa641: "ARM64EC",
  0x1c4: "ARM",
  0x200: "Itanium",
};

// IMAGE_SUBSYSTEM_* values of images that Windows' user-mode loader never
// runs: kernel-mode drivers and native programs (their imports are bound to
// the kernel or ntdll), firmware and boot images.
const NOT_WIN32: Record<number, string> = {
  1: "a kernel-mode driver or a native program",
  8: "a native Windows 9x driver",
  10: "an EFI application",
  11: "an EFI boot service driver",
  12: "an EFI runtime driver",
  13: "an EFI ROM image",
  16: "a Windows boot application",
};

// The hook DLL exists for x64 and x86 programs whose native code calls the
// UCRT; an IL-only .NET assembly has no such code (the CLR allocates).
function checkServable(src: ByteSource, h: PeHeaders): void {
  if (h.machine !== 0x14c && h.machine !== 0x8664) {
    const name = MACHINES[h.machine] ?? `0x${h.machine.toString(16)}`;
    throw new PePatchError(
      `the program is built for machine ${name}: heapshift's hook DLL exists for x64 and x86 programs only`,
    );
  }
  // The 32-bit header goes with x86, the 64-bit one with x64: Windows
  // loads no other pairing, and the thunks written follow the header.
  if ((h.machine === 0x8664) !== (h.format === "PE32+")) {
    throw new PePatchError(
      `its header is inconsistent: machine ${
        MACHINES[h.machine]
      } with a ${h.format} optional header, which Windows does not load`,
    );
  }
  const kind = NOT_WIN32[h.subsystem];
  if (kind) {
    throw new PePatchError(
      `it is ${kind} (subsystem ${h.subsystem}), which cannot load heapshift.dll or any other Windows DLL: patched to import one, it would fail to load (a boot driver would stop Windows from starting)`,
    );
  }
  const clr = directory(h, DIR.CLR);
  if (clr.rva === 0) return;
  const field = "IMAGE_COR20_HEADER";
  const at = mapRva(h, clr.rva, 20, field, h.dataDirectoryOffset + DIR.CLR * 8);
  if (u32(src.read(at, 20), 16) & COMIMAGE_FLAGS_ILONLY) {
    throw new PePatchError(
      "the program is an IL-only .NET assembly: its code runs on the .NET runtime, which does not allocate through the UCRT, so heapshift has nothing to take over",
    );
  }
}

// Descriptors are contiguous, so a rotation of the first index+1 of them.
// Bound ones are unbound (the loader resolves them from their names).
function moveToFront(
  src: ByteSource,
  move: {
    out: Output;
    imports: ImportedDll[];
    index: number;
    warnings: string[];
  },
): void {
  const { imports: list, index: idx } = move;
  const base = list[0].descriptorOffset;
  const end = list[list.length - 1].descriptorOffset + 20;
  const table = src.read(base, end - base).slice();
  list.forEach((d) =>
    unbind(table, d.descriptorOffset - base, {
      descriptor: d,
      warnings: move.warnings,
    })
  );
  const from = list[idx].descriptorOffset - base;
  const moved = table.slice(from, from + 20);
  table.copyWithin(20, 0, idx * 20);
  table.set(moved, 0);
  move.out.set(table, base);
}

function checkOptions(options: PatchBytesOptions): {
  sectionName: string;
  symbol: string | number;
} {
  const sectionName = options.sectionName ?? SECTION_NAME;
  if (sectionName.length > 8 || !/^[\x21-\x7e]+$/.test(sectionName)) {
    throw new PePatchError(
      `invalid section name ${
        JSON.stringify(sectionName)
      }: a section name is 1 to 8 printable ASCII characters, no spaces, e.g. ${SECTION_NAME} (the default)`,
    );
  }
  const symbol = options.symbol ?? DEFAULT_SYMBOL;
  if (
    typeof symbol === "number"
      ? !Number.isInteger(symbol) || symbol < 0 || symbol > 0xffff
      : !/^[\x21-\x7e]{1,1024}$/.test(symbol)
  ) {
    throw new PePatchError(
      `invalid symbol ${
        JSON.stringify(symbol)
      }: name the DLL's export in 1 to 1024 printable ASCII characters, no spaces (${DEFAULT_DLL}'s is ${DEFAULT_SYMBOL}, the default), or give its ordinal, a whole number from 0 to 65535`,
    );
  }
  return { sectionName, symbol };
}

/** Where data after the sections starts, past a COFF symbol table there. */
function payloadStart(src: ByteSource, info: PeInfo, endSec: number): number {
  const t = info.symbolTable ?? movedSymbols(src, info.headers, endSec);
  return t && t.offset <= endSec + 8 && t.offset >= endSec
    ? t.offset + t.size
    : endSec;
}

/**
 * The COFF symbol table at `at` (the end of the sections) when the header
 * points at none the file holds but its count of symbols and a string
 * table's size there fit the file: UPX packs a MinGW program's sections
 * smaller and copies its symbols after them, keeping the count but not the
 * pointer.
 */
function movedSymbols(
  src: ByteSource,
  h: PeHeaders,
  at: number,
): FileRange | undefined {
  if (h.pointerToSymbolTable === 0 || h.numberOfSymbols === 0) return;
  const strings = at + h.numberOfSymbols * 18;
  if (strings + 4 > h.fileSize) return;
  const size = u32(src.read(strings, 4), 0);
  if (size < 4 || strings + size > h.fileSize) return;
  return { offset: at, size: strings + size - at };
}

/**
 * How many bytes from `range.from` (past the sections and a COFF symbol
 * table there) are a payload, up to its last non-zero byte: not a
 * certificate table (it goes or stays as the signature plan says), and not
 * zero padding (0 when there is none).
 */
function payloadSize(
  src: ByteSource,
  info: PeInfo,
  range: { from: number; to: number },
): number {
  const start = range.from;
  const cert = info.certificate;
  let end = range.to;
  // Read from the end in chunks, skipping the certificate table.
  while (end > start) {
    if (cert && end > cert.offset && end <= cert.offset + cert.size) {
      end = cert.offset;
      continue;
    }
    const floor = cert && end > cert.offset + cert.size
      ? Math.max(start, cert.offset + cert.size)
      : start;
    const n = Math.min(end - floor, 1 << 20);
    const chunk = src.read(end - n, n);
    let i = n;
    while (i > 0 && chunk[i - 1] === 0) i--;
    if (i > 0) return end - n + i - start;
    end -= n;
  }
  return 0;
}

/** Where section data starts in the file (or ends, when there is none). */
function firstRawData(h: PeHeaders, endSec: number): number {
  let first = endSec;
  for (const s of h.sections) {
    if (s.sizeOfRawData > 0) first = Math.min(first, rawStart(h, s));
  }
  return first;
}

// Thunks hold 31-bit RVAs: from 2 GiB on, a 32-bit thunk reads as an
// import by ordinal (and a 64-bit one is invalid).
const MAX_RVA = 0x80000000;

function addSection(
  src: ByteSource,
  info: PeInfo,
  add: { dll: string; options: PatchBytesOptions; warnings: string[] },
): Output {
  const h = info.headers;
  const { warnings } = add;
  const fa = h.fileAlignment;
  const sa = h.sectionAlignment;
  if (!mappedByPage(sa)) {
    throw new PePatchError(
      `SectionAlignment 0x${
        sa.toString(16)
      } is below the page size; such images map sections at their file offsets and are not supported`,
    );
  }
  const { sectionName, symbol } = checkOptions(add.options);
  const plan = planImportSection(src, info, {
    dll: add.dll,
    symbol,
    warnings,
  });

  // Room for one more section header: the bytes after the table must be
  // free (bound import data there is dropped anyway).
  const tableEnd = h.sectionTableOffset + h.sections.length * 40;
  const endSec = endOfSectionData(h);
  const firstRaw = firstRawData(h, endSec);
  const bound = directory(h, DIR.BOUND_IMPORT);
  const boundInHeaders = bound.rva !== 0 &&
    bound.rva + bound.size <= h.sizeOfHeaders;
  const slotEnd = Math.min(tableEnd + 40, firstRaw);
  const slot = src.read(tableEnd, Math.max(0, slotEnd - tableEnd));
  for (let o = tableEnd; o < slotEnd; o++) {
    const inBound = boundInHeaders && o >= bound.rva &&
      o < bound.rva + bound.size;
    if (slot[o - tableEnd] !== 0 && !inBound) {
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
  // Windows reads raw data from its 512-byte sector (rawStart): data moves,
  // and the new section starts, in whole sectors as well as FileAlignment.
  const unit = Math.max(fa, 0x200);
  // No room before the first section's data: move all section data down.
  const shift = needHeaders > firstRaw
    ? alignUp(needHeaders - firstRaw, unit)
    : 0;
  if (shift) {
    warnings.push(
      `no room for a section header: section data moved down by 0x${
        shift.toString(16)
      } bytes`,
    );
  }
  // After the import data: the original headers and debug offsets, so
  // that removal gives back the exact bytes.
  const copyOffset = alignUp(plan.size, 8);
  const debugOffset = copyOffset + firstRaw;
  const size = debugOffset + info.debug.length * 4;
  const rawSize = alignUp(size, fa);
  const keepEnd = certificatePlan(info, warnings);
  const rawPtr = alignUp(endSec + shift, unit);
  const overlaySize = keepEnd - endSec;
  // Before the payload is looked for: that reads the whole overlay.
  const total = rawPtr + rawSize + Math.max(0, overlaySize);
  if (total > 0xffffffff) {
    throw new PePatchError("the patched file would exceed 4 GiB");
  }
  const from = payloadStart(src, info, endSec);
  const payload = payloadSize(src, info, { from, to: keepEnd });
  // Windows maps sections back to back and refuses a gap: the new one
  // starts where the last ends, although SizeOfImage may stop short of
  // that or run on (by less than a page, or less than an alignment unit
  // in pages; readHeaders refuses more).
  const va = sectionEnd(h, h.sections[h.sections.length - 1]);
  const sizeOfImage = alignUp(va + size, sa);
  if (sizeOfImage >= MAX_RVA) {
    throw new PePatchError(
      `the image takes up to 0x${
        h.sizeOfImage.toString(16)
      }: a new section would end at 0x${
        sizeOfImage.toString(16)
      }, at or above 2 GiB, where its addresses would read as import ordinals`,
    );
  }
  if (payload > 0) {
    const to = rawPtr + rawSize + (from - endSec);
    if (!add.options.allowOverlay) {
      throw new PePatchError(
        `it carries ${payload} bytes of data after its sections and COFF symbols (from 0x${
          from.toString(16)
        }: an installer's payload, a .NET single-file bundle, …), which the new section would move to 0x${
          to.toString(16)
        }; a program that finds such data by its file offset then breaks. Load heapshift with launch or inject instead, which leave the file as it is, or allow the move (allowOverlay; --allow-overlay on the command line)`,
      );
    }
    warnings.push(
      `the data after the sections (${payload} bytes) moved from 0x${
        from.toString(16)
      } to 0x${to.toString(16)}`,
    );
  }

  // Headers, section data (maybe moved), our section, then the overlay.
  const head = new Uint8Array(firstRaw + shift);
  // Straight into place: a file may put megabytes before its first section.
  readInto(src, 0, head.subarray(0, firstRaw));
  const sec = new Uint8Array(rawSize);
  sec.set(head.subarray(0, firstRaw), copyOffset);
  const out = new Output();
  out.literal(head);
  out.copy(firstRaw, endSec - firstRaw);
  out.literal(new Uint8Array(rawPtr - (endSec + shift)));
  out.literal(sec);
  if (overlaySize > 0) out.copy(endSec, overlaySize);
  const imp = directory(h, DIR.IMPORT);
  const boundOverwritten = boundInHeaders && bound.rva < tableEnd + 40 &&
    bound.rva + bound.size > tableEnd;
  const keepBound = bound.rva !== 0 && !boundOverwritten;
  info.debug.forEach((d, i) =>
    put32(sec, debugOffset + i * 4, d.pointerToRawData)
  );
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
  out.put32(tableEnd + 8, size);
  out.put32(tableEnd + 12, va);
  out.put32(tableEnd + 16, rawSize);
  out.put32(tableEnd + 20, rawPtr);
  out.put32(
    tableEnd + 36,
    (SCN_CNT_INITIALIZED_DATA | SCN_MEM_READ | SCN_MEM_WRITE) >>> 0,
  );
  out.put16(h.peOffset + 6, h.sections.length + 1);
  const opt = h.optionalHeaderOffset;
  out.put32(opt + OPT.SIZE_OF_IMAGE, sizeOfImage);
  out.put32(opt + OPT.SIZE_OF_HEADERS, Math.max(h.sizeOfHeaders, needHeaders));
  out.put32(
    opt + OPT.SIZE_OF_INITIALIZED_DATA,
    (out.u32(opt + OPT.SIZE_OF_INITIALIZED_DATA) + rawSize) >>> 0,
  );
  setDir(out, h, {
    index: DIR.IMPORT,
    rva: va + plan.directoryOffset,
    size: plan.directorySize,
  });
  setDir(out, h, { index: DIR.BOUND_IMPORT, rva: 0, size: 0 });
  setDir(out, h, { index: DIR.SECURITY, rva: 0, size: 0 });
  // The import directory leaves its section: what the loader unprotected
  // for it becomes the IAT directory (Detours' UpdateImports does so too).
  const iat = loaderIatRange(h);
  if (iat) setDir(out, h, { index: DIR.IAT, ...iat });
  finish(out, h);
  // Last: the record, with a hash of the headers as written.
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
    headerHash: headerHash(head, opt + OPT.CHECKSUM),
    copyOffset,
    debugOffset,
    debugCount: info.debug.length,
    iatNamed: iat ? 1 : 0,
  });
  return out;
}
