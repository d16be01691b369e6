import assert from "node:assert/strict";
import { PeFormatError } from "./errors.ts";
import { exportsName, readExports } from "./exports.ts";
import { readHeaders } from "./headers.ts";
import { put32 } from "./_read.ts";
import { type ByteSource, bytesSource } from "./source.ts";
import { buildPe } from "./_test_pe.ts";

Deno.test("readExports() lists names and ordinals", () => {
  const src = bytesSource(
    buildPe({ exports: { dll: "anchor.dll", names: ["b", "a"] } }),
  );
  const e = readExports(src, readHeaders(src));
  assert.ok(e);
  assert.equal(e.dll, "anchor.dll");
  assert.deepEqual(e.symbols.map((s) => [s.ordinal, s.name]), [[1, "a"], [
    2,
    "b",
  ]]);
});

Deno.test("readExports() is undefined without an export directory", () => {
  const src = bytesSource(buildPe());
  assert.equal(readExports(src, readHeaders(src)), undefined);
});

Deno.test("readExports() rejects absurd counts and bad ordinals", () => {
  const good = buildPe({ exports: { dll: "anchor.dll", names: ["a", "b"] } });
  const h = readHeaders(bytesSource(good));
  const dir = h.dataDirectories[0].rva - h.sections[1].virtualAddress +
    h.sections[1].pointerToRawData;
  let b = good.slice();
  put32(b, dir + 20, 0x7fffffff);
  assert.throws(
    () => readExports(bytesSource(b), h),
    (e: unknown) =>
      e instanceof PeFormatError && /NumberOfFunctions/.test(e.field) &&
      e.offset === dir + 20,
  );
  b = good.slice();
  put32(b, dir + 24, 3);
  assert.throws(() => readExports(bytesSource(b), h), PeFormatError);
  b = good.slice();
  const ords = readExports(bytesSource(good), h)!;
  assert.equal(ords.symbols.length, 2);
  const ordTable = good[dir + 36] | (good[dir + 37] << 8);
  b[ordTable - h.sections[1].virtualAddress + h.sections[1].pointerToRawData] =
    9;
  assert.throws(() => readExports(bytesSource(b), h), PeFormatError);
});

Deno.test("exportsName() finds a name by binary search, reading few names", () => {
  const names = Array.from({ length: 120 }, (_, i) => `fn_${1000 + i}`);
  const pe = buildPe({ exports: { dll: "many.dll", names } });
  let reads = 0;
  const counted: ByteSource = {
    size: pe.length,
    read(offset, length) {
      reads++;
      return pe.subarray(offset, offset + length);
    },
  };
  const h = readHeaders(counted);
  for (const name of ["fn_1000", "fn_1057", "fn_1119"]) {
    reads = 0;
    assert.ok(exportsName(counted, h, name), name);
    assert.ok(reads < 40, `${reads} reads for ${name}`);
  }
  for (const name of ["fn_0999", "fn_1120", "fn_12", "", "heapshift_state"]) {
    assert.equal(exportsName(counted, h, name), false, name);
  }
  const none = bytesSource(buildPe());
  assert.equal(exportsName(none, readHeaders(none), "a"), false);
});
