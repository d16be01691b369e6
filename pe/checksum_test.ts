import assert from "node:assert/strict";
import { ChecksumSum, peChecksum } from "./checksum.ts";
import { readHeaders } from "./headers.ts";
import { bytesSource } from "./source.ts";
import { buildPe } from "./_test_pe.ts";
import { windowsDenoExe } from "./_objdump_test_util.ts";

// The textbook loop with an end-around carry after every word.
function reference(b: Uint8Array, at: number): number {
  let sum = 0;
  for (let i = 0; i < b.length; i += 2) {
    if (i === at || i === at + 2) continue;
    sum += b[i] | ((i + 1 < b.length ? b[i + 1] : 0) << 8);
    sum = (sum & 0xffff) + (sum >>> 16);
  }
  return (((sum & 0xffff) + (sum >>> 16)) + b.length) >>> 0;
}

Deno.test("peChecksum() matches the reference algorithm", () => {
  for (const overlay of [0, 1, 3, 1000]) {
    const b = buildPe({
      overlay: new Uint8Array(overlay).map((_, i) => i * 31),
    });
    const at = readHeaders(bytesSource(b)).optionalHeaderOffset + 64;
    assert.equal(peChecksum(b, at), reference(b, at));
    // Unaligned views take the slow path and agree.
    const copy = new Uint8Array(b.length + 1);
    copy.set(b, 1);
    assert.equal(peChecksum(copy.subarray(1), at), reference(b, at));
  }
});

Deno.test({
  name: "peChecksum() reproduces the stored checksum of the Windows deno.exe",
  fn: async () => {
    const b = await Deno.readFile(windowsDenoExe());
    const h = readHeaders(bytesSource(b));
    assert.equal(peChecksum(b, h.optionalHeaderOffset + 64), h.checksum);
  },
});

Deno.test("ChecksumSum gives the same checksum for any split into pieces", () => {
  const b = buildPe({ overlay: new Uint8Array(777).map((_, i) => i * 7) });
  const at = readHeaders(bytesSource(b)).optionalHeaderOffset + 64;
  const want = reference(b, at);
  const zeroed = b.slice();
  zeroed.fill(0, at, at + 4);
  for (const cuts of [[1], [3, 4, 5], [at, at + 4], [101, 1023, 1024, 2047]]) {
    const sum = new ChecksumSum();
    let from = 0;
    for (const to of [...cuts, b.length]) {
      // Unaligned copies too: the offset in the file is what counts.
      const piece = new Uint8Array(to - from + 1).subarray(1);
      piece.set(zeroed.subarray(from, to));
      sum.add(piece, from);
      from = to;
    }
    assert.equal(sum.checksum(b.length), want, `cuts ${cuts}`);
  }
  // All zeros folds to 0; a multiple of 0xffff folds to 0xffff.
  const zeros = new ChecksumSum();
  zeros.add(new Uint8Array(64), 0);
  assert.equal(zeros.checksum(64), 64);
  const ff = new ChecksumSum();
  ff.add(new Uint8Array([0xff, 0xff, 0, 0]), 0);
  assert.equal(ff.checksum(4), 0xffff + 4);
});
