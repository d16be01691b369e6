import assert from "node:assert/strict";
import { decodeIni, encodeIni, invalidUtf8At } from "./specialk_encoding.ts";
import { utf16 } from "./specialk_test_utils.ts";

Deno.test("encodings round-trip: UTF-16LE with BOM, UTF-8 with and without BOM", () => {
  for (const encoding of ["utf16le", "utf8bom", "utf8"] as const) {
    const text = "[Über]\r\nKey=välue ✓\r\n";
    const bytes = encodeIni({ text, encoding });
    const back = decodeIni(bytes);
    assert.equal(back.encoding, encoding);
    assert.equal(back.text, text);
  }
  const u16 = encodeIni({ text: "[A]", encoding: "utf16le" });
  assert.deepEqual([...u16.subarray(0, 4)], [0xff, 0xfe, 0x5b, 0]);
});

Deno.test("UTF-16BE with a BOM is decoded and written back as UTF-16BE", () => {
  const bytes = utf16("[Über]\r\nKey=välue ✓\r\n", "be");
  const ini = decodeIni(bytes);
  assert.equal(ini.encoding, "utf16be");
  assert.equal(ini.text, "[Über]\r\nKey=välue ✓\r\n");
  assert.deepEqual(encodeIni(ini), bytes);
});

Deno.test("invalidUtf8At finds the first byte that is not UTF-8", () => {
  const at = (...b: number[]) => invalidUtf8At(new Uint8Array(b));
  assert.equal(
    at(0x41, 0xc3, 0xa9, 0xe2, 0x9c, 0x93, 0xf0, 0x9f, 0x98, 0x80),
    undefined,
  );
  assert.equal(at(0x41, 0xe9, 0x42), 1, "cp1252 é");
  assert.equal(at(0xc0, 0xaf), 0, "overlong /");
  assert.equal(at(0xe0, 0x80, 0xaf), 0, "overlong, 3 bytes");
  assert.equal(at(0xed, 0xa0, 0x80), 0, "UTF-8 of a surrogate");
  assert.equal(at(0xf4, 0x90, 0x80, 0x80), 0, "past U+10FFFF");
  assert.equal(at(0x41, 0xe2, 0x9c), 1, "truncated at the end");
  assert.equal(at(0x80), 0, "a lone continuation byte");
});

Deno.test("decodeIni: what cannot be written back unchanged is refused, saying why", () => {
  const cases: [number[], RegExp][] = [
    [[0x5b, 0x41, 0x5d, 0x0a, 0x00], /not a text file.*0x00.*character 5/],
    [[0xff, 0xfe, 0x5b, 0x00, 0x01, 0x00], /not a text file.*0x01.*offset 4/],
    [[0xef, 0xbb, 0xbf, 0x41, 0xff], /UTF-8 byte-order mark.*0xFF at offset 4/],
    [[0x5b, 0, 0x41, 0, 0x5d, 0, 0x0d, 0], /UTF-16 without a byte-order mark/],
    [[0xfe, 0xff, 0, 0x5b, 0], /odd number of bytes/],
    [[0xfe, 0xff, 0xdc, 0x00], /unpaired surrogate/],
  ];
  for (const [bytes, pattern] of cases) {
    assert.throws(
      () => decodeIni(new Uint8Array(bytes)),
      pattern,
      String(bytes),
    );
  }
  // Not UTF-8 but text: an 8-bit (ANSI) file, one character per byte.
  const ansi = decodeIni(new Uint8Array([0x41, 0xe9, 0x80, 0x0d, 0x0a]));
  assert.equal(ansi.encoding, "ansi");
  assert.equal(ansi.text, "A\u00e9\u0080\r\n");
  assert.equal(ansi.notUtf8At, 1);
  assert.deepEqual([...encodeIni(ansi)], [0x41, 0xe9, 0x80, 0x0d, 0x0a]);
  assert.equal(decodeIni(new Uint8Array()).encoding, "utf8");
});
