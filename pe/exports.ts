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

/** Reads the export directory, or returns undefined when there is none. */
export function readExports(
  src: ByteSource,
  h: PeHeaders,
  options: ReadExportsOptions = {},
): Exports | undefined {
  const budget = options.budget ?? new ReadBudget();
  const dir = directory(h, DIR.EXPORT);
  if (dir.rva === 0) return undefined;
  const field = "IMAGE_EXPORT_DIRECTORY";
  const off = mapRva(
    h,
    dir.rva,
    40,
    field,
    h.dataDirectoryOffset + DIR.EXPORT * 8,
  );
  const d = need(src, off, 40, field);
  const nameRva = u32(d, 12);
  const base = u32(d, 16);
  const nFunctions = u32(d, 20);
  const nNames = u32(d, 24);
  const functionsRva = u32(d, 28);
  const namesRva = u32(d, 32);
  const ordinalsRva = u32(d, 36);
  if (nFunctions > MAX_EXPORTS) {
    throw new PeFormatError(
      `${field}.NumberOfFunctions`,
      off + 20,
      `absurd count ${nFunctions}`,
    );
  }
  if (nNames > nFunctions) {
    throw new PeFormatError(
      `${field}.NumberOfNames`,
      off + 24,
      `${nNames} names for ${nFunctions} functions`,
    );
  }
  const str = (rva: number, f: string, at: number, max = 4096): string => {
    const o = mapRva(h, rva, 1, f, at);
    const limit = Math.min(max, bytesAtRva(h, rva) - 1);
    return budget.name(src, { offset: o, field: f, max: limit });
  };
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
