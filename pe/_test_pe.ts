// Builds small synthetic PE files for the unit tests (internal).

import assert from "node:assert/strict";
import { alignUp, put16, put32, put64 } from "./_read.ts";
import { peChecksum } from "./checksum.ts";
import { PeFormatError } from "./errors.ts";
import { readHeaders } from "./headers.ts";
import { bytesSource } from "./source.ts";

/**
 * Runs `fn`, which must throw a PeFormatError whose field matches `field`,
 * and returns that error.
 */
export function throwsFormatError(
  fn: () => unknown,
  field: RegExp,
): PeFormatError {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof PeFormatError, `expected PeFormatError, got ${err}`);
  assert.match(err.field, field);
  return err;
}

export interface SyntheticDll {
  dll: string;
  symbols: (string | number)[];
}

export interface SyntheticOptions {
  format?: "PE32" | "PE32+";
  imports?: SyntheticDll[];
  delayImports?: SyntheticDll[];
  /** `forwarders`: names exported as forwarders, to `DLL.function`. */
  exports?: {
    dll: string;
    names: string[];
    forwarders?: Record<string, string>;
  };
  /** Bytes after the sections. */
  overlay?: Uint8Array;
  /** Adds a COFF symbol table with this many symbols before the overlay. */
  symbols?: number;
  /** Appends a certificate table of this many bytes at the end. */
  certificate?: number;
  /** Adds a bound import directory after the section table. */
  bound?: boolean;
  /** Extra empty sections, to fill the header area. */
  extraSections?: number;
  /** Descriptors without OriginalFirstThunk. */
  noLookupTable?: boolean;
  /** Adds a CodeView debug entry. */
  debug?: boolean;
  /** Marks the image a DLL (IMAGE_FILE_DLL). */
  dll?: boolean;
}

export const DEFAULT_IMPORTS: SyntheticDll[] = [
  { dll: "KERNEL32.dll", symbols: ["ExitProcess", "GetModuleHandleA"] },
  { dll: "api-ms-win-crt-heap-l1-1-0.dll", symbols: ["malloc", "free"] },
  { dll: "WS2_32.dll", symbols: [115, "send"] },
];

const SA = 0x1000;
const FA = 0x200;

class Area {
  bytes = new Uint8Array(0x10000);
  used = 0;
  constructor(readonly rva: number) {}
  alloc(size: number, align = 4): number {
    this.used = alignUp(this.used, align);
    const at = this.used;
    this.used += size;
    return at;
  }
  str(s: string): number {
    const at = this.alloc(s.length + 1, 1);
    for (let i = 0; i < s.length; i++) this.bytes[at + i] = s.charCodeAt(i);
    return this.rva + at;
  }
  hintName(s: string, hint: number): number {
    const at = this.alloc(2 + s.length + 1, 2);
    put16(this.bytes, at, hint);
    for (let i = 0; i < s.length; i++) this.bytes[at + 2 + i] = s.charCodeAt(i);
    return this.rva + at;
  }
}

/** Builds a PE image that objdump and the reader accept. */
export function buildPe(o: SyntheticOptions = {}): Uint8Array {
  const is64 = (o.format ?? "PE32+") === "PE32+";
  const thunk = is64 ? 8 : 4;
  const imports = o.imports ?? DEFAULT_IMPORTS;
  const nSections = 3 + (o.extraSections ?? 0);
  const optSize = (is64 ? 112 : 96) + 16 * 8;
  const peOffset = 0x80;
  const tableOffset = peOffset + 24 + optSize;
  const boundAt = tableOffset + nSections * 40;
  const headerEnd = boundAt + (o.bound ? 0x100 : 0);
  const sizeOfHeaders = alignUp(headerEnd, FA);
  const textRva = alignUp(sizeOfHeaders, SA);
  const rdata = new Area(textRva + SA);
  const data = new Area(textRva + 2 * SA);
  const dirs: [number, number][] = Array.from({ length: 16 }, () => [0, 0]);

  const writeThunk = (
    a: Area,
    at: number,
    v: string | number,
    hint: number,
  ) => {
    if (typeof v === "number") {
      if (is64) {
        put32(a.bytes, at, v);
        put32(a.bytes, at + 4, 0x80000000);
      } else put32(a.bytes, at, (0x80000000 | v) >>> 0);
    } else {
      put32(a.bytes, at, rdata.hintName(v, hint));
    }
  };

  // Import directory.
  if (imports.length) {
    const desc = rdata.alloc((imports.length + 1) * 20);
    dirs[1] = [rdata.rva + desc, (imports.length + 1) * 20];
    const iatStart = data.used;
    imports.forEach((d, i) => {
      const n = d.symbols.length + 1;
      const ilt = o.noLookupTable ? -1 : rdata.alloc(n * thunk, 8);
      const iat = data.alloc(n * thunk, 8);
      d.symbols.forEach((s, j) => {
        if (ilt >= 0) writeThunk(rdata, ilt + j * thunk, s, j);
        writeThunk(data, iat + j * thunk, s, j);
      });
      const at = desc + i * 20;
      put32(rdata.bytes, at, ilt >= 0 ? rdata.rva + ilt : 0);
      put32(rdata.bytes, at + 4, o.bound ? 0xffffffff : 0);
      put32(rdata.bytes, at + 12, rdata.str(d.dll));
      put32(rdata.bytes, at + 16, data.rva + iat);
    });
    dirs[12] = [data.rva + iatStart, data.used - iatStart];
  }
  // Delay-load imports.
  if (o.delayImports?.length) {
    const list = o.delayImports;
    const desc = rdata.alloc((list.length + 1) * 32);
    dirs[13] = [rdata.rva + desc, (list.length + 1) * 32];
    list.forEach((d, i) => {
      const n = d.symbols.length + 1;
      const int = rdata.alloc(n * thunk, 8);
      const iat = data.alloc(n * thunk, 8);
      const handle = data.alloc(thunk, 8);
      d.symbols.forEach((s, j) => writeThunk(rdata, int + j * thunk, s, 0));
      const at = desc + i * 32;
      put32(rdata.bytes, at, 1);
      put32(rdata.bytes, at + 4, rdata.str(d.dll));
      put32(rdata.bytes, at + 8, data.rva + handle);
      put32(rdata.bytes, at + 12, data.rva + iat);
      put32(rdata.bytes, at + 16, rdata.rva + int);
    });
  }
  // Exports: every name points at the `ret` in .text.
  if (o.exports) {
    const names = [...o.exports.names].sort();
    const dir = rdata.alloc(40);
    const fns = rdata.alloc(names.length * 4);
    const nameTable = rdata.alloc(names.length * 4);
    const ords = rdata.alloc(names.length * 2, 2);
    put32(rdata.bytes, dir + 12, rdata.str(o.exports.dll));
    put32(rdata.bytes, dir + 16, 1);
    put32(rdata.bytes, dir + 20, names.length);
    put32(rdata.bytes, dir + 24, names.length);
    put32(rdata.bytes, dir + 28, rdata.rva + fns);
    put32(rdata.bytes, dir + 32, rdata.rva + nameTable);
    put32(rdata.bytes, dir + 36, rdata.rva + ords);
    names.forEach((n, i) => {
      const to = o.exports!.forwarders?.[n];
      put32(rdata.bytes, fns + i * 4, to ? rdata.str(to) : textRva);
      put32(rdata.bytes, nameTable + i * 4, rdata.str(n));
      put16(rdata.bytes, ords + i * 2, i);
    });
    dirs[0] = [rdata.rva + dir, rdata.used - dir];
  }
  let debugEntry = -1;
  let debugData = -1;
  if (o.debug) {
    debugEntry = rdata.alloc(28);
    debugData = rdata.alloc(24);
    rdata.bytes.set([0x52, 0x53, 0x44, 0x53], debugData); // "RSDS"
    put32(rdata.bytes, debugEntry + 12, 2);
    put32(rdata.bytes, debugEntry + 16, 24);
    put32(rdata.bytes, debugEntry + 20, rdata.rva + debugData);
    dirs[6] = [rdata.rva + debugEntry, 28];
  }

  const sections = [
    {
      name: ".text",
      rva: textRva,
      bytes: new Uint8Array([0xc3]),
      ch: 0x60000020,
    },
    {
      name: ".rdata",
      rva: rdata.rva,
      bytes: rdata.bytes.slice(0, Math.max(rdata.used, 1)),
      ch: 0x40000040,
    },
    {
      name: ".data",
      rva: data.rva,
      bytes: data.bytes.slice(0, Math.max(data.used, 1)),
      ch: 0xc0000040,
    },
  ];
  for (let i = 0; i < (o.extraSections ?? 0); i++) {
    sections.push({
      name: `.x${i}`,
      rva: textRva + (3 + i) * SA,
      bytes: new Uint8Array([i]),
      ch: 0x40000040,
    });
  }
  let ptr = sizeOfHeaders;
  const raws = sections.map((s) => {
    const r = { ptr, size: alignUp(s.bytes.length, FA) };
    ptr += r.size;
    return r;
  });
  const endSec = ptr;
  const symBytes = o.symbols
    ? (() => {
      const b = new Uint8Array(o.symbols * 18 + 8);
      for (let i = 0; i < o.symbols; i++) {
        b.set([
          0x73,
          0x79,
          0x6d,
          0x30 + (i % 10),
        ], i * 18);
      }
      put32(b, o.symbols * 18, 8);
      b.set([0x61, 0x62, 0x63], o.symbols * 18 + 4);
      return b;
    })()
    : new Uint8Array();
  const overlay = o.overlay ?? new Uint8Array();
  const certAt = alignUp(endSec + symBytes.length + overlay.length, 8);
  const total = o.certificate
    ? certAt + o.certificate
    : endSec + symBytes.length + overlay.length;
  const out = new Uint8Array(total);

  out.set([0x4d, 0x5a], 0);
  put32(out, 0x3c, peOffset);
  put32(out, peOffset, 0x00004550);
  put16(out, peOffset + 4, is64 ? 0x8664 : 0x14c);
  put16(out, peOffset + 6, sections.length);
  if (o.symbols) {
    put32(out, peOffset + 12, endSec);
    put32(out, peOffset + 16, o.symbols);
  }
  put16(out, peOffset + 20, optSize);
  put16(out, peOffset + 22, (is64 ? 0x22 : 0x102) | (o.dll ? 0x2000 : 0));
  const opt = peOffset + 24;
  put16(out, opt, is64 ? 0x20b : 0x10b);
  put32(out, opt + 16, textRva);
  if (is64) put64(out, opt + 24, 0x140000000n);
  else put32(out, opt + 28, 0x400000);
  put32(out, opt + 32, SA);
  put32(out, opt + 36, FA);
  put16(out, opt + 40, 6);
  put16(out, opt + 48, 6);
  put32(out, opt + 56, textRva + sections.length * SA);
  put32(out, opt + 60, sizeOfHeaders);
  put16(out, opt + 68, 3);
  put32(out, opt + (is64 ? 108 : 92), 16);
  const dd = opt + (is64 ? 112 : 96);
  if (o.certificate) dirs[4] = [certAt, o.certificate];
  if (o.bound) {
    // One bound entry per DLL, names right after the entries.
    const n = imports.length;
    let names = (n + 1) * 8;
    imports.forEach((d, i) => {
      put32(out, boundAt + i * 8, 0x12345678);
      put16(out, boundAt + i * 8 + 4, names);
      for (let j = 0; j < d.dll.length; j++) {
        out[boundAt + names + j] = d.dll.charCodeAt(j);
      }
      names += d.dll.length + 1;
    });
    dirs[11] = [boundAt, names];
  }
  dirs.forEach(([rva, size], i) => {
    put32(out, dd + i * 8, rva);
    put32(out, dd + i * 8 + 4, size);
  });
  sections.forEach((s, i) => {
    const at = tableOffset + i * 40;
    for (let j = 0; j < s.name.length; j++) out[at + j] = s.name.charCodeAt(j);
    put32(out, at + 8, s.bytes.length);
    put32(out, at + 12, s.rva);
    put32(out, at + 16, raws[i].size);
    put32(out, at + 20, raws[i].ptr);
    put32(out, at + 36, s.ch);
    out.set(s.bytes, raws[i].ptr);
  });
  if (o.debug) {
    put32(out, raws[1].ptr + debugEntry + 24, raws[1].ptr + debugData);
  }
  out.set(symBytes, endSec);
  out.set(overlay, endSec + symBytes.length);
  if (o.certificate) {
    put32(out, certAt, o.certificate);
    put16(out, certAt + 4, 0x200);
    put16(out, certAt + 6, 2);
  }
  put32(out, opt + 64, peChecksum(out, opt + 64));
  return out;
}

/**
 * The layout checks of Windows' image mapper (MiCreateImageFileMap): the
 * headers, then each section in table order, follow one another in memory
 * with no gap, a section spanning its VirtualSize (its SizeOfRawData when
 * that is 0) rounded up to SectionAlignment; SizeOfImage ends less than a
 * SectionAlignment after the last; the raw data lies inside the file. Wine
 * maps images that break these rules; Windows refuses them as "not a valid
 * Win32 application".
 */
export function windowsMapsIt(b: Uint8Array): void {
  const h = readHeaders(bytesSource(b));
  const sa = h.sectionAlignment;
  const up = (v: number, a: number) => Math.ceil(v / a) * a;
  assert.ok(h.sizeOfHeaders < h.sizeOfImage, "SizeOfHeaders < SizeOfImage");
  let next = up(h.sizeOfHeaders, sa);
  for (const s of h.sections) {
    assert.equal(
      s.virtualAddress,
      next,
      `section ${s.name} at 0x${s.virtualAddress.toString(16)}, not 0x${
        next.toString(16)
      } where the one before ends`,
    );
    next += up(s.virtualSize || s.sizeOfRawData, sa);
    assert.ok(s.pointerToRawData + s.sizeOfRawData <= b.length);
  }
  const pages = up(h.sizeOfImage, 0x1000);
  assert.ok(
    pages >= next && pages - next < sa,
    `SizeOfImage 0x${h.sizeOfImage.toString(16)} for sections ending at 0x${
      next.toString(16)
    }`,
  );
}

/**
 * `b` with section `index`'s raw data grown by `extra` zero bytes (a
 * multiple of FileAlignment), the raw data after it and the COFF symbol
 * table moved down to make room. Raw data may run past a section's
 * VirtualSize rounded to SectionAlignment: the loader maps only that much
 * of it, and the file is as valid as before. For files without debug
 * entries or certificates (their file offsets are not moved).
 */
export function growRawData(
  b: Uint8Array,
  grow: { index: number; extra: number },
): Uint8Array {
  const h = readHeaders(bytesSource(b));
  assert.ok(h.dataDirectories[4].size === 0, "no certificate");
  assert.ok(h.dataDirectories[6].size === 0, "no debug entries");
  const s = h.sections[grow.index];
  const at = s.pointerToRawData + s.sizeOfRawData;
  const out = new Uint8Array(b.length + grow.extra);
  out.set(b.subarray(0, at));
  out.set(b.subarray(at), at + grow.extra);
  put32(out, s.headerOffset + 16, s.sizeOfRawData + grow.extra);
  for (const t of h.sections) {
    if (t.sizeOfRawData > 0 && t.pointerToRawData >= at) {
      put32(out, t.headerOffset + 20, t.pointerToRawData + grow.extra);
    }
  }
  if (h.pointerToSymbolTable >= at) {
    put32(out, h.peOffset + 12, h.pointerToSymbolTable + grow.extra);
  }
  const sum = h.optionalHeaderOffset + 64;
  if (h.checksum !== 0) put32(out, sum, peChecksum(out, sum));
  return out;
}
