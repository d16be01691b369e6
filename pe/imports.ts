/**
 * Import directory, delay-load import directory and bound import directory.
 *
 * @module
 */

import { PeFormatError } from "./errors.ts";
import { DIR, directory, type PeHeaders } from "./headers.ts";
import { ReadBudget } from "./budget.ts";
import { bytesAtRva, mapRva } from "./_rva.ts";
import { hex, need, u16, u32 } from "./_read.ts";
import type { ByteSource } from "./source.ts";

/** One imported function: by name (with its hint) or by ordinal. */
export interface ImportedSymbol {
  /** The function name, when imported by name. */
  name?: string;
  /** The hint (index into the DLL's export name table), with `name`. */
  hint?: number;
  /** The ordinal, when imported by ordinal. */
  ordinal?: number;
}

/** One DLL in the import or delay-load import directory. */
export interface ImportedDll {
  /** The DLL name as stored, e.g. `KERNEL32.dll`. */
  dll: string;
  /** `static` for the import directory, `delay` for delay-load imports. */
  kind: "static" | "delay";
  /** The imported functions (empty when symbols were not asked for). */
  symbols: ImportedSymbol[];
  /** File offset of the descriptor. */
  descriptorOffset: number;
  /** RVA of the DLL name. */
  nameRva: number;
  /** RVA of the import address table (FirstThunk). */
  iatRva: number;
  /** RVA of the import lookup (name) table, 0 when absent. */
  lookupRva: number;
  /** TimeDateStamp of the descriptor (non-zero when bound). */
  timeDateStamp: number;
}

/** One entry of the bound import directory. */
export interface BoundImport {
  /** The DLL the imports were bound against. */
  dll: string;
  /** That DLL's TimeDateStamp at bind time. */
  timeDateStamp: number;
  /** DLLs that forwarded exports were bound against. */
  forwarders: string[];
}

/** Options for reading imports. */
export interface ReadImportsOptions {
  /** Also read the imported function names and ordinals (default true). */
  symbols?: boolean;
  /**
   * The budget of the whole read of the file, shared with the other
   * readers (default: a new one with the default limits).
   */
  budget?: ReadBudget;
}

/** Most descriptors one directory may hold before we call it absurd. */
export const MAX_DLLS = 8192;
/** Most functions one DLL may import before we call it absurd. */
export const MAX_SYMBOLS = 65536;
/** A descriptor table: its directory, entry size and names for errors. */
interface TableKind {
  index: number;
  size: number;
  field: string;
  what: string;
}

const IMPORT_TABLE: TableKind = {
  index: DIR.IMPORT,
  size: 20,
  field: "IMAGE_IMPORT_DESCRIPTOR",
  what: "import",
};
const DELAY_TABLE: TableKind = {
  index: DIR.DELAY_IMPORT,
  size: 32,
  field: "IMAGE_DELAYLOAD_DESCRIPTOR",
  what: "delay-load",
};

/** Where a descriptor table starts in the file, and its bytes. */
interface DescriptorTable {
  base: number;
  table: Uint8Array;
}

/** A data directory's data as an {@linkcode ImageLocator} finds it. */
export interface LocatedDirectory {
  /** File offset of the data. */
  offset: number;
  /** File-backed bytes from `offset` on (the table may not run past them). */
  available: number;
}

/**
 * Where the import readers find a file's data: its format and image base,
 * the import and delay-load directories, and the file offset of each RVA.
 * {@linkcode headerLocator} takes them from the file's own headers and
 * section table (what {@linkcode readImports} does); {@linkcode
 * readAllImports} also takes another locator, such as Windows' dbghelp
 * image helpers, so the two can be compared with one decoder.
 */
export interface ImageLocator {
  /** `PE32` or `PE32+`: the size of a thunk. */
  format: "PE32" | "PE32+";
  /** The preferred image base (old delay-load descriptors hold VAs). */
  imageBase: bigint;
  /**
   * Data directory `index` (`DIR.IMPORT`, `DIR.DELAY_IMPORT`), or
   * `undefined` when the file has none. `entry` is the size of one
   * descriptor, which must fit at its start; `field` names it for errors.
   */
  directory(
    index: number,
    table: { entry: number; field: string },
  ): LocatedDirectory | undefined;
  /**
   * The file offset of `length` bytes at `rva`; throws a PeFormatError
   * naming `field` (read at `fieldOffset`) when they are not in the file.
   */
  map(rva: number, length: number, field: string, fieldOffset?: number): number;
  /** File-backed bytes from `rva` on (0 when it is not in the file). */
  bytesAt(rva: number): number;
}

/** The locator of the file's own headers and section table. */
export function headerLocator(h: PeHeaders): ImageLocator {
  return {
    format: h.format,
    imageBase: h.imageBase,
    directory(index, table) {
      const dir = directory(h, index);
      if (dir.rva === 0) return undefined;
      return {
        offset: mapRva(
          h,
          dir.rva,
          table.entry,
          table.field,
          h.dataDirectoryOffset + index * 8,
        ),
        available: bytesAtRva(h, dir.rva),
      };
    },
    map: (rva, length, field, fieldOffset) =>
      mapRva(h, rva, length, field, fieldOffset),
    bytesAt: (rva) => bytesAtRva(h, rva),
  };
}

/**
 * The bytes of the descriptor table of `kind` (at most MAX_DLLS + 1
 * entries, up to the end of its section), or `undefined` without one.
 */
function descriptorTable(
  src: ByteSource,
  at: ImageLocator,
  kind: TableKind,
): DescriptorTable | undefined {
  const dir = at.directory(kind.index, {
    entry: kind.size,
    field: `${kind.field}[0]`,
  });
  if (!dir) return undefined;
  const avail = Math.min(dir.available, (MAX_DLLS + 1) * kind.size);
  return {
    base: dir.offset,
    table: src.read(dir.offset, avail - (avail % kind.size)),
  };
}

/** Offset of entry `i` in `t`; throws when the table ends before it. */
function entryAt(t: DescriptorTable, kind: TableKind, i: number): number {
  const at = i * kind.size;
  if (at + kind.size > t.table.length) {
    throw new PeFormatError(
      `${kind.field}[${i}]`,
      t.base + at,
      i >= MAX_DLLS
        ? `more than ${MAX_DLLS} ${kind.what} descriptors`
        : `${kind.what} directory runs past its section without a terminator`,
    );
  }
  return at;
}

/** Where a table of thunks is, and the field that points to it. */
interface ThunksAt {
  rva: number;
  field: string;
}

function readThunks(
  src: ByteSource,
  loc: ImageLocator,
  thunks: ThunksAt & { budget: ReadBudget },
): ImportedSymbol[] {
  const { rva, field, budget } = thunks;
  const size = loc.format === "PE32+" ? 8 : 4;
  const off = loc.map(rva, size, field);
  const avail = loc.bytesAt(rva);
  const limit = Math.min(avail - (avail % size), (MAX_SYMBOLS + 1) * size);
  const out: ImportedSymbol[] = [];
  // Read in small chunks: most DLLs import a handful of functions.
  const CHUNK = 256 * size;
  let b: Uint8Array = new Uint8Array();
  let base = 0;
  for (let at = 0;; at += size) {
    if (at >= limit) {
      if (limit >= (MAX_SYMBOLS + 1) * size) {
        throw new PeFormatError(field, off, `more than ${MAX_SYMBOLS} thunks`);
      }
      throw new PeFormatError(
        field,
        off,
        "thunk array runs past its section without a terminator",
      );
    }
    if (at - base >= b.length) {
      base = at;
      b = src.read(off + at, Math.min(CHUNK, limit - at));
    }
    const lo = u32(b, at - base);
    const hi = size === 8 ? u32(b, at - base + 4) : 0;
    if (lo === 0 && hi === 0) break;
    if (!budget.addFunction()) {
      throw budget.exceeded(`${field}[${at / size}]`, off + at);
    }
    const byOrdinal = size === 8
      ? (hi & 0x80000000) !== 0
      : (lo & 0x80000000) !== 0;
    if (byOrdinal) {
      out.push({ ordinal: lo & 0xffff });
      continue;
    }
    if (hi !== 0 || lo & 0x80000000) {
      throw new PeFormatError(
        field,
        off + at,
        `thunk ${hex(hi)}:${hex(lo)} is neither an ordinal nor a 31-bit RVA`,
      );
    }
    let entry = budget.hintNames.get(lo);
    if (entry) {
      if (!budget.addName(entry.name.length)) {
        throw budget.exceeded(hintNameField(field, at / size), off + at);
      }
    } else {
      const f = hintNameField(field, at / size);
      const hn = loc.map(lo, 3, f, off + at);
      const max = Math.min(4096, loc.bytesAt(lo + 2));
      entry = {
        hint: u16(need(src, hn, 2, f), 0),
        // Cached by RVA here (hintNames), not by offset again.
        name: budget.name(src, { offset: hn + 2, field: f, max, cache: false }),
      };
      budget.hintNames.set(lo, entry);
    }
    out.push({ hint: entry.hint, name: entry.name });
  }
  return out;
}

/** The field of thunk `index`'s hint/name entry, for errors. */
function hintNameField(field: string, index: number): string {
  return `${field}[${index}] IMAGE_IMPORT_BY_NAME`;
}

/** A DLL name's RVA, the field that holds it and that field's offset. */
interface NameAt {
  rva: number;
  field: string;
  fieldOffset: number;
}

function dllName(
  src: ByteSource,
  loc: ImageLocator,
  at: NameAt & { budget: ReadBudget },
): string {
  const { rva, field, fieldOffset } = at;
  const off = loc.map(rva, 1, field, fieldOffset);
  const max = Math.min(260, loc.bytesAt(rva) - 1);
  const name = at.budget.name(src, { offset: off, field, max });
  if (name === "") throw new PeFormatError(field, off, "empty DLL name");
  return name;
}

/**
 * Reads the import directory in load order. A descriptor whose Name or
 * FirstThunk is 0 ends the table, as for the Windows loader.
 */
export function readImports(
  src: ByteSource,
  h: PeHeaders,
  options: ReadImportsOptions = {},
): ImportedDll[] {
  return importsAt(src, headerLocator(h), options);
}

/** Reads the delay-load import directory. */
export function readDelayImports(
  src: ByteSource,
  h: PeHeaders,
  options: ReadImportsOptions = {},
): ImportedDll[] {
  return delayImportsAt(src, headerLocator(h), options);
}

/**
 * The import directory in load order, then the delay-load directory, of
 * the file `src` as `loc` locates its data, with one budget.
 */
export function readAllImports(
  src: ByteSource,
  loc: ImageLocator,
  options: ReadImportsOptions = {},
): ImportedDll[] {
  const opts = { ...options, budget: options.budget ?? new ReadBudget() };
  return [...importsAt(src, loc, opts), ...delayImportsAt(src, loc, opts)];
}

function importsAt(
  src: ByteSource,
  loc: ImageLocator,
  options: ReadImportsOptions = {},
): ImportedDll[] {
  const t = descriptorTable(src, loc, IMPORT_TABLE);
  if (!t) return [];
  const budget = options.budget ?? new ReadBudget();
  const { base, table } = t;
  const out: ImportedDll[] = [];
  for (let i = 0;; i++) {
    const at = entryAt(t, IMPORT_TABLE, i);
    const f = `${IMPORT_TABLE.field}[${i}]`;
    const lookupRva = u32(table, at);
    const timeDateStamp = u32(table, at + 4);
    const forwarderChain = u32(table, at + 8);
    const nameRva = u32(table, at + 12);
    const iatRva = u32(table, at + 16);
    if (nameRva === 0 || iatRva === 0) break;
    const dll = dllName(src, loc, {
      rva: nameRva,
      field: `${f}.Name`,
      fieldOffset: base + at + 12,
      budget,
    });
    // The IAT must exist in the file even when the lookup table is used.
    loc.map(iatRva, 1, `${f}.FirstThunk`, base + at + 16);
    let symbols: ImportedSymbol[] = [];
    if (options.symbols !== false) {
      symbols = readThunks(src, loc, {
        rva: lookupRva || iatRva,
        field: lookupRva ? `${f}.OriginalFirstThunk` : `${f}.FirstThunk`,
        budget,
      });
      checkForwarderChain(src, loc, {
        timeDateStamp,
        forwarderChain,
        iatRva,
        count: symbols.length,
        field: `${f}.ForwarderChain`,
        offset: base + at + 8,
      });
    }
    out.push({
      dll,
      kind: "static",
      symbols,
      descriptorOffset: base + at,
      nameRva,
      iatRva,
      lookupRva,
      timeDateStamp,
    });
  }
  return out;
}

// Old-style binding chains IAT slots by index; a loop would hang a naive
// loader, so it is a format error.
function checkForwarderChain(
  src: ByteSource,
  loc: ImageLocator,
  c: {
    timeDateStamp: number;
    forwarderChain: number;
    iatRva: number;
    count: number;
    field: string;
    offset: number;
  },
): void {
  if (
    c.timeDateStamp === 0 || c.timeDateStamp === 0xffffffff ||
    c.forwarderChain === 0xffffffff || c.forwarderChain === 0
  ) return;
  const size = loc.format === "PE32+" ? 8 : 4;
  const seen = new Set<number>();
  let index = c.forwarderChain;
  while (index !== 0xffffffff) {
    // An index past the thunks cannot be followed; the loader then rebinds
    // from names, so only a loop is an error.
    if (index >= c.count) return;
    if (seen.has(index)) {
      throw new PeFormatError(c.field, c.offset, `loop at index ${index}`);
    }
    seen.add(index);
    const off = loc.map(c.iatRva + index * size, 4, c.field, c.offset);
    index = u32(src.read(off, 4), 0);
  }
}

function delayImportsAt(
  src: ByteSource,
  loc: ImageLocator,
  options: ReadImportsOptions = {},
): ImportedDll[] {
  const t = descriptorTable(src, loc, DELAY_TABLE);
  if (!t) return [];
  const budget = options.budget ?? new ReadBudget();
  const { base, table } = t;
  const out: ImportedDll[] = [];
  for (let i = 0;; i++) {
    const at = entryAt(t, DELAY_TABLE, i);
    const f = `${DELAY_TABLE.field}[${i}]`;
    const attributes = u32(table, at);
    let nameRva = u32(table, at + 4);
    if (nameRva === 0) break;
    let iatRva = u32(table, at + 12);
    let lookupRva = u32(table, at + 16);
    // Attributes bit 0 clear: the old Visual C++ 6 layout with VAs.
    if ((attributes & 1) === 0) {
      const base32 = Number(loc.imageBase & 0xffffffffn);
      if (loc.format === "PE32+") {
        throw new PeFormatError(
          `${f}.Attributes`,
          base + at,
          "VA-based delay-load descriptor in a PE32+ image",
        );
      }
      nameRva = (nameRva - base32) >>> 0;
      iatRva = iatRva ? (iatRva - base32) >>> 0 : 0;
      lookupRva = lookupRva ? (lookupRva - base32) >>> 0 : 0;
    }
    const dll = dllName(src, loc, {
      rva: nameRva,
      field: `${f}.DllNameRVA`,
      fieldOffset: base + at + 4,
      budget,
    });
    let symbols: ImportedSymbol[] = [];
    if (options.symbols !== false && lookupRva !== 0) {
      symbols = readThunks(src, loc, {
        rva: lookupRva,
        field: `${f}.ImportNameTableRVA`,
        budget,
      });
    }
    out.push({
      dll,
      kind: "delay",
      symbols,
      descriptorOffset: base + at,
      nameRva,
      iatRva,
      lookupRva,
      timeDateStamp: u32(table, at + 28),
    });
  }
  return out;
}

/** Reads the bound import directory (usually in the headers). */
export function readBoundImports(
  src: ByteSource,
  h: PeHeaders,
  options: { budget?: ReadBudget } = {},
): BoundImport[] {
  const budget = options.budget ?? new ReadBudget();
  const dir = directory(h, DIR.BOUND_IMPORT);
  if (dir.rva === 0) return [];
  const field = "IMAGE_BOUND_IMPORT_DESCRIPTOR";
  const dirField = h.dataDirectoryOffset + DIR.BOUND_IMPORT * 8;
  if (dir.size < 8 || dir.size > 0x100000) {
    throw new PeFormatError(field, dirField, `absurd size ${dir.size}`);
  }
  const base = mapRva(h, dir.rva, dir.size, field, dirField);
  const b = need(src, base, dir.size, field);
  const name = (o: number, f: string, at: number): string => {
    if (o >= dir.size) {
      throw new PeFormatError(
        f,
        base + at,
        `name offset ${o} outside the directory`,
      );
    }
    const max = Math.min(260, dir.size - o - 1);
    return budget.name(src, { offset: base + o, field: f, max });
  };
  const out: BoundImport[] = [];
  let at = 0;
  for (;;) {
    if (at + 8 > dir.size) {
      throw new PeFormatError(
        field,
        base + at,
        "runs past its size without a terminator",
      );
    }
    const timeDateStamp = u32(b, at);
    const nameOff = u16(b, at + 4);
    const refs = u16(b, at + 6);
    if (timeDateStamp === 0 && nameOff === 0) break;
    const f = `${field}[${out.length}]`;
    const dll = name(nameOff, `${f}.OffsetModuleName`, at + 4);
    if (at + 8 + refs * 8 > dir.size) {
      throw new PeFormatError(
        `${f}.NumberOfModuleForwarderRefs`,
        base + at + 6,
        `${refs} forwarder refs do not fit in the directory`,
      );
    }
    const forwarders: string[] = [];
    for (let r = 0; r < refs; r++) {
      const ra = at + 8 + r * 8;
      forwarders.push(name(u16(b, ra + 4), `${f}.ForwarderRef[${r}]`, ra + 4));
    }
    out.push({ dll, timeDateStamp, forwarders });
    at += 8 + refs * 8;
  }
  return out;
}
