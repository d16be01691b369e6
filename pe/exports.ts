/**
 * The export directory.
 *
 * @module
 */

import { PeFormatError } from "./errors.ts";
import { DIR, directory, type PeHeaders } from "./headers.ts";
import { ReadBudget } from "./budget.ts";
import { bytesAtRva, mapRva } from "./_rva.ts";
import { need, u16, u32 } from "./_read.ts";
import type { ByteSource } from "./source.ts";

/** One exported function. */
export interface ExportedSymbol {
  /** The ordinal (Base + index in the address table). */
  ordinal: number;
  /** The name, when exported by name. */
  name?: string;
  /** RVA of the function (0 for a forwarder). */
  rva: number;
  /** For a forwarder, the target such as `NTDLL.RtlAllocateHeap`. */
  forwarder?: string;
}

/** The export directory of an image. */
export interface Exports {
  /** The DLL name recorded in the directory. */
  dll: string;
  /** Ordinal base. */
  base: number;
  /** Exported functions in ordinal order; unused slots are left out. */
  symbols: ExportedSymbol[];
}

/** Most address-table entries we accept (ordinals are 16-bit). */
export const MAX_EXPORTS = 65536;

/** Options for {@linkcode readExports}. */
export interface ReadExportsOptions {
  /** The budget of the whole read of the file (default: a new one). */
  budget?: ReadBudget;
}

/** The fields of IMAGE_EXPORT_DIRECTORY the readers use. */
interface ExportDirectory {
  /** File offset of the directory. */
  off: number;
  nameRva: number;
  base: number;
  nFunctions: number;
  nNames: number;
  functionsRva: number;
  namesRva: number;
  ordinalsRva: number;
}

const FIELD = "IMAGE_EXPORT_DIRECTORY";

/** The export directory's header, checked; undefined when there is none. */
function exportDirectory(
  src: ByteSource,
  h: PeHeaders,
): ExportDirectory | undefined {
  const dir = directory(h, DIR.EXPORT);
  if (dir.rva === 0) return undefined;
  const off = mapRva(
    h,
    dir.rva,
    40,
    FIELD,
    h.dataDirectoryOffset + DIR.EXPORT * 8,
  );
  const d = need(src, off, 40, FIELD);
  const e = {
    off,
    nameRva: u32(d, 12),
    base: u32(d, 16),
    nFunctions: u32(d, 20),
    nNames: u32(d, 24),
    functionsRva: u32(d, 28),
    namesRva: u32(d, 32),
    ordinalsRva: u32(d, 36),
  };
  if (e.nFunctions > MAX_EXPORTS) {
    throw new PeFormatError(
      `${FIELD}.NumberOfFunctions`,
      off + 20,
      `absurd count ${e.nFunctions}`,
    );
  }
  if (e.nNames > e.nFunctions) {
    throw new PeFormatError(
      `${FIELD}.NumberOfNames`,
      off + 24,
      `${e.nNames} names for ${e.nFunctions} functions`,
    );
  }
  return e;
}

/**
 * The NUL-terminated name at `rva` (at most `max` bytes, and never past the
 * section or image it is in); `field` and `at` (the file offset of the
 * pointer to it) name it in an error.
 */
function nameAtRva(
  src: ByteSource,
  h: PeHeaders,
  ref: {
    rva: number;
    field: string;
    at: number;
    max?: number;
    budget: ReadBudget;
  },
): string {
  const offset = mapRva(h, ref.rva, 1, ref.field, ref.at);
  const max = Math.min(ref.max ?? 4096, bytesAtRva(h, ref.rva) - 1);
  return ref.budget.name(src, { offset, field: ref.field, max });
}

/**
 * Whether the image exports `name`, found as the loader's `GetProcAddress`
 * finds it: by binary search of the sorted name table. Reads a few names,
 * not the whole table (a module in another process is read a page at a
 * time).
 */
export function exportsName(
  src: ByteSource,
  h: PeHeaders,
  name: string,
): boolean {
  const e = exportDirectory(src, h);
  if (!e?.nNames) return false;
  const field = `${FIELD}.AddressOfNames`;
  const nOff = mapRva(h, e.namesRva, e.nNames * 4, field, e.off + 32);
  const budget = new ReadBudget();
  const nameAt = (i: number): string =>
    nameAtRva(src, h, {
      rva: u32(need(src, nOff + i * 4, 4, field), 0),
      field: `${field}[${i}]`,
      at: nOff + i * 4,
      budget,
    });
  for (let lo = 0, hi = e.nNames - 1; lo <= hi;) {
    const mid = (lo + hi) >>> 1;
    const at = nameAt(mid);
    if (at === name) return true;
    if (at < name) lo = mid + 1;
    else hi = mid - 1;
  }
  return false;
}

/** Reads the export directory, or returns undefined when there is none. */
export function readExports(
  src: ByteSource,
  h: PeHeaders,
  options: ReadExportsOptions = {},
): Exports | undefined {
  const budget = options.budget ?? new ReadBudget();
  const e = exportDirectory(src, h);
  if (!e) return undefined;
  const dir = directory(h, DIR.EXPORT);
  const field = FIELD;
  const {
    off,
    nameRva,
    base,
    nFunctions,
    nNames,
    functionsRva,
    namesRva,
    ordinalsRva,
  } = e;
  const str = (rva: number, f: string, at: number, max?: number): string =>
    nameAtRva(src, h, { rva, field: f, at, max, budget });
  const dll = nameRva ? str(nameRva, `${field}.Name`, off + 12, 260) : "";
  const fnOff = nFunctions
    ? mapRva(
      h,
      functionsRva,
      nFunctions * 4,
      `${field}.AddressOfFunctions`,
      off + 28,
    )
    : 0;
  const fns = nFunctions
    ? src.read(fnOff, nFunctions * 4).slice()
    : new Uint8Array();
  const names = new Map<number, string>();
  if (nNames) {
    const nOff = mapRva(
      h,
      namesRva,
      nNames * 4,
      `${field}.AddressOfNames`,
      off + 32,
    );
    const oOff = mapRva(
      h,
      ordinalsRva,
      nNames * 2,
      `${field}.AddressOfNameOrdinals`,
      off + 36,
    );
    const nb = src.read(nOff, nNames * 4).slice();
    const ob = src.read(oOff, nNames * 2).slice();
    for (let i = 0; i < nNames; i++) {
      const index = u16(ob, i * 2);
      if (index >= nFunctions) {
        throw new PeFormatError(
          `${field}.AddressOfNameOrdinals[${i}]`,
          oOff + i * 2,
          `index ${index} outside the ${nFunctions} functions`,
        );
      }
      names.set(
        index,
        str(u32(nb, i * 4), `${field}.AddressOfNames[${i}]`, nOff + i * 4),
      );
    }
  }
  const symbols: ExportedSymbol[] = [];
  for (let i = 0; i < nFunctions; i++) {
    const rva = u32(fns, i * 4);
    if (rva === 0) continue;
    const sym: ExportedSymbol = { ordinal: base + i, rva };
    const name = names.get(i);
    if (name !== undefined) sym.name = name;
    // An address inside the export directory is a forwarder string.
    if (rva >= dir.rva && rva < dir.rva + dir.size) {
      sym.forwarder = str(
        rva,
        `${field}.AddressOfFunctions[${i}]`,
        fnOff + i * 4,
        1024,
      );
      sym.rva = 0;
    }
    symbols.push(sym);
  }
  return { dll, base, symbols };
}
