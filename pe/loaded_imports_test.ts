import assert from "node:assert/strict";
import { DIR, directory, OPT, type PeHeaders } from "./headers.ts";
import { readImports } from "./imports.ts";
import { type FirstImport, planFirstImports } from "./loaded_imports.ts";
import { mappedSource, readMappedHeaders } from "./mapped.ts";
import { u32 } from "./_read.ts";
import { buildPe, DEFAULT_IMPORTS, type SyntheticOptions } from "./_test_pe.ts";
import { imageReader, mapImage } from "./_test_mapped.ts";

const OURS: FirstImport[] = [
  { path: "C:\\tools\\heapshift.dll", ordinal: 1 },
  { path: "probe.dll", ordinal: 0x1234 },
];

/** Maps a synthetic image, plans, places the block at the image's end. */
function rewrite(options: SyntheticOptions, dlls: FirstImport[] = OURS) {
  const file = buildPe(options);
  const image = mapImage(file, 0x10000);
  const src = mappedSource(imageReader(image));
  const before = readMappedHeaders(src);
  const plan = planFirstImports(src, dlls);
  const placed = plan.place(before.sizeOfImage);
  image.set(placed.block.bytes, placed.block.rva);
  image.set(placed.headers.bytes, placed.headers.rva);
  const h = readMappedHeaders(src);
  // The block is in no section; let the reader see it as the loader does.
  const seen: PeHeaders = {
    ...h,
    sections: [...h.sections, {
      ...h.sections[0],
      name: ".block",
      virtualAddress: placed.block.rva,
      virtualSize: 0x10000,
      pointerToRawData: placed.block.rva,
      sizeOfRawData: 0x10000,
    }],
  };
  return { before, h, plan, placed, image, imports: readImports(src, seen) };
}

for (const format of ["PE32", "PE32+"] as const) {
  Deno.test(`${format}: the DLLs come first, by ordinal, then every original import`, () => {
    const { before, h, plan, placed, imports } = rewrite({ format });
    assert.equal(plan.format, format);
    assert.deepEqual(imports.map((d) => d.dll), [
      "C:\\tools\\heapshift.dll",
      "probe.dll",
      ...DEFAULT_IMPORTS.map((d) => d.dll),
    ]);
    assert.deepEqual(imports[0].symbols, [{ ordinal: 1 }]);
    assert.deepEqual(imports[1].symbols, [{ ordinal: 0x1234 }]);
    // The originals are untouched: same names, same thunks.
    assert.deepEqual(
      imports.slice(2).map((d) => d.symbols.length),
      DEFAULT_IMPORTS.map((d) => d.symbols.length),
    );
    assert.deepEqual(directory(h, DIR.IMPORT), {
      rva: placed.block.rva,
      size: 20 * (2 + DEFAULT_IMPORTS.length + 1),
    });
    // The image had an IAT directory: it stays.
    assert.deepEqual(directory(h, DIR.IAT), directory(before, DIR.IAT));
    assert.equal(h.checksum, 0);
    assert.ok(before.checksum !== 0);
    // Nothing else in the headers moved.
    assert.equal(h.sizeOfImage, before.sizeOfImage);
    assert.equal(h.imageBase, before.imageBase);
    assert.deepEqual(
      h.dataDirectories.slice(2, 11),
      before.dataDirectories.slice(2, 11),
    );
  });

  Deno.test(`${format}: a bound import directory is cleared`, () => {
    const { before, h, imports } = rewrite({ format, bound: true });
    assert.ok(directory(before, DIR.BOUND_IMPORT).rva !== 0);
    assert.deepEqual(directory(h, DIR.BOUND_IMPORT), { rva: 0, size: 0 });
    assert.equal(imports[0].dll, "C:\\tools\\heapshift.dll");
  });

  Deno.test(`${format}: an image without imports gets ours and an IAT directory`, () => {
    const { h, placed, imports } = rewrite({ format, imports: [] });
    assert.deepEqual(imports.map((d) => d.dll), OURS.map((d) => d.path));
    assert.deepEqual(directory(h, DIR.IAT), {
      rva: placed.block.rva,
      size: placed.block.bytes.length,
    });
  });
}

Deno.test("the thunks are 4 bytes in PE32 and 8 in PE32+", () => {
  for (const [format, width] of [["PE32", 4], ["PE32+", 8]] as const) {
    const { imports, image } = rewrite({ format }, [OURS[0]]);
    const lookup = imports[0].lookupRva;
    const iat = imports[0].iatRva;
    assert.equal(iat - lookup, 2 * width);
    if (width === 4) {
      assert.equal(u32(image, lookup), 0x8000_0001);
      assert.equal(u32(image, lookup + 4), 0);
    } else {
      assert.equal(u32(image, lookup), 1);
      assert.equal(u32(image, lookup + 4), 0x8000_0000);
      assert.equal(u32(image, lookup + 8), 0);
    }
  }
});

Deno.test("an image naming no IAT gets its import section as one", () => {
  const file = buildPe({ format: "PE32" });
  const image = mapImage(file, 0x10000);
  const src = mappedSource(imageReader(image));
  const h0 = readMappedHeaders(src);
  // Clear the IAT directory, as some linkers leave it.
  image.fill(
    0,
    h0.dataDirectoryOffset + 8 * DIR.IAT,
    h0.dataDirectoryOffset + 8 * DIR.IAT + 8,
  );
  const placed = planFirstImports(src, OURS).place(h0.sizeOfImage);
  image.set(placed.headers.bytes, placed.headers.rva);
  const h = readMappedHeaders(src);
  const section = h.sections.find((s) => s.name === ".rdata")!;
  assert.ok(directory(h0, DIR.IMPORT).rva >= section.virtualAddress);
  assert.deepEqual(directory(h, DIR.IAT), {
    rva: section.virtualAddress,
    size: section.virtualSize,
  });
});

Deno.test("the header bytes cover the NT headers up to the last directory", () => {
  const file = buildPe({ format: "PE32+" });
  const src = mappedSource(imageReader(mapImage(file, 0x1000)));
  const h = readMappedHeaders(src);
  const { headers } = planFirstImports(src, OURS).place(h.sizeOfImage);
  assert.equal(headers.rva, h.peOffset);
  assert.equal(
    headers.rva + headers.bytes.length,
    h.dataDirectoryOffset + 16 * 8,
  );
  assert.equal(
    u32(headers.bytes, h.optionalHeaderOffset - h.peOffset + OPT.CHECKSUM),
    0,
  );
});

Deno.test("a block inside the image or past 4 GiB is refused", () => {
  const src = mappedSource(imageReader(mapImage(buildPe(), 0x1000)));
  const plan = planFirstImports(src, OURS);
  assert.throws(
    () => plan.place(0x1000),
    /not between the image's end and 4 GiB/,
  );
  assert.throws(() => plan.place(0xffff_fff0), /not between/);
});

Deno.test("a runaway import table is a format error", () => {
  // Point the import directory at zero-free bytes: no terminator in sight.
  const file = buildPe({ format: "PE32" });
  const image = mapImage(file, 0x20000);
  const src = mappedSource(imageReader(image));
  const h = readMappedHeaders(src);
  image.fill(0x41, h.sizeOfImage);
  const at = h.dataDirectoryOffset + 8 * DIR.IMPORT;
  image.set([0, 0, 0, 0], at);
  new DataView(image.buffer).setUint32(at, h.sizeOfImage, true);
  assert.throws(
    () => planFirstImports(src, OURS),
    /IMAGE_IMPORT_DESCRIPTOR\[\].*no terminator within 4096 descriptors/,
  );
});
