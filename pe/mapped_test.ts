import assert from "node:assert/strict";
import { readExports } from "./exports.ts";
import { readHeaders } from "./headers.ts";
import { mappedSource, readMappedHeaders } from "./mapped.ts";
import { bytesSource } from "./source.ts";
import { buildPe, growRawData } from "./_test_pe.ts";
import { imageReader, mapImage } from "./_test_mapped.ts";

for (const format of ["PE32", "PE32+"] as const) {
  Deno.test(`a loaded ${format} image's exports read as its file's`, () => {
    const file = buildPe({
      format,
      exports: { dll: "k.dll", names: ["LoadLibraryW", "FreeLibrary"] },
      // COFF symbols lie past SizeOfImage: only a file has them.
      symbols: 2000,
    });
    const image = mapImage(file);
    const src = mappedSource(imageReader(image));
    const h = readMappedHeaders(src);
    assert.equal(h.format, format);
    assert.equal(h.machine, format === "PE32" ? 0x14c : 0x8664);
    const fromFile = bytesSource(file);
    assert.deepEqual(
      readExports(src, h),
      readExports(fromFile, readHeaders(fromFile)),
    );
    for (const s of h.sections) {
      assert.equal(s.pointerToRawData, s.virtualAddress);
    }
  });
}

Deno.test("reading a mapped image never reaches past what the reader gives", () => {
  const image = mapImage(buildPe({ exports: { dll: "k.dll", names: ["f"] } }));
  // Headers only: the export directory's section is not there.
  const src = mappedSource(imageReader(image.slice(0, 0x1000)));
  assert.throws(() => readExports(src, readMappedHeaders(src)), RangeError);
});

Deno.test("a mapped source reads whole pages, each once, and joins them", () => {
  const image = new Uint8Array(0x3000).map((_, i) => i & 0xff);
  const asked: number[] = [];
  const src = mappedSource((rva, length) => {
    asked.push(rva);
    assert.equal(length, 0x1000);
    return image.subarray(rva, rva + length);
  });
  assert.deepEqual(src.read(0x10, 4), image.subarray(0x10, 0x14));
  assert.deepEqual(src.read(0xffe, 0x1004), image.subarray(0xffe, 0x2002));
  assert.deepEqual(src.read(0x20, 1), image.subarray(0x20, 0x21));
  assert.deepEqual(asked, [0, 0x1000, 0x2000]);
});

Deno.test("a loaded image's sections span what the loader maps, not their raw data", () => {
  const b = growRawData(buildPe(), { index: 0, extra: 0x1000 });
  const h = readMappedHeaders(mappedSource(imageReader(mapImage(b))));
  // .text: VirtualSize 1, 0x1200 bytes of raw data, one page in memory.
  assert.deepEqual(
    h.sections.map((s) => [s.virtualAddress, s.sizeOfRawData]),
    [[0x1000, 0x1000], [0x2000, 0x1000], [0x3000, 0x1000]],
  );
});

Deno.test("a loaded image whose section's raw data starts in the headers (a packer's layout) reads as its file", () => {
  // upack's layout, which Windows loads: .text's raw data at 0x10, mapped
  // from the file's first sector.
  const file = buildPe({ exports: { dll: "k.dll", names: ["f", "g"] } });
  const text = readHeaders(bytesSource(file)).sections[0];
  const v = new DataView(file.buffer);
  v.setUint32(text.headerOffset + 8, 0x200, true); // VirtualSize
  v.setUint32(text.headerOffset + 16, 0x1f0, true); // SizeOfRawData
  v.setUint32(text.headerOffset + 20, 0x10, true); // PointerToRawData
  const image = mapImage(file);
  // The section starts with the file's "MZ", as Windows maps it.
  assert.deepEqual([...image.subarray(0x1000, 0x1002)], [0x4d, 0x5a]);
  const src = mappedSource(imageReader(image));
  const h = readMappedHeaders(src);
  const fromFile = bytesSource(file);
  const fileHeaders = readHeaders(fromFile);
  assert.deepEqual(readExports(src, h), readExports(fromFile, fileHeaders));
  assert.equal(h.sections[0].pointerToRawData, 0x1000);
});
