import assert from "node:assert/strict";
import { readHeaders } from "./headers.ts";
import { readDelayImports, readImports } from "./imports.ts";
import { bytesSource, FileSource } from "./source.ts";
import { buildPe } from "./_test_pe.ts";

Deno.test("FileSource reads the same bytes as memory, across pages", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const bytes = new Uint8Array(300_000).map((_, i) => (i * 7) & 0xff);
    await Deno.writeFile(`${dir}/f`, bytes);
    using src = FileSource.open(`${dir}/f`);
    assert.equal(src.size, bytes.length);
    for (
      const [o, n] of [[0, 10], [65530, 20], [131000, 70000], [299990, 10]]
    ) {
      assert.deepEqual(src.read(o, n), bytes.subarray(o, o + n));
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("listing imports reads a few pages, not a 40 MB file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const big = buildPe({ overlay: new Uint8Array(40 << 20) });
    await Deno.writeFile(`${dir}/big.exe`, big);
    using src = FileSource.open(`${dir}/big.exe`);
    const h = readHeaders(src);
    const list = [...readImports(src, h), ...readDelayImports(src, h)];
    const mem = bytesSource(big);
    assert.deepEqual(list, readImports(mem, readHeaders(mem)));
    assert.ok(src.bytesRead <= 128 * 1024, `read ${src.bytesRead} bytes`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
