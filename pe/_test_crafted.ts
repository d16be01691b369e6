// Small crafted PE files that amplify: a few hundred KB whose naive reading
// makes millions of names or symbols, plus other images the patcher must
// refuse (internal, for the tests; built in code, never committed).

import { alignUp, put16, put32, put64 } from "./_read.ts";

const SA = 0x1000;
const FA = 0x200;

/** The data section of a crafted image, laid out once its RVA is known. */
export interface CraftedBody {
  /** The section's bytes. */
  bytes: Uint8Array;
  /** Data directories to set: index → [rva, size]. */
  dirs: Record<number, [number, number]>;
}

/** Options for {@linkcode craftPe}. */
export interface CraftOptions {
  /** Lays out the one data section given its RVA. */
  body: (rva: number) => CraftedBody;
  /** Sections without raw data before the data section (default 0). */
  emptySections?: number;
  /** SizeOfImage to store instead of the sections' end. */
  sizeOfImage?: number;
  /**
   * VirtualSize of the data section (default: its bytes' length); more is
   * zero-fill after its bytes.
   */
  dataVirtualSize?: number;
  /** Machine to store (default x64). */
  machine?: number;
  /** SectionAlignment (default 0x1000). */
  sectionAlignment?: number;
  /** FileAlignment (default 0x200). */
  fileAlignment?: number;
}

/** Builds a PE32+ image with `emptySections` empty sections and one data section. */
export function craftPe(o: CraftOptions): Uint8Array {
  const empties = o.emptySections ?? 0;
  const sa = o.sectionAlignment ?? SA;
  const fa = o.fileAlignment ?? FA;
  const peOffset = 0x80;
  const optSize = 112 + 16 * 8;
  const table = peOffset + 24 + optSize;
  const nSections = empties + 1;
  // One free header slot, so that the patcher can add its section.
  const sizeOfHeaders = alignUp(table + (nSections + 1) * 40, fa);
  const firstRva = alignUp(sizeOfHeaders, sa);
  const bodyRva = firstRva + empties * sa;
  const body = o.body(bodyRva);
  const rawSize = alignUp(Math.max(body.bytes.length, 1), fa);
  const out = new Uint8Array(sizeOfHeaders + rawSize);
  out.set([0x4d, 0x5a], 0);
  put32(out, 0x3c, peOffset);
  put32(out, peOffset, 0x00004550);
  put16(out, peOffset + 4, o.machine ?? 0x8664);
  put16(out, peOffset + 6, nSections);
  put16(out, peOffset + 20, optSize);
  put16(out, peOffset + 22, 0x22);
  const opt = peOffset + 24;
  put16(out, opt, 0x20b);
  put64(out, opt + 24, 0x140000000n);
  put32(out, opt + 32, sa);
  put32(out, opt + 36, fa);
  put16(out, opt + 40, 6);
  put16(out, opt + 48, 6);
  const virtualSize = o.dataVirtualSize ?? body.bytes.length;
  const end = bodyRva + alignUp(Math.max(virtualSize, 1), sa);
  put32(out, opt + 56, o.sizeOfImage ?? end);
  put32(out, opt + 60, sizeOfHeaders);
  put16(out, opt + 68, 3);
  put32(out, opt + 108, 16);
  for (const [i, [rva, size]] of Object.entries(body.dirs)) {
    put32(out, opt + 112 + Number(i) * 8, rva);
    put32(out, opt + 112 + Number(i) * 8 + 4, size);
  }
  for (let i = 0; i < empties; i++) {
    const at = table + i * 40;
    out.set([0x2e, 0x65], at); // ".e"
    put32(out, at + 8, 1);
    put32(out, at + 12, firstRva + i * sa);
    put32(out, at + 36, 0x40000040);
  }
  const at = table + empties * 40;
  out.set([0x2e, 0x64, 0x61, 0x74, 0x61], at); // ".data"
  put32(out, at + 8, virtualSize);
  put32(out, at + 12, bodyRva);
  put32(out, at + 16, rawSize);
  put32(out, at + 20, sizeOfHeaders);
  put32(out, at + 36, 0xc0000040);
  out.set(body.bytes, sizeOfHeaders);
  return out;
}

/** Writes `s` as ASCII at `at`. */
function ascii(b: Uint8Array, at: number, s: string): void {
  for (let i = 0; i < s.length; i++) b[at + i] = s.charCodeAt(i);
}

/** Options for {@linkcode importsBody}. */
export interface ImportShape {
  /** The DLL name (default `crafted.dll`). */
  dll?: string;
  /** How many descriptors share the one lookup table. */
  dlls: number;
  /** Entries of the lookup table. */
  thunks: number;
  /**
   * Names of the entries: one string for all of them, or distinct names
   * made by a function of the index.
   */
  name: string | ((i: number) => string);
}

/**
 * An import directory of `dlls` descriptors that all use one lookup table
 * (which is also their IAT) of `thunks` entries.
 */
export function importsBody(shape: ImportShape): (rva: number) => CraftedBody {
  return (rva) => {
    const names = typeof shape.name === "string"
      ? [shape.name]
      : Array.from({ length: shape.thunks }, (_, i) =>
        (shape.name as (i: number) => string)(i));
    const desc = 0;
    const ilt = alignUp((shape.dlls + 1) * 20, 8);
    const dll = shape.dll ?? "crafted.dll";
    const dllName = ilt + (shape.thunks + 1) * 8;
    let p = dllName + dll.length + 1;
    const hintNames = names.map((n) => {
      const at = alignUp(p, 2);
      p = at + 2 + n.length + 1;
      return at;
    });
    const b = new Uint8Array(p);
    ascii(b, dllName, dll);
    names.forEach((n, i) => ascii(b, hintNames[i] + 2, n));
    for (let i = 0; i < shape.thunks; i++) {
      put32(b, ilt + i * 8, rva + hintNames[names.length === 1 ? 0 : i]);
    }
    for (let i = 0; i < shape.dlls; i++) {
      put32(b, desc + i * 20, rva + ilt);
      put32(b, desc + i * 20 + 12, rva + dllName);
      put32(b, desc + i * 20 + 16, rva + ilt);
    }
    return { bytes: b, dirs: { 1: [rva + desc, (shape.dlls + 1) * 20] } };
  };
}

/**
 * An export directory of `count` functions: all named by one string of
 * `nameLength` characters, or (with `forwarders`) all forwarded to one
 * string of that length. A small import directory comes along so that the
 * image can be patched.
 */
export function exportsBody(
  shape: { count: number; nameLength: number; forwarders?: boolean },
): (rva: number) => CraftedBody {
  return (rva) => {
    const { count, nameLength } = shape;
    const imp = importsBody({ dlls: 1, thunks: 1, name: "f" })(rva);
    const dir = alignUp(imp.bytes.length, 8);
    const fns = dir + 40;
    const names = fns + count * 4;
    const ords = names + (shape.forwarders ? 0 : count * 4);
    const str = ords + (shape.forwarders ? 0 : count * 2);
    const b = new Uint8Array(str + nameLength + 1);
    b.set(imp.bytes);
    b.fill(0x41, str, str + nameLength);
    put32(b, dir + 16, 1);
    put32(b, dir + 20, count);
    put32(b, dir + 28, rva + fns);
    // Forwarder strings lie inside the directory; plain exports outside.
    const dirSize = shape.forwarders ? b.length - dir : 40;
    for (let i = 0; i < count; i++) {
      put32(b, fns + i * 4, shape.forwarders ? rva + str : rva);
    }
    if (!shape.forwarders) {
      put32(b, dir + 24, count);
      put32(b, dir + 32, rva + names);
      put32(b, dir + 36, rva + ords);
      for (let i = 0; i < count; i++) {
        put32(b, names + i * 4, rva + str);
        put16(b, ords + i * 2, i);
      }
    }
    return { bytes: b, dirs: { ...imp.dirs, 0: [rva + dir, dirSize] } };
  };
}

/** An amplifying shape: its bytes and the field its error must name. */
export interface Amplifier {
  /** What it is. */
  label: string;
  /** The image. */
  bytes: Uint8Array;
  /** The field a PeFormatError must name. */
  field: RegExp;
  /** Whether listing the imports must fail too (not just patching). */
  inImports: boolean;
}

/** The amplifying shapes of issue 14. */
export function amplifiers(): Amplifier[] {
  const long = "N".repeat(4095);
  const thunkName = /^IMAGE_IMPORT_DESCRIPTOR\[\d+\]\.OriginalFirstThunk/;
  return [
    {
      label: "65,535 lookup entries naming one 4,095-character name",
      bytes: craftPe({
        body: importsBody({ dlls: 1, thunks: 65535, name: long }),
      }),
      field: thunkName,
      inImports: true,
    },
    {
      label: "8,191 descriptors sharing one 65,535-entry lookup table",
      bytes: craftPe({
        body: importsBody({ dlls: 8191, thunks: 65535, name: "f" }),
      }),
      field: thunkName,
      inImports: true,
    },
    {
      label: "65,536 exports named by one 4,095-character string",
      bytes: craftPe({ body: exportsBody({ count: 65536, nameLength: 4095 }) }),
      field: /^IMAGE_EXPORT_DIRECTORY\.AddressOfNames\[\d+\]$/,
      inImports: false,
    },
    {
      label: "65,536 forwarders to one 1,023-character string",
      bytes: craftPe({
        body: exportsBody({ count: 65536, nameLength: 1023, forwarders: true }),
      }),
      field: /^IMAGE_EXPORT_DIRECTORY\.AddressOfFunctions\[\d+\]$/,
      inImports: false,
    },
  ];
}

/**
 * 60,001 sections, the imports (65,535 functions with distinct names) in
 * the last one: every name lookup used to walk the section table.
 */
export function manySections(): Uint8Array {
  return craftPe({
    emptySections: 60000,
    body: importsBody({ dlls: 1, thunks: 65535, name: (i) => `f${i}` }),
  });
}

/**
 * 60,000 sections that all have raw data (the same 512 bytes: raw data
 * may overlap) before a last one that holds 8,191 import descriptors:
 * looking for heapshift's section by walking the section table for each
 * DLL reads 491 million section records.
 */
export function manyDataSections(): Uint8Array {
  const n = 60000;
  const b = craftPe({
    emptySections: n,
    body: importsBody({ dlls: 8191, thunks: 1, name: "f" }),
  });
  const table = 0x80 + 24 + 112 + 16 * 8;
  const raw = alignUp(table + (n + 2) * 40, FA);
  for (let i = 0; i < n; i++) {
    put32(b, table + i * 40 + 16, FA); // SizeOfRawData
    put32(b, table + i * 40 + 20, raw); // PointerToRawData: the data's
  }
  return b;
}

/**
 * An IL-only .NET image: imports mscoree.dll's `_CorExeMain` and has a CLR
 * header with COMIMAGE_FLAGS_ILONLY (or `flags`).
 */
export function dotnetImage(flags = 1): Uint8Array {
  return craftPe({
    body: (rva) => {
      const imp = importsBody({
        dll: "mscoree.dll",
        dlls: 1,
        thunks: 1,
        name: "_CorExeMain",
      })(rva);
      const cor = alignUp(imp.bytes.length, 8);
      const b = new Uint8Array(cor + 72);
      b.set(imp.bytes);
      put32(b, cor, 72); // cb
      put16(b, cor + 4, 2);
      put16(b, cor + 6, 5);
      put32(b, cor + 16, flags);
      return { bytes: b, dirs: { ...imp.dirs, 14: [rva + cor, 72] } };
    },
  });
}
