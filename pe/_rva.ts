// RVA to file offset mapping for the readers (internal): positional for
// brevity at the many call sites; the public form is rvaToOffset().

import { PeFormatError } from "./errors.ts";
import type { PeHeaders } from "./headers.ts";

/**
 * Maps an RVA range to a file offset. Throws a PeFormatError naming `field`
 * when the range is not backed by bytes of the file.
 */
export function mapRva(
  h: PeHeaders,
  rva: number,
  length: number,
  field: string,
  fieldOffset = -1,
): number {
  if (rva < h.sizeOfHeaders) {
    if (rva + length <= h.sizeOfHeaders) return rva;
  } else {
    for (const s of h.sections) {
      if (rva < s.virtualAddress) break;
      const raw = s.virtualSize > 0
        ? Math.min(s.sizeOfRawData, s.virtualSize)
        : s.sizeOfRawData;
      if (rva + length <= s.virtualAddress + raw) {
        return s.pointerToRawData + (rva - s.virtualAddress);
      }
    }
  }
  throw new PeFormatError(
    field,
    fieldOffset,
    `RVA 0x${rva.toString(16)} (+${length}) is not backed by data in the file`,
  );
}

/**
 * How many file-backed bytes follow `rva` in its section (or the headers);
 * 0 when the RVA is not backed by the file.
 */
export function bytesAtRva(h: PeHeaders, rva: number): number {
  if (rva < h.sizeOfHeaders) return h.sizeOfHeaders - rva;
  for (const s of h.sections) {
    if (rva < s.virtualAddress) break;
    const raw = s.virtualSize > 0
      ? Math.min(s.sizeOfRawData, s.virtualSize)
      : s.sizeOfRawData;
    if (rva < s.virtualAddress + raw) return s.virtualAddress + raw - rva;
  }
  return 0;
}
