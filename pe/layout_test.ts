import assert from "node:assert/strict";
import { PeFormatError } from "./errors.ts";
import { DIR, readHeaders } from "./headers.ts";
import {
  readCertificate,
  readDebug,
  readOverlay,
  readSymbolTable,
} from "./layout.ts";
import { put32 } from "./_read.ts";
import { bytesSource } from "./source.ts";
import { buildPe } from "./_test_pe.ts";

Deno.test("overlay, symbol table, certificate and debug entries are found", () => {
  const b = buildPe({
    overlay: new Uint8Array(100).fill(7),
    symbols: 3,
    certificate: 64,
    debug: true,
  });
  const src = bytesSource(b);
  const h = readHeaders(src);
  const overlay = readOverlay(h);
  assert.ok(overlay);
  assert.equal(overlay.offset + overlay.size, b.length);
  const sym = readSymbolTable(src, h);
  assert.ok(sym);
  assert.equal(sym.offset, overlay.offset);
  assert.equal(sym.count, 3);
  assert.equal(sym.stringTableSize, 8);
  const cert = readCertificate(h);
  assert.deepEqual(cert, { offset: b.length - 64, size: 64 });
  const debug = readDebug(src, h);
  assert.equal(debug.length, 1);
  assert.equal(debug[0].type, 2);
  assert.deepEqual([
    ...b.subarray(debug[0].pointerToRawData, debug[0].pointerToRawData + 4),
  ], [0x52, 0x53, 0x44, 0x53]);
});

Deno.test("a file without extras has no overlay, symbols or certificate", () => {
  const src = bytesSource(buildPe());
  const h = readHeaders(src);
  assert.equal(readOverlay(h), undefined);
  assert.equal(readSymbolTable(src, h), undefined);
  assert.equal(readCertificate(h), undefined);
  assert.deepEqual(readDebug(src, h), []);
});

Deno.test("a certificate table outside the overlay is a format error", () => {
  const b = buildPe({ certificate: 64 });
  const h0 = readHeaders(bytesSource(b));
  put32(b, h0.dataDirectoryOffset + DIR.SECURITY * 8, 0x400);
  assert.throws(
    () => readCertificate(readHeaders(bytesSource(b))),
    PeFormatError,
  );
});
