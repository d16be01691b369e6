import assert from "node:assert/strict";
import type { PeFormatError } from "./errors.ts";
import { readHeaders } from "./headers.ts";
import { readBoundImports, readDelayImports, readImports } from "./imports.ts";
import { put32 } from "./_read.ts";
import { bytesSource } from "./source.ts";
import { buildPe, DEFAULT_IMPORTS, throwsFormatError } from "./_test_pe.ts";

function importsOf(b: Uint8Array) {
  const src = bytesSource(b);
  return readImports(src, readHeaders(src));
}

function rejects(b: Uint8Array, field: RegExp): PeFormatError {
  return throwsFormatError(() => importsOf(b), field);
}

Deno.test("readImports() lists DLLs in order with names, hints and ordinals", () => {
  for (const format of ["PE32", "PE32+"] as const) {
    const list = importsOf(buildPe({ format }));
    assert.deepEqual(list.map((d) => d.dll), DEFAULT_IMPORTS.map((d) => d.dll));
    assert.deepEqual(list[0].symbols, [
      { hint: 0, name: "ExitProcess" },
      { hint: 1, name: "GetModuleHandleA" },
    ]);
    assert.deepEqual(list[2].symbols, [{ ordinal: 115 }, {
      hint: 1,
      name: "send",
    }]);
    assert.ok(list.every((d) => d.kind === "static" && d.lookupRva !== 0));
  }
});

Deno.test("readImports() uses the IAT when there is no lookup table", () => {
  const list = importsOf(buildPe({ noLookupTable: true }));
  assert.equal(list[0].lookupRva, 0);
  assert.deepEqual(list[1].symbols.map((s) => s.name), ["malloc", "free"]);
});

Deno.test("readImports() can skip the symbols", () => {
  const src = bytesSource(buildPe());
  const list = readImports(src, readHeaders(src), { symbols: false });
  assert.equal(list.length, 3);
  assert.deepEqual(list[0].symbols, []);
});

Deno.test("readImports() returns nothing without an import directory", () => {
  assert.deepEqual(importsOf(buildPe({ imports: [] })), []);
});

Deno.test("readDelayImports() and readBoundImports() read their directories", () => {
  const b = buildPe({
    format: "PE32",
    bound: true,
    delayImports: [{ dll: "dbghelp.dll", symbols: ["SymInitialize", 7] }],
  });
  const src = bytesSource(b);
  const h = readHeaders(src);
  const delay = readDelayImports(src, h);
  assert.equal(delay.length, 1);
  assert.equal(delay[0].kind, "delay");
  assert.equal(delay[0].dll, "dbghelp.dll");
  assert.deepEqual(delay[0].symbols, [{ hint: 0, name: "SymInitialize" }, {
    ordinal: 7,
  }]);
  const bound = readBoundImports(src, h);
  assert.deepEqual(bound.map((x) => x.dll), DEFAULT_IMPORTS.map((d) => d.dll));
  assert.equal(bound[0].timeDateStamp, 0x12345678);
});

Deno.test("readImports() rejects malformed import data with the field at fault", () => {
  const good = buildPe();
  const h = readHeaders(bytesSource(good));
  const desc = importsOf(good)[0].descriptorOffset;

  let b = good.slice();
  put32(b, desc + 12, 0x7fff0000); // Name outside the image
  assert.equal(rejects(b, /\[0\]\.Name/).offset, desc + 12);

  b = good.slice();
  put32(b, desc + 16, 0x7fff0000); // FirstThunk outside
  rejects(b, /FirstThunk/);

  b = good.slice();
  put32(b, h.dataDirectoryOffset + 8, 0x7fff0000); // import directory RVA
  rejects(b, /IMAGE_IMPORT_DESCRIPTOR/);

  // A thunk array that never ends: fill the rest of .rdata with non-zero.
  b = good.slice();
  const rdata = h.sections[1];
  const lookup = importsOf(good)[0].lookupRva - rdata.virtualAddress +
    rdata.pointerToRawData;
  put32(b, rdata.headerOffset + 8, rdata.sizeOfRawData); // VirtualSize = raw
  b.fill(0x01, lookup, rdata.pointerToRawData + rdata.sizeOfRawData);
  rejects(b, /IMAGE_IMPORT_DESCRIPTOR|OriginalFirstThunk/);

  // An unterminated DLL name at the very end of the section.
  b = good.slice();
  put32(b, rdata.headerOffset + 8, rdata.sizeOfRawData);
  b.fill(
    0x41,
    rdata.pointerToRawData + rdata.sizeOfRawData - 8,
    rdata.pointerToRawData + rdata.sizeOfRawData,
  );
  put32(b, desc + 12, rdata.virtualAddress + rdata.sizeOfRawData - 8);
  rejects(b, /Name/);

  // A 64-bit thunk with reserved bits set is neither ordinal nor RVA.
  b = good.slice();
  put32(b, lookup + 4, 0x1);
  rejects(b, /OriginalFirstThunk/);
});

Deno.test("readImports() detects a loop in an old-style forwarder chain", () => {
  const b = buildPe({ format: "PE32" });
  const src = bytesSource(b);
  const h = readHeaders(src);
  const d = readImports(src, h)[0];
  put32(b, d.descriptorOffset + 4, 0x2a2a2a2a); // old-style bound
  put32(b, d.descriptorOffset + 8, 0); // chain starts at slot 0
  // ForwarderChain 0 means "none"; start at 1 and make 1 -> 1.
  put32(b, d.descriptorOffset + 8, 1);
  const data = h.sections[2];
  put32(b, d.iatRva - data.virtualAddress + data.pointerToRawData + 4, 1);
  rejects(b, /ForwarderChain/);
});
