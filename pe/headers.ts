/**
 * DOS, COFF and optional headers, data directories and the section table.
 *
 * @module
 */

import { PeFormatError } from "./errors.ts";
import { alignUp, need, u16, u32, u64 } from "./_read.ts";
import {
  bytesAtRva,
  mappedByPage,
  mapRva,
  PAGE_SIZE,
  sectionAt,
  sectionEnd,
  sectionSize,
} from "./_rva.ts";

export { bytesAtRva };
import type { ByteSource } from "./source.ts";

/** Indexes of the data directories that this package reads or changes. */
export const DIR = {
  EXPORT: 0,
  IMPORT: 1,
  RESOURCE: 2,
  EXCEPTION: 3,
  SECURITY: 4,
  BASERELOC: 5,
  DEBUG: 6,
  TLS: 9,
  LOAD_CONFIG: 10,
  BOUND_IMPORT: 11,
  IAT: 12,
  DELAY_IMPORT: 13,
  CLR: 14,
} as const;

/** One data directory: an RVA (a file offset for the security one) and a size. */
export interface DataDirectory {
  /** RVA of the data; for the security directory, a file offset. */
  rva: number;
  /** Size in bytes. */
  size: number;
}

/** One entry of the section table. */
export interface Section {
  /** Name, up to 8 characters (long names of objects are not resolved). */
  name: string;
  /** Index in the section table. */
  index: number;
  /** File offset of this section header. */
  headerOffset: number;
  /** RVA where the section is mapped. */
  virtualAddress: number;
  /** Size in memory. */
  virtualSize: number;
  /** File offset of the raw data. */
  pointerToRawData: number;
  /** Size of the raw data in the file. */
  sizeOfRawData: number;
  /** IMAGE_SCN_* flags. */
  characteristics: number;
}

/** Everything in the headers of a PE image. */
export interface PeHeaders {
  /** Size of the whole file. */
  fileSize: number;
  /** `e_lfanew`: file offset of the "PE\0\0" signature. */
  peOffset: number;
  /** IMAGE_FILE_MACHINE_* value, e.g. 0x8664 for x64. */
  machine: number;
  /** `PE32` (32-bit) or `PE32+` (64-bit). */
  format: "PE32" | "PE32+";
  /** COFF TimeDateStamp. */
  timeDateStamp: number;
  /** File offset of the COFF symbol table, or 0. */
  pointerToSymbolTable: number;
  /** Number of COFF symbols. */
  numberOfSymbols: number;
  /** IMAGE_FILE_* characteristics. */
  characteristics: number;
  /** File offset of the optional header. */
  optionalHeaderOffset: number;
  /** SizeOfOptionalHeader from the COFF header. */
  sizeOfOptionalHeader: number;
  /** Preferred load address. */
  imageBase: bigint;
  /** RVA of the entry point. */
  addressOfEntryPoint: number;
  /** Alignment of sections in memory. */
  sectionAlignment: number;
  /** Alignment of section data in the file. */
  fileAlignment: number;
  /** Size of the mapped image. */
  sizeOfImage: number;
  /** Size of the headers, rounded to the file alignment. */
  sizeOfHeaders: number;
  /** The stored checksum. */
  checksum: number;
  /** IMAGE_SUBSYSTEM_* value. */
  subsystem: number;
  /** IMAGE_DLLCHARACTERISTICS_* flags. */
  dllCharacteristics: number;
  /** The data directories (NumberOfRvaAndSizes of them, at most 16). */
  dataDirectories: DataDirectory[];
  /** File offset of the first data directory. */
  dataDirectoryOffset: number;
  /** File offset of the section table. */
  sectionTableOffset: number;
  /** The section table, in file order. */
  sections: Section[];
}

/** Offsets of optional header fields that the patcher rewrites. */
export const OPT = {
  SIZE_OF_INITIALIZED_DATA: 8,
  SECTION_ALIGNMENT: 32,
  FILE_ALIGNMENT: 36,
  SIZE_OF_IMAGE: 56,
  SIZE_OF_HEADERS: 60,
  CHECKSUM: 64,
} as const;

const IMAGE_FILE_DLL = 0x2000;
/** What to do with a file damaged in its layout. */
const DAMAGED =
  "The file is damaged or was edited: use an intact copy of the program";
/** What Windows does with a file whose layout it refuses, and what to do. */
const REFUSED =
  `Windows refuses to run this file ("not a valid Win32 application"). ${DAMAGED}`;

function isPow2(v: number): boolean {
  return v > 0 && (v & (v - 1)) === 0;
}

/**
 * The DOS header's pointer and the COFF file header: what a file is (its
 * machine, a DLL or a program) before anything else is read.
 */
export interface FileHeader {
  /** `e_lfanew`: file offset of the "PE\0\0" signature. */
  peOffset: number;
  /** IMAGE_FILE_MACHINE_* value, e.g. 0x8664 for x64. */
  machine: number;
  /** NumberOfSections. */
  numberOfSections: number;
  /** COFF TimeDateStamp. */
  timeDateStamp: number;
  /** File offset of the COFF symbol table, or 0. */
  pointerToSymbolTable: number;
  /** Number of COFF symbols. */
  numberOfSymbols: number;
  /** SizeOfOptionalHeader. */
  sizeOfOptionalHeader: number;
  /** IMAGE_FILE_* characteristics. */
  characteristics: number;
}

/**
 * Reads and checks the DOS header and the COFF file header only: enough
 * to tell a DLL from a program and its machine, from the first bytes of a
 * file or of a mapped image. {@linkcode readHeaders} checks everything.
 */
export function readFileHeader(src: ByteSource): FileHeader {
  const dos = need(src, 0, 64, "IMAGE_DOS_HEADER");
  if (dos[0] !== 0x4d || dos[1] !== 0x5a) {
    throw new PeFormatError("IMAGE_DOS_HEADER.e_magic", 0, "not MZ");
  }
  const peOffset = u32(dos, 0x3c);
  if (peOffset < 4 || peOffset > src.size - 24) {
    throw new PeFormatError(
      "IMAGE_DOS_HEADER.e_lfanew",
      0x3c,
      `0x${peOffset.toString(16)} does not point to a PE header in the file`,
    );
  }
  const nt = need(src, peOffset, 24, "IMAGE_NT_HEADERS");
  if (u32(nt, 0) !== 0x00004550) {
    throw new PeFormatError(
      "IMAGE_NT_HEADERS.Signature",
      peOffset,
      "not PE\\0\\0",
    );
  }
  return {
    peOffset,
    machine: u16(nt, 4),
    numberOfSections: u16(nt, 6),
    timeDateStamp: u32(nt, 8),
    pointerToSymbolTable: u32(nt, 12),
    numberOfSymbols: u32(nt, 16),
    sizeOfOptionalHeader: u16(nt, 20),
    characteristics: u16(nt, 22),
  };
}

/** Reads and checks the headers and section table. */
export function readHeaders(src: ByteSource): PeHeaders {
  const {
    peOffset,
    machine,
    numberOfSections,
    timeDateStamp,
    pointerToSymbolTable,
    numberOfSymbols,
    sizeOfOptionalHeader,
    characteristics,
  } = readFileHeader(src);
  const coff = peOffset + 4;
  const opt = coff + 20;
  if (numberOfSections === 0) {
    throw new PeFormatError(
      "IMAGE_FILE_HEADER.NumberOfSections",
      coff + 2,
      "no sections",
    );
  }
  const oh = need(
    src,
    opt,
    sizeOfOptionalHeader,
    "IMAGE_OPTIONAL_HEADER",
  );
  if (sizeOfOptionalHeader < 2) {
    throw new PeFormatError(
      "IMAGE_FILE_HEADER.SizeOfOptionalHeader",
      coff + 16,
      "too small",
    );
  }
  const magic = u16(oh, 0);
  if (magic !== 0x10b && magic !== 0x20b) {
    throw new PeFormatError(
      "IMAGE_OPTIONAL_HEADER.Magic",
      opt,
      `0x${magic.toString(16)} is neither PE32 (0x10b) nor PE32+ (0x20b)`,
    );
  }
  const is64 = magic === 0x20b;
  const fixed = is64 ? 112 : 96;
  if (sizeOfOptionalHeader < fixed) {
    throw new PeFormatError(
      "IMAGE_FILE_HEADER.SizeOfOptionalHeader",
      coff + 16,
      `${sizeOfOptionalHeader} is smaller than the ${fixed} bytes of a ${
        is64 ? "PE32+" : "PE32"
      } optional header`,
    );
  }
  const sectionAlignment = u32(oh, OPT.SECTION_ALIGNMENT);
  const fileAlignment = u32(oh, OPT.FILE_ALIGNMENT);
  if (!isPow2(sectionAlignment)) {
    throw new PeFormatError(
      "IMAGE_OPTIONAL_HEADER.SectionAlignment",
      opt + OPT.SECTION_ALIGNMENT,
      `${sectionAlignment} is not a power of two`,
    );
  }
  if (
    !isPow2(fileAlignment) || fileAlignment > 0x10000 ||
    fileAlignment > sectionAlignment
  ) {
    throw new PeFormatError(
      "IMAGE_OPTIONAL_HEADER.FileAlignment",
      opt + OPT.FILE_ALIGNMENT,
      `${fileAlignment} is not a power of two up to SectionAlignment and 64 KiB`,
    );
  }
  // MiVerifyImageHeader: "Non-driver code must have file alignment set to
  // a multiple of 512", or to SectionAlignment (the low-alignment layout).
  if (fileAlignment % 512 !== 0 && fileAlignment !== sectionAlignment) {
    throw new PeFormatError(
      "IMAGE_OPTIONAL_HEADER.FileAlignment",
      opt + OPT.FILE_ALIGNMENT,
      `0x${
        fileAlignment.toString(16)
      } is neither a multiple of 512 nor SectionAlignment (0x${
        sectionAlignment.toString(16)
      }): ${REFUSED}`,
    );
  }
  const nDirOffset = opt + (is64 ? 108 : 92);
  const numberOfRvaAndSizes = u32(oh, is64 ? 108 : 92);
  if (fixed + numberOfRvaAndSizes * 8 > sizeOfOptionalHeader) {
    throw new PeFormatError(
      "IMAGE_OPTIONAL_HEADER.NumberOfRvaAndSizes",
      nDirOffset,
      `${numberOfRvaAndSizes} directories do not fit in SizeOfOptionalHeader ${sizeOfOptionalHeader}`,
    );
  }
  const dataDirectories: DataDirectory[] = [];
  // The loader ignores directories past the 16 defined ones.
  for (let i = 0; i < Math.min(numberOfRvaAndSizes, 16); i++) {
    dataDirectories.push({
      rva: u32(oh, fixed + i * 8),
      size: u32(oh, fixed + i * 8 + 4),
    });
  }
  const sizeOfImage = u32(oh, OPT.SIZE_OF_IMAGE);
  const sizeOfHeaders = u32(oh, OPT.SIZE_OF_HEADERS);
  const sectionTableOffset = opt + sizeOfOptionalHeader;
  const tableEnd = sectionTableOffset + numberOfSections * 40;
  const table = need(
    src,
    sectionTableOffset,
    numberOfSections * 40,
    "IMAGE_SECTION_HEADER[]",
  );
  if (sizeOfHeaders < tableEnd || sizeOfHeaders > src.size) {
    throw new PeFormatError(
      "IMAGE_OPTIONAL_HEADER.SizeOfHeaders",
      opt + OPT.SIZE_OF_HEADERS,
      `0x${sizeOfHeaders.toString(16)} does not cover the headers (0x${
        tableEnd.toString(16)
      }) or exceeds the file`,
    );
  }
  // Windows maps the headers into the image (MiCreateImageFileMap refuses
  // SizeOfHeaders >= SizeOfImage); from a page of SectionAlignment up the
  // section rules below imply it.
  if (sizeOfHeaders >= sizeOfImage) {
    throw new PeFormatError(
      "IMAGE_OPTIONAL_HEADER.SizeOfImage",
      opt + OPT.SIZE_OF_IMAGE,
      `0x${sizeOfImage.toString(16)} is not above SizeOfHeaders (0x${
        sizeOfHeaders.toString(16)
      }): the image would hold nothing but its headers. ${REFUSED}`,
    );
  }
  const sections: Section[] = [];
  // From a page up, Windows maps the headers, then each section where the
  // one before ends (MiCreateImageFileMap); below a page the file is mapped
  // as it is, each section at its file offset.
  const paged = mappedByPage(sectionAlignment);
  let nextVa = 0;
  for (let i = 0; i < numberOfSections; i++) {
    const at = i * 40;
    const headerOffset = sectionTableOffset + at;
    let name = "";
    for (let j = 0; j < 8 && table[at + j] !== 0; j++) {
      name += String.fromCharCode(table[at + j]);
    }
    const s: Section = {
      name,
      index: i,
      headerOffset,
      virtualSize: u32(table, at + 8),
      virtualAddress: u32(table, at + 12),
      sizeOfRawData: u32(table, at + 16),
      pointerToRawData: u32(table, at + 20),
      characteristics: u32(table, at + 36),
    };
    // Built only for an error: a table may hold 65,535 sections.
    const field = () => `IMAGE_SECTION_HEADER[${i}] (${JSON.stringify(name)})`;
    if (
      s.sizeOfRawData > 0 && s.pointerToRawData + s.sizeOfRawData > src.size
    ) {
      throw new PeFormatError(
        `${field()}.PointerToRawData`,
        headerOffset + 20,
        `raw data 0x${s.pointerToRawData.toString(16)}+0x${
          s.sizeOfRawData.toString(16)
        } runs past the end of the file (0x${src.size.toString(16)})`,
      );
    }
    // From a page up, Windows maps raw data that starts in the headers (a
    // packer's layout, e.g. upack's 0x10; Wine's loader tests record it on
    // every version); below a page each section must lie where it is mapped.
    if (
      !paged && s.sizeOfRawData > 0 && s.pointerToRawData < sizeOfHeaders
    ) {
      throw new PeFormatError(
        `${field()}.PointerToRawData`,
        headerOffset + 20,
        "raw data overlaps the headers",
      );
    }
    // The loader wants sections in ascending, non-overlapping RVA order.
    if (s.virtualAddress < nextVa || s.virtualAddress % sectionAlignment) {
      throw new PeFormatError(
        `${field()}.VirtualAddress`,
        headerOffset + 12,
        `0x${
          s.virtualAddress.toString(16)
        } overlaps the previous section or is unaligned`,
      );
    }
    if (paged) checkMappedAfter(s, { sizeOfHeaders, sectionAlignment, nextVa });
    if (paged && sectionSize(s) === 0) {
      throw new PeFormatError(
        `${field()}.VirtualSize`,
        headerOffset + 8,
        `the section has no size in memory (VirtualSize) nor in the file (SizeOfRawData): ${REFUSED}`,
      );
    }
    nextVa = sectionEnd({ sectionAlignment }, s);
    if (nextVa > 0xffffffff) {
      throw new PeFormatError(
        `${field()}.VirtualSize`,
        headerOffset + 8,
        "section ends beyond 4 GiB",
      );
    }
    sections.push(s);
  }
  // Windows gives the image SizeOfImage rounded up to pages and maps the
  // sections into that (MiCreateImageFileMap): it may stop short of their
  // end by less than a page. Below a page it maps the file as it is into
  // those pages without looking at the sections (XP): it does not refuse
  // the file, but what lies past is missing in memory.
  const pages = alignUp(sizeOfImage, PAGE_SIZE);
  if (pages < nextVa) {
    const why = paged
      ? REFUSED
      : `below a page of SectionAlignment the loader maps the file as it is up to SizeOfImage rounded up to pages, so the sections' bytes from 0x${
        pages.toString(16)
      } on would be missing in memory. ${DAMAGED}`;
    throw new PeFormatError(
      "IMAGE_OPTIONAL_HEADER.SizeOfImage",
      opt + OPT.SIZE_OF_IMAGE,
      `0x${
        sizeOfImage.toString(16)
      } is smaller than the sections, which end at 0x${
        nextVa.toString(16)
      } (0x${
        (alignUp(nextVa, PAGE_SIZE) - PAGE_SIZE + 1).toString(16)
      } at least, rounded up to pages): ${why}`,
    );
  }
  // Pages left over past the last section that make a whole
  // SectionAlignment are refused too (below a page, the file is mapped
  // whole and SizeOfImage only bounds it).
  if (paged && pages - nextVa >= sectionAlignment) {
    // Said in pages: 0x4001 runs past sections ending at 0x4000 by a byte,
    // but takes a whole page more.
    const rounded = pages === sizeOfImage
      ? ""
      : ` (0x${pages.toString(16)} rounded up to pages)`;
    throw new PeFormatError(
      "IMAGE_OPTIONAL_HEADER.SizeOfImage",
      opt + OPT.SIZE_OF_IMAGE,
      `0x${
        sizeOfImage.toString(16)
      }${rounded} runs past the sections, which end at 0x${
        nextVa.toString(16)
      }, by a SectionAlignment (0x${
        sectionAlignment.toString(16)
      }) or more (0x${
        (nextVa + sectionAlignment - PAGE_SIZE).toString(16)
      } at most): ${REFUSED}`,
    );
  }
  return {
    fileSize: src.size,
    peOffset,
    machine,
    format: is64 ? "PE32+" : "PE32",
    timeDateStamp,
    pointerToSymbolTable,
    numberOfSymbols,
    characteristics,
    optionalHeaderOffset: opt,
    sizeOfOptionalHeader,
    imageBase: is64 ? u64(oh, 24) : BigInt(u32(oh, 28)),
    addressOfEntryPoint: u32(oh, 16),
    sectionAlignment,
    fileAlignment,
    sizeOfImage,
    sizeOfHeaders,
    checksum: u32(oh, OPT.CHECKSUM),
    subsystem: u16(oh, 68),
    dllCharacteristics: u16(oh, 70),
    dataDirectories,
    dataDirectoryOffset: opt + fixed,
    sectionTableOffset,
    sections,
  };
}

/**
 * Where section `s` must start when sections are mapped page by page: the
 * headers take SizeOfHeaders rounded up to SectionAlignment, and each
 * section starts where the one before ends. Windows refuses a file that
 * leaves a gap (Wine loads it, leaving the gap unmapped).
 */
function checkMappedAfter(
  s: Section,
  at: { sizeOfHeaders: number; sectionAlignment: number; nextVa: number },
): void {
  const first = s.index === 0;
  const end = first
    ? alignUp(at.sizeOfHeaders, at.sectionAlignment)
    : at.nextVa;
  if (s.virtualAddress === end) return;
  const field = `IMAGE_SECTION_HEADER[${s.index}] (${
    JSON.stringify(s.name)
  }).VirtualAddress`;
  if (first && s.virtualAddress < end) {
    throw new PeFormatError(
      field,
      s.headerOffset + 12,
      "first section overlaps the headers in memory",
    );
  }
  throw new PeFormatError(
    field,
    s.headerOffset + 12,
    `0x${s.virtualAddress.toString(16)} leaves a gap after ${
      first
        ? "the headers, which end at 0x" + end.toString(16) +
          " (SizeOfHeaders rounded up to SectionAlignment)"
        : "the section before, which ends at 0x" + end.toString(16)
    }: Windows maps each section where the one before ends (Wine runs the file anyway). ${REFUSED}`,
  );
}

/** True when the image is a DLL rather than an executable. */
export function isDll(h: Pick<FileHeader, "characteristics">): boolean {
  return (h.characteristics & IMAGE_FILE_DLL) !== 0;
}

/** The data directory `index`, or a zero one when the header has fewer. */
export function directory(h: PeHeaders, index: number): DataDirectory {
  return h.dataDirectories[index] ?? { rva: 0, size: 0 };
}

/**
 * End of the data that sections (and headers) occupy in the file; whatever
 * follows is the overlay.
 */
export function endOfSectionData(h: PeHeaders): number {
  let end = h.sizeOfHeaders;
  for (const s of h.sections) {
    if (s.sizeOfRawData > 0) {
      end = Math.max(end, s.pointerToRawData + s.sizeOfRawData);
    }
  }
  return end;
}

/** Options for {@linkcode rvaToOffset}. */
export interface RvaOptions {
  /** Bytes that must be backed by the file from `rva` on (default 1). */
  length?: number;
  /** Field name for the error message. */
  field?: string;
  /** File offset of the field that held the RVA, for the error. */
  fieldOffset?: number;
}

/**
 * Maps an RVA range to a file offset. Throws a PeFormatError when the
 * range is not backed by bytes of the file.
 */
export function rvaToOffset(
  h: PeHeaders,
  rva: number,
  options: RvaOptions = {},
): number {
  return mapRva(
    h,
    rva,
    options.length ?? 1,
    options.field ?? "RVA",
    options.fieldOffset ?? -1,
  );
}

/** The section containing `rva` in memory, if any. */
export function sectionOfRva(h: PeHeaders, rva: number): Section | undefined {
  const s = sectionAt(h, rva);
  return s && rva < s.virtualAddress + sectionSize(s) ? s : undefined;
}
