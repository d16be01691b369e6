// Contents of heapshift's import section (internal): the marker, a new
// import directory with the added DLL first, its lookup table, IAT and
// names, and copies of the other DLLs' names and lookup tables.

import type { PeInfo } from "./reader.ts";
import type { ByteSource } from "./source.ts";
import { ascii, unbind } from "./_edit.ts";
import { MARKER_SIZE } from "./_marker.ts";
import { alignUp, put16, put32 } from "./_read.ts";

/** Where things go in the section, and how to write them. */
export interface ImportSection {
  /** Bytes the contents take (before file alignment). */
  size: number;
  /** Offset of the import directory in the section. */
  directoryOffset: number;
  /** Size of the import directory, with its terminator. */
  directorySize: number;
  /** Writes the contents (not the marker) into `sec`, mapped at `va`. */
  write(sec: Uint8Array, va: number): void;
}

// The ordinal flag is the top bit of the thunk (bit 31 or bit 63).
function writeOrdinal(
  b: Uint8Array,
  at: number,
  thunk: { ordinal: number; is64: boolean },
): void {
  if (thunk.is64) {
    put32(b, at, thunk.ordinal);
    put32(b, at + 4, 0x80000000);
  } else {
    put32(b, at, (0x80000000 | thunk.ordinal) >>> 0);
  }
}

/**
 * Lays out the section for adding `dll` (importing `symbol`) in front of
 * the imports of the file `src`.
 */
export function planImportSection(
  src: ByteSource,
  info: PeInfo,
  add: { dll: string; symbol: string | number; warnings: string[] },
): ImportSection {
  const is64 = info.headers.format === "PE32+";
  const thunk = is64 ? 8 : 4;
  const { dll, symbol } = add;
  const imports = info.imports;
  const n = imports.length;
  const descOff = MARKER_SIZE;
  let p = alignUp(descOff + (n + 2) * 20, 8);
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
  // objdump only prints descriptors whose names and lookup tables lie in
  // the section of the import directory, so those are copied here too
  // (the IATs stay where they are: the program's code points at them).
  const nameOffs: number[] = [];
  for (const d of imports) {
    nameOffs.push(p);
    p += d.dll.length + 1;
  }
  // A bound descriptor without a lookup table has lost its names.
  const lookupOffs = imports.map((d) => {
    if (d.timeDateStamp !== 0 && d.lookupRva === 0) return -1;
    p = alignUp(p, 8);
    const at = p;
    p += (d.symbols.length + 1) * thunk;
    return at;
  });
  const hintOffs = imports.map((d, i) =>
    lookupOffs[i] < 0 ? [] : d.symbols.map((sym) => {
      if (sym.name === undefined) return -1;
      const at = p;
      p = alignUp(p + 2 + sym.name.length + 1, 2);
      return at;
    })
  );

  const write = (sec: Uint8Array, va: number): void => {
    put32(sec, descOff, va + iltOff);
    put32(sec, descOff + 12, va + dllOff);
    put32(sec, descOff + 16, va + iatOff);
    imports.forEach((d, i) => {
      const o = descOff + (i + 1) * 20;
      sec.set(src.read(d.descriptorOffset, 20), o);
      sec.set(ascii(d.dll), nameOffs[i]);
      put32(sec, o + 12, va + nameOffs[i]);
      if (lookupOffs[i] >= 0) {
        put32(sec, o, va + lookupOffs[i]);
        d.symbols.forEach((sym, j) => {
          const t = lookupOffs[i] + j * thunk;
          if (sym.name === undefined) {
            writeOrdinal(sec, t, { ordinal: sym.ordinal!, is64 });
            return;
          }
          const hn = hintOffs[i][j];
          put16(sec, hn, sym.hint ?? 0);
          sec.set(ascii(sym.name), hn + 2);
          put32(sec, t, va + hn);
        });
      }
      // Bound imports are cleared: the loader resolves from names.
      unbind(sec, o, { descriptor: d, warnings: add.warnings });
    });
    if (typeof symbol === "string") {
      sec.set(ascii(symbol), hintNameOff + 2);
      put32(sec, iltOff, va + hintNameOff);
      put32(sec, iatOff, va + hintNameOff);
    } else {
      writeOrdinal(sec, iltOff, { ordinal: symbol, is64 });
      writeOrdinal(sec, iatOff, { ordinal: symbol, is64 });
    }
    sec.set(ascii(dll), dllOff);
  };
  return {
    size: p,
    directoryOffset: descOff,
    directorySize: (n + 2) * 20,
    write,
  };
}
