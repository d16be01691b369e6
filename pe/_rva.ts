// RVA to file offset mapping for the readers (internal): positional for
// brevity at the many call sites; the public form is rvaToOffset().

import { PeFormatError } from "./errors.ts";
import type { PeHeaders, Section } from "./headers.ts";
import { alignUp } from "./_read.ts";

/**
 * The section whose memory range holds `rva`, by binary search: readHeaders
 * guarantees that sections ascend and do not overlap, so only the last one
 * that starts at or below `rva` can hold it. A file may have 65,535
 * sections and hundreds of thousands of RVAs to map.
 */
export function sectionAt(h: PeHeaders, rva: number): Section | undefined {
  const list = h.sections;
  let lo = 0;
  let hi = list.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if (list[mid].virtualAddress <= rva) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found < 0 ? undefined : list[found];
}

/**
 * Size of `s` in memory, as the loader maps it: VirtualSize, or
 * SizeOfRawData when that is 0 (Windows' MiCreateImageFileMap, Wine's
 * map_image_into_view). Raw data past it is not mapped: linkers round raw
 * data to FileAlignment only, packers and editors may leave more.
 */
export function sectionSize(s: Section): number {
  return s.virtualSize || s.sizeOfRawData;
}

/**
 * RVA where the memory of `s` ends: its size rounded up to
 * SectionAlignment, where the next section must start (a section of size 0
 * still takes one unit).
 */
export function sectionEnd(
  h: Pick<PeHeaders, "sectionAlignment">,
  s: Section,
): number {
  return s.virtualAddress +
    alignUp(Math.max(sectionSize(s), 1), h.sectionAlignment);
}

/** Bytes of a disk sector: the unit in which Windows reads raw data. */
const SECTOR = 0x200;
/** The page size of x86, x64 and ARM64 Windows. */
export const PAGE_SIZE = 0x1000;

/**
 * Whether an image of this SectionAlignment is mapped section by section
 * (a page or more), not as the file is (below a page): the loader's rules
 * for raw data, section placement and SizeOfImage differ between the two.
 */
export function mappedByPage(sectionAlignment: number): boolean {
  return sectionAlignment >= PAGE_SIZE;
}

/**
 * File offset of the first byte of `s` in memory. From a page of
 * SectionAlignment up, Windows reads raw data from PointerToRawData rounded
 * down to a sector (XP's MiCreateImageFileMap: StartingSector; Wine's
 * map_image_into_view: sector_align): upack's section at 0x10 starts with
 * the file's "MZ". Below a page the file is mapped as it is.
 */
export function rawStart(
  h: Pick<PeHeaders, "sectionAlignment">,
  s: Section,
): number {
  return mappedByPage(h.sectionAlignment)
    ? s.pointerToRawData - s.pointerToRawData % SECTOR
    : s.pointerToRawData;
}

/** File-backed bytes of `s` from its start (raw data cut to its size). */
function rawInMemory(
  h: Pick<PeHeaders, "sectionAlignment">,
  s: Section,
): number {
  const paged = mappedByPage(h.sectionAlignment);
  // No raw data, or (from a page up) none at 0: Windows zero-fills it.
  const none = s.sizeOfRawData === 0 || (s.pointerToRawData === 0 && paged);
  let raw = s.pointerToRawData - rawStart(h, s) + s.sizeOfRawData;
  // XP's MiCreateImageFileMap backs a page by the file only while its
  // offset is below SizeOfRawData: bytes a sector offset pushes into the
  // next page are zeros.
  if (paged) raw = Math.min(raw, alignUp(s.sizeOfRawData, PAGE_SIZE));
  return none ? 0 : Math.min(raw, sectionSize(s));
}

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
    const s = sectionAt(h, rva);
    if (s && rva + length <= s.virtualAddress + rawInMemory(h, s)) {
      return rawStart(h, s) + (rva - s.virtualAddress);
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
  const s = sectionAt(h, rva);
  if (!s) return 0;
  const end = s.virtualAddress + rawInMemory(h, s);
  return rva < end ? end - rva : 0;
}
