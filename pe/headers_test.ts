import assert from "node:assert/strict";
import { PeFormatError } from "./errors.ts";
import {
  bytesAtRva,
  endOfSectionData,
  readHeaders,
  rvaToOffset,
  sectionOfRva,
} from "./headers.ts";
import { put16, put32 } from "./_read.ts";
import { bytesSource } from "./source.ts";
import { readPe } from "./reader.ts";
import { buildPe, growRawData, throwsFormatError } from "./_test_pe.ts";
import { craftPe } from "./_test_crafted.ts";

function headersOf(b: Uint8Array) {
  return readHeaders(bytesSource(b));
}

function formatError(b: Uint8Array, field: RegExp): PeFormatError {
  return throwsFormatError(() => headersOf(b), field);
}

Deno.test("readHeaders() reads PE32+ and PE32", () => {
  for (const format of ["PE32", "PE32+"] as const) {
    const h = headersOf(buildPe({ format }));
    assert.equal(h.format, format);
    assert.equal(h.machine, format === "PE32+" ? 0x8664 : 0x14c);
    assert.deepEqual(h.sections.map((s) => s.name), [
      ".text",
      ".rdata",
      ".data",
    ]);
    assert.equal(h.sectionAlignment, 0x1000);
    assert.equal(h.fileAlignment, 0x200);
    assert.equal(h.imageBase, format === "PE32+" ? 0x140000000n : 0x400000n);
    assert.equal(h.dataDirectories.length, 16);
    assert.equal(endOfSectionData(h), h.fileSize);
  }
});

Deno.test("rvaToOffset() maps section and header RVAs and rejects unbacked ones", () => {
  const h = headersOf(buildPe());
  const rdata = h.sections[1];
  assert.equal(
    rvaToOffset(h, rdata.virtualAddress + 4, { length: 4 }),
    rdata.pointerToRawData + 4,
  );
  assert.equal(rvaToOffset(h, 0x40, { length: 4 }), 0x40);
  assert.throws(() => rvaToOffset(h, 0x7fff0000, { length: 4 }), PeFormatError);
  // Past the raw data of .text (VirtualSize 1) is zero-fill, not file data.
  assert.throws(
    () => rvaToOffset(h, h.sections[0].virtualAddress + 8, { length: 4 }),
    PeFormatError,
  );
  assert.equal(bytesAtRva(h, 0x7fff0000), 0);
});

Deno.test("readHeaders() names the field and offset of malformed headers", () => {
  const good = buildPe();
  const peOffset = 0x80;
  const opt = peOffset + 24;

  formatError(good.slice(0, 10), /IMAGE_DOS_HEADER/);
  let b = good.slice();
  b[0] = 0x5a;
  assert.equal(formatError(b, /e_magic/).offset, 0);

  b = good.slice();
  put32(b, 0x3c, 0x7ffffff0);
  assert.equal(formatError(b, /e_lfanew/).offset, 0x3c);

  b = good.slice();
  b[peOffset] = 0x45;
  assert.equal(formatError(b, /Signature/).offset, peOffset);

  b = good.slice();
  put16(b, opt, 0x107);
  const e = formatError(b, /Magic/);
  assert.equal(e.offset, opt);
  assert.match(e.message, /0x98/);

  b = good.slice();
  put32(b, opt + 36, 0x300);
  formatError(b, /FileAlignment/);

  b = good.slice();
  put32(b, opt + (0x70 - 4), 0x1000); // NumberOfRvaAndSizes
  formatError(b, /NumberOfRvaAndSizes/);

  b = good.slice();
  put16(b, peOffset + 6, 0xffff); // NumberOfSections
  formatError(b, /IMAGE_SECTION_HEADER/);

  // A section whose raw data runs past the end of the file.
  formatError(good.slice(0, good.length - 0x100), /PointerToRawData/);

  b = good.slice();
  put32(b, opt + 56, 0x1000); // SizeOfImage
  formatError(b, /SizeOfImage/);

  // The loader never reads PointerToSymbolTable (layout_test: a stale one).
  b = good.slice();
  put32(b, peOffset + 12, good.length - 4);
  put32(b, peOffset + 16, 100);
  assert.equal(headersOf(b).pointerToSymbolTable, good.length - 4);
});

Deno.test("an empty file is said to be empty, a short one where it ends", () => {
  assert.equal(
    formatError(new Uint8Array(0), /IMAGE_DOS_HEADER/).message,
    "IMAGE_DOS_HEADER at 0x0: the file is empty",
  );
  assert.equal(
    formatError(new Uint8Array(10), /IMAGE_DOS_HEADER/).message,
    "IMAGE_DOS_HEADER at 0x0: needs 64 bytes but the file ends at 0xa",
  );
});

Deno.test("readHeaders() rejects overlapping sections", () => {
  const b = buildPe();
  const h = headersOf(b);
  put32(b, h.sections[2].headerOffset + 12, h.sections[1].virtualAddress);
  formatError(b, /VirtualAddress/);
});

Deno.test("raw data past a section's VirtualSize rounded to SectionAlignment is read as the loader maps it", () => {
  // The loader maps VirtualSize (SizeOfRawData when that is 0) rounded to
  // SectionAlignment, and no more of the raw data: a valid file.
  const original = buildPe();
  for (const index of [0, 2]) {
    const b = growRawData(original, { index, extra: 0x1000 });
    const h = headersOf(b);
    assert.equal(h.sections[index].sizeOfRawData, 0x1200);
    for (const s of h.sections) {
      assert.equal(sectionOfRva(h, s.virtualAddress), s);
    }
    // .text's VirtualSize is 1: the rest of its page is zero-fill.
    assert.equal(sectionOfRva(h, h.sections[0].virtualAddress + 1), undefined);
    assert.equal(bytesAtRva(h, h.sections[0].virtualAddress), 1);
    const rdata = h.sections[1];
    assert.equal(
      rvaToOffset(h, rdata.virtualAddress + 4, { length: 4 }),
      rdata.pointerToRawData + 4,
    );
    assert.deepEqual(
      readPe(bytesSource(b)).imports.map((d) => d.dll),
      readPe(bytesSource(original)).imports.map((d) => d.dll),
    );
  }
  // With VirtualSize 0 the raw data is the size in memory: now too large.
  const b = growRawData(original, { index: 0, extra: 0x1000 });
  put32(b, headersOf(b).sections[0].headerOffset + 8, 0);
  formatError(b, /\[1\].*VirtualAddress/);
});

Deno.test("readHeaders() refuses a gap between sections, which Windows refuses to load, naming the section", () => {
  // Windows maps the headers, then each section where the one before ends
  // (MiCreateImageFileMap): a section further on makes the file "not a
  // valid Win32 application". Wine loads such a file; Windows does not.
  const b = buildPe();
  const h = headersOf(b);
  const data = h.sections[2];
  put32(b, data.headerOffset + 12, data.virtualAddress + 0x1000);
  put32(b, h.optionalHeaderOffset + 56, h.sizeOfImage + 0x1000);
  const e = formatError(
    b,
    /^IMAGE_SECTION_HEADER\[2\] \("\.data"\)\.VirtualAddress$/,
  );
  assert.equal(e.offset, data.headerOffset + 12);
  assert.match(
    e.problem,
    /^0x4000 leaves a gap after the section before, which ends at 0x3000: /,
  );
  assert.match(
    e.problem,
    /\(Wine runs the file anyway\)\. Windows refuses to run this file/,
  );
  assert.match(e.problem, /use an intact copy of the program$/);
});

Deno.test("readHeaders() refuses a gap between the headers and the first section", () => {
  // The headers take SizeOfHeaders rounded up to SectionAlignment; the
  // first section starts right there.
  const b = buildPe();
  const h = headersOf(b);
  for (const s of h.sections) {
    put32(b, s.headerOffset + 12, s.virtualAddress + 0x1000);
  }
  put32(b, h.optionalHeaderOffset + 56, h.sizeOfImage + 0x1000);
  const e = formatError(
    b,
    /^IMAGE_SECTION_HEADER\[0\] \("\.text"\)\.VirtualAddress$/,
  );
  assert.match(
    e.problem,
    /^0x2000 leaves a gap after the headers, which end at 0x1000 /,
  );
});

Deno.test("readHeaders() takes a SizeOfImage that reaches the sections' end once rounded up to pages, as Windows does", () => {
  // Windows gives an image SizeOfImage rounded up to pages of prototype
  // PTEs and maps each section's VirtualSize rounded up to
  // SectionAlignment into them (MiCreateImageFileMap): a SizeOfImage short
  // of the sections' end by less than a page loads (Wine's loader tests:
  // 0x1f00 for one section ending at 0x2000, on every Windows version).
  const good = buildPe();
  const end = headersOf(good).sizeOfImage;
  const opt = headersOf(good).optionalHeaderOffset;
  for (const sizeOfImage of [end - 0xfff, end - 0x800, end - 1]) {
    const b = good.slice();
    put32(b, opt + 56, sizeOfImage);
    assert.equal(headersOf(b).sizeOfImage, sizeOfImage);
  }
  // A page short is a page of the last section without a PTE: refused.
  const b = good.slice();
  put32(b, opt + 56, end - 0x1000);
  const e = formatError(b, /^IMAGE_OPTIONAL_HEADER\.SizeOfImage$/);
  assert.equal(e.offset, opt + 56);
  assert.match(
    e.problem,
    /^0x3000 is smaller than the sections, which end at 0x4000 \(0x3001 at least, rounded up to pages\): Windows refuses to run this file/,
  );
});

Deno.test("readHeaders() refuses a SizeOfImage past the sections' end by a SectionAlignment or more, as Windows does", () => {
  // Windows refuses prototype PTEs left over past the last section that
  // make a whole SectionAlignment ("not a valid Win32 application").
  const good = buildPe();
  const end = headersOf(good).sizeOfImage;
  const opt = headersOf(good).optionalHeaderOffset;
  const b = good.slice();
  put32(b, opt + 56, end + 0x1000);
  const e = formatError(b, /^IMAGE_OPTIONAL_HEADER\.SizeOfImage$/);
  assert.match(
    e.problem,
    /^0x5000 runs past the sections, which end at 0x4000, by a SectionAlignment \(0x1000\) or more/,
  );
  // Less than a page past, then rounded up to a page: that is the end.
  put32(b, opt + 56, end + 0xfff);
  formatError(b, /SizeOfImage/);
  put32(b, opt + 56, end);
  assert.equal(headersOf(b).sizeOfImage, end);
});

Deno.test("a SizeOfImage a byte past the sections is refused saying it is rounded up to pages, and what the most is", () => {
  // 0x4001 runs past the sections by one byte, not by a SectionAlignment:
  // Windows counts it in pages (0x5000), one page left over.
  const b = buildPe();
  const h = headersOf(b);
  const end = h.sizeOfImage;
  put32(b, h.optionalHeaderOffset + 56, end + 1);
  const e = formatError(b, /^IMAGE_OPTIONAL_HEADER\.SizeOfImage$/);
  assert.match(
    e.problem,
    /^0x4001 \(0x5000 rounded up to pages\) runs past the sections, which end at 0x4000, by a SectionAlignment \(0x1000\) or more \(0x4000 at most\): Windows refuses to run this file/,
  );
  // A larger SectionAlignment leaves more room: the most is a page short.
  const wide = craftPe({
    body: () => ({ bytes: new Uint8Array(16), dirs: {} }),
    sectionAlignment: 0x2000,
  });
  const w = headersOf(wide);
  put32(wide, w.optionalHeaderOffset + 56, w.sizeOfImage + 0x1000);
  assert.equal(headersOf(wide).sizeOfImage, w.sizeOfImage + 0x1000);
  put32(wide, w.optionalHeaderOffset + 56, w.sizeOfImage + 0x1001);
  assert.match(
    formatError(wide, /SizeOfImage/).problem,
    new RegExp(
      `by a SectionAlignment \\(0x2000\\) or more \\(0x${
        (w.sizeOfImage + 0x1000).toString(16)
      } at most\\)`,
    ),
  );
});

Deno.test("readHeaders() refuses a section empty in memory and in the file, which Windows refuses to load", () => {
  // VirtualSize 0 means SizeOfRawData; both 0 is a section of no size,
  // which Windows' image mapper refuses (Wine maps nothing for it).
  const b = buildPe();
  const h = headersOf(b);
  const data = h.sections[2];
  put32(b, data.headerOffset + 8, 0); // VirtualSize
  put32(b, data.headerOffset + 16, 0); // SizeOfRawData
  put32(b, data.headerOffset + 20, 0); // PointerToRawData
  const e = formatError(
    b,
    /^IMAGE_SECTION_HEADER\[2\] \("\.data"\)\.VirtualSize$/,
  );
  assert.equal(e.offset, data.headerOffset + 8);
  assert.match(
    e.problem,
    /^the section has no size in memory \(VirtualSize\) nor in the file \(SizeOfRawData\): Windows refuses to run this file/,
  );
});

Deno.test("readHeaders() refuses a SizeOfHeaders that is not below SizeOfImage, as Windows does", () => {
  // MiCreateImageFileMap: SizeOfHeaders >= SizeOfImage is a bad image.
  // From a page of SectionAlignment up the section rules already imply
  // it; below, the file is mapped as it is and only this rule holds.
  const b = craftPe({
    body: () => ({ bytes: new Uint8Array(16), dirs: {} }),
    sectionAlignment: 0x200,
    sizeOfImage: 0x200,
  });
  const h = readHeaders(bytesSource(craftPe({
    body: () => ({ bytes: new Uint8Array(16), dirs: {} }),
    sectionAlignment: 0x200,
  })));
  assert.equal(h.sizeOfHeaders, 0x200);
  const e = formatError(b, /^IMAGE_OPTIONAL_HEADER\.SizeOfImage$/);
  assert.equal(e.offset, h.optionalHeaderOffset + 56);
  assert.match(
    e.problem,
    /^0x200 is not above SizeOfHeaders \(0x200\): the image would hold nothing but its headers\. Windows refuses to run this file/,
  );
  put32(b, h.optionalHeaderOffset + 56, 0x201);
  assert.equal(headersOf(b).sizeOfImage, 0x201);
});

Deno.test("below a page of SectionAlignment, sections past SizeOfImage are refused saying what Windows does with them", () => {
  // Below a page Windows maps the file as it is, SizeOfImage rounded up to
  // pages of it, and does not look at where the sections end (XP's
  // MiCreateImageFileMap, one subsection): what lies past is not mapped.
  const b = craftPe({
    body: () => ({ bytes: new Uint8Array(0x1200), dirs: {} }),
    sectionAlignment: 0x200,
    sizeOfImage: 0x400,
  });
  const e = formatError(b, /^IMAGE_OPTIONAL_HEADER\.SizeOfImage$/);
  assert.match(
    e.problem,
    /^0x400 is smaller than the sections, which end at 0x1400 \(0x1001 at least, rounded up to pages\): below a page of SectionAlignment the loader maps the file as it is up to SizeOfImage rounded up to pages, so the sections' bytes from 0x1000 on would be missing in memory\. The file is damaged or was edited: use an intact copy of the program$/,
  );
  assert.doesNotMatch(e.problem, /Windows refuses/);
});

Deno.test("readHeaders() takes a section whose raw data starts in the headers, as Windows loads it, and maps it from its 512-byte sector", () => {
  // Packers (upack) put a section's raw data at file offset 0x10 or 0x40,
  // inside the headers: Windows loads such files (Wine's kernel32 loader
  // tests, "the PE image which upack creates", PointerToRawData 0x10 below
  // SizeOfHeaders 0x200, on every version) and maps the section from
  // PointerToRawData rounded down to a 512-byte sector (XP's
  // MiCreateImageFileMap: StartingSector; Wine: sector_align 0x1ff).
  const b = buildPe();
  const h = headersOf(b);
  const text = h.sections[0];
  put32(b, text.headerOffset + 8, 0x200); // VirtualSize
  put32(b, text.headerOffset + 16, 0x1f0); // SizeOfRawData
  put32(b, text.headerOffset + 20, 0x10); // PointerToRawData
  const g = headersOf(b);
  assert.equal(g.sections[0].pointerToRawData, 0x10);
  // The section's first byte in memory is the file's first ("MZ").
  assert.equal(rvaToOffset(g, 0x1000), 0);
  assert.equal(rvaToOffset(g, 0x11ff), 0x1ff);
  assert.equal(bytesAtRva(g, 0x1000), 0x200);
  assert.equal(sectionOfRva(g, 0x1000)?.name, ".text");
  // Imports and the rest read as before.
  const pe = readPe(bytesSource(b));
  assert.deepEqual(
    pe.imports.map((d) => d.dll),
    readPe(bytesSource(buildPe())).imports.map((d) => d.dll),
  );
  // Raw data in the headers by a SizeOfHeaders that covers it: the same.
  const c = buildPe();
  put32(c, h.optionalHeaderOffset + 60, 0x400);
  assert.equal(headersOf(c).sizeOfHeaders, 0x400);
});

Deno.test("a section with raw data at offset 0 is backed by nothing, as Windows zero-fills it", () => {
  // XP's MiCreateImageFileMap makes the PTEs of a section whose
  // PointerToRawData is 0 demand-zero, whatever its SizeOfRawData; Wine
  // maps nothing for it either.
  const b = buildPe();
  const h = headersOf(b);
  const text = h.sections[0];
  put32(b, text.headerOffset + 20, 0); // PointerToRawData
  const g = headersOf(b);
  assert.equal(bytesAtRva(g, text.virtualAddress), 0);
  assert.throws(
    () => rvaToOffset(g, text.virtualAddress),
    /RVA 0x1000 \(\+1\) is not backed by data in the file/,
  );
});

Deno.test("raw data that starts inside its sector is file-backed only in the pages SizeOfRawData reaches, as Windows maps it", () => {
  // XP's MiCreateImageFileMap makes a page of a section file-backed while
  // its offset in the section is below SizeOfRawData, demand-zero past it,
  // whatever PointerToRawData's offset in its sector: raw data at 0x610 of
  // 0x1000 bytes, read from 0x600, holds 0x1010 bytes in the file, but the
  // section's second page is zeros.
  const small = buildPe();
  const h = headersOf(small);
  const b = new Uint8Array(0x1800);
  b.set(small);
  const data = h.sections[2];
  assert.equal(data.virtualAddress, 0x3000);
  put32(b, data.headerOffset + 8, 0x2000); // VirtualSize
  put32(b, data.headerOffset + 16, 0x1000); // SizeOfRawData
  put32(b, data.headerOffset + 20, 0x610); // PointerToRawData
  put32(b, h.optionalHeaderOffset + 56, 0x5000); // SizeOfImage
  const g = headersOf(b);
  assert.equal(rvaToOffset(g, 0x3fff), 0x15ff);
  assert.equal(bytesAtRva(g, 0x3000), 0x1000);
  assert.equal(bytesAtRva(g, 0x4000), 0);
  assert.throws(
    () => rvaToOffset(g, 0x4000),
    /RVA 0x4000 \(\+1\) is not backed by data in the file/,
  );
});

Deno.test("readHeaders() refuses a FileAlignment that is not a multiple of 512 nor SectionAlignment, as Windows does", () => {
  // MiVerifyImageHeader (NT 5 on): "Non-driver code must have file
  // alignment set to a multiple of 512", unless it equals SectionAlignment
  // (the low-alignment layout below a page).
  const body = () => ({ bytes: new Uint8Array(16), dirs: {} });
  const b = craftPe({ body, fileAlignment: 0x40 });
  const e = formatError(b, /^IMAGE_OPTIONAL_HEADER\.FileAlignment$/);
  assert.equal(
    e.offset,
    headersOf(craftPe({ body })).optionalHeaderOffset + 36,
  );
  assert.match(
    e.problem,
    /^0x40 is neither a multiple of 512 nor SectionAlignment \(0x1000\): Windows refuses to run this file/,
  );
});
