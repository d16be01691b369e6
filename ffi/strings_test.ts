import nodeAssert from "node:assert/strict";
import { ansi, readWide, wide, wideBytes } from "./strings.ts";

Deno.test("wide() is NUL-terminated UTF-16 and readWide() reverses it", () => {
  const s = "Z:\\work\\Ünïcødé 路径.dll";
  const w = wide(s);
  nodeAssert.equal(w.length, s.length + 1);
  nodeAssert.equal(w[s.length], 0);
  nodeAssert.equal(readWide(new Uint8Array(w.buffer)), s);
  nodeAssert.equal(wideBytes(s).byteLength, 2 * (s.length + 1));
});

Deno.test("readWide stops at NUL or at maxChars", () => {
  const b = new Uint8Array(wide("abc\0def").buffer);
  nodeAssert.equal(readWide(b), "abc");
  nodeAssert.equal(readWide(b, { offset: 8 }), "def");
  nodeAssert.equal(readWide(b, { maxChars: 2 }), "ab");
});

Deno.test("ansi() is NUL-terminated", () => {
  nodeAssert.deepEqual([...ansi("Ab")], [0x41, 0x62, 0]);
});
