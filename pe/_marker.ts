// The record at the start of heapshift's import section (internal): what
// the patch changed, so that removal can undo exactly that.

import type { Section } from "./headers.ts";
import { put32, u32 } from "./_read.ts";

// "HSIMP\0" and version 1.
const MAGIC = [0x48, 0x53, 0x49, 0x4d, 0x50, 0x00, 0x01, 0x00];

/** Size of the record; the import descriptors follow it. */
export const MARKER_SIZE = 48;

/** Values from before the patch (file offsets are in patched-file terms). */
export interface Marker {
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
}

const FIELDS: (keyof Marker)[] = [
  "importRva",
  "importSize",
  "boundRva",
  "boundSize",
  "insertedAt",
  "sizeOfImage",
  "sizeOfHeaders",
  "headerShift",
  "firstRaw",
];

/** Writes the record at the start of `b`. */
export function writeMarker(b: Uint8Array, m: Marker): void {
  b.set(MAGIC, 0);
  FIELDS.forEach((f, i) => put32(b, 8 + i * 4, m[f]));
}

/** Reads the record at the start of `b`. */
export function readMarker(b: Uint8Array): Marker {
  const m = {} as Marker;
  FIELDS.forEach((f, i) => (m[f] = u32(b, 8 + i * 4)));
  return m;
}

/** Whether section `s` of `input` starts with our record. */
export function hasMarker(input: Uint8Array, s: Section): boolean {
  if (s.sizeOfRawData < MARKER_SIZE) return false;
  return MAGIC.every((v, i) => input[s.pointerToRawData + i] === v);
}
