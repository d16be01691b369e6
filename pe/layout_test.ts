import assert from "node:assert/strict";
import { PeFormatError } from "./errors.ts";
import { DIR, endOfSectionData, readHeaders } from "./headers.ts";
import { DEFAULT_DLL, patchImportsBytes } from "./patch.ts";
import { readPe } from "./reader.ts";
import { removeImportBytes } from "./remove.ts";
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

Deno.test("a COFF symbol table pointer the file does not hold (UPX keeps the linker's when it packs the file) is no symbol table, and the file is read, patched and undone", () => {
  // Windows' loader never reads PointerToSymbolTable: UPX packs a MinGW
  // program smaller, its header still pointing where the symbols were.
  const withSymbols = buildPe({ symbols: 1808 });
  const h0 = readHeaders(bytesSource(withSymbols));
  const stripped = withSymbols.slice(0, endOfSectionData(h0));
  // …and one into section data, whose "string table size" is garbage.
  const inside = buildPe();
  const { peOffset, sections } = readHeaders(bytesSource(inside));
  const code = sections[0].pointerToRawData;
  put32(inside, peOffset + 12, code);
  put32(inside, peOffset + 16, 2);
  put32(inside, code + 2 * 18, 0x7fffffff);
  for (const b of [stripped, inside]) {
    const src = bytesSource(b);
    const h = readHeaders(src);
    assert.notEqual(h.pointerToSymbolTable, 0);
    assert.equal(readSymbolTable(src, h), undefined);
    const patched = patchImportsBytes(b);
    assert.equal(patched.action, "added");
    assert.equal(
      readPe(bytesSource(patched.bytes)).imports[0].dll,
      DEFAULT_DLL,
    );
    assert.deepEqual(removeImportBytes(patched.bytes).bytes, b);
  }
});
