import assert from "node:assert/strict";
import { PeFormatError } from "./errors.ts";
import { readExports } from "./exports.ts";
import { readHeaders } from "./headers.ts";
import { put32 } from "./_read.ts";
import { bytesSource } from "./source.ts";
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
