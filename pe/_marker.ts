// The record at the start of heapshift's import section (internal): what
// the patch changed, so that removal can undo exactly that. Version 2 adds
// a copy of the original headers and debug-entry offsets, and a hash of the
// patched headers to tell whether they were edited since.

import type { PeHeaders, Section } from "./headers.ts";
import type { ImportedDll } from "./imports.ts";
import { rvaIn } from "./_edit.ts";
import { sectionAt } from "./_rva.ts";
import type { ByteSource } from "./source.ts";
import { put32, u32 } from "./_read.ts";

// "HSIMP\0", then the version (1 or 2) and 0.
const MAGIC = [0x48, 0x53, 0x49, 0x4d, 0x50, 0x00];
const VERSION = 2;

/** Size of the record of each version; the import descriptors follow it. */
const SIZES: Record<number, number> = { 1: 48, 2: 64 };

/** Size of the record that the patcher writes now. */
export const MARKER_SIZE = SIZES[VERSION];

/** Values from before the patch (file offsets are in patched-file terms). */
export interface Marker {
  /** Version of the record (1: fields only; 2: with the header copy). */
  version: number;
  importRva: number;
  importSize: number;
  /** 0 when the bound import data was overwritten. */
  boundRva: number;
  boundSize: number;
  /** Where our raw data (with its alignment padding) was inserted. */
  insertedAt: number;
  sizeOfImage: number;
  sizeOfHeaders: number;
  /** Bytes the section data moved down to make room for our header. */
  headerShift: number;
  /** Where section data started before it moved. */
  firstRaw: number;
  /** Version 2: {@linkcode headerHash} of the patched headers. */
  headerHash: number;
  /** Version 2: offset in the section of the original `firstRaw` bytes. */
  copyOffset: number;
  /** Version 2: offset in the section of the original debug offsets. */
  debugOffset: number;
  /** Version 2: how many debug offsets are stored. */
  debugCount: number;
  /**
   * Version 2: 1 when the patch named an IAT directory the image did not
   * have (`loaderIatRange`); 0 in records written before it could.
   */
  iatNamed: number;
}

const FIELDS: (Exclude<keyof Marker, "version">)[] = [
  "importRva",
  "importSize",
  "boundRva",
  "boundSize",
  "insertedAt",
  "sizeOfImage",
  "sizeOfHeaders",
  "headerShift",
  "firstRaw",
  "headerHash",
  "copyOffset",
  "debugOffset",
  "debugCount",
  "iatNamed", // the record's last free word, 0 in records before it
];
const V1_FIELDS = 9;

/** Writes the record (the current version) at the start of `b`. */
export function writeMarker(b: Uint8Array, m: Omit<Marker, "version">): void {
  b.set(MAGIC, 0);
  b[6] = VERSION;
  FIELDS.forEach((f, i) => put32(b, 8 + i * 4, m[f]));
}

/** Reads the record at the start of `b`. */
export function readMarker(b: Uint8Array): Marker {
  const m = { version: b[6] } as Marker;
  const n = m.version === 1 ? V1_FIELDS : FIELDS.length;
  FIELDS.forEach((f, i) => (m[f] = i < n ? u32(b, 8 + i * 4) : 0));
  return m;
}

/** The version of the record section `s` starts with, or 0 for none. */
export function markerVersion(src: ByteSource, s: Section): number {
  if (s.sizeOfRawData < SIZES[1]) return 0;
  const head = src.read(s.pointerToRawData, 8);
  if (!MAGIC.every((v, i) => head[i] === v) || head[7] !== 0) return 0;
  const size = SIZES[head[6]];
  return size !== undefined && s.sizeOfRawData >= size ? head[6] : 0;
}

/** Size of the record of `version`. */
export function markerSize(version: number): number {
  return SIZES[version];
}

/**
 * FNV-1a hash of `b` with the 4 bytes at `checksumAt` taken as zero (the
 * checksum depends on the whole file, the headers alone are compared).
 */
export function headerHash(b: Uint8Array, checksumAt: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < b.length; i++) {
    const v = i >= checksumAt && i < checksumAt + 4 ? 0 : b[i];
    h = Math.imul(h ^ v, 0x01000193);
  }
  return h >>> 0;
}

/**
 * The section of ours that holds `d`'s import address table, if heapshift
 * added `d` (the program's code calls through the tables of the DLLs it
 * had, so those never move into our section). Sections do not overlap in
 * memory (readHeaders), so only the one found by binary search can hold
 * it: a walk of the table per DLL made 60,000 sections and 8,191 DLLs take
 * half a minute.
 */
export function addedBy(
  src: ByteSource,
  h: PeHeaders,
  d: ImportedDll,
): Section | undefined {
  const s = sectionAt(h, d.iatRva);
  return s && rvaIn(s, d.iatRva) && markerVersion(src, s) > 0 ? s : undefined;
}
