import assert from "node:assert/strict";
import { afterCall, returnsInto } from "./_module_threads.ts";

/** Code whose last bytes, before address 0x1000, are `tail`. */
function codeEndingWith(tail: number[]) {
  const bytes = new Uint8Array(0x1000).fill(0x90);
  bytes.set(tail, 0x1000 - tail.length);
  return {
    bytes: (address: bigint, length: number) =>
      bytes.subarray(Number(address), Number(address) + length),
  };
}

Deno.test("afterCall tells a return address by the call before it", () => {
  const calls = [
    [0xe8, 1, 2, 3, 4], // call rel32
    [0xff, 0x15, 1, 2, 3, 4], // call [rip+disp32]
    [0xff, 0xd0], // call rax
    [0x41, 0xff, 0xd3], // call r11
    [0xff, 0x10], // call [rax]
    [0xff, 0x50, 0x08], // call [rax+8]
    [0xff, 0x90, 1, 2, 3, 4], // call [rax+disp32]
    [0xff, 0x54, 0x24, 0x08], // call [rsp+8]
    [0xff, 0x14, 0x25, 1, 2, 3, 4], // call [disp32] (SIB, no base)
  ];
  for (const c of calls) {
    assert.ok(afterCall(codeEndingWith(c), 0x1000n), c.join(","));
  }
  const notCalls = [
    [0x90, 0x90],
    [0xff, 0xe0], // jmp rax
    [0xff, 0x25, 1, 2, 3, 4], // jmp [rip+disp32]
    [0xff, 0x50], // call [rax+disp8] cut short: not a whole instruction
    [0xe9, 1, 2, 3, 4], // jmp rel32
  ];
  for (const c of notCalls) {
    assert.ok(!afterCall(codeEndingWith(c), 0x1000n), c.join(","));
  }
  // Too near the start of the code to hold a call.
  assert.ok(!afterCall({ bytes: () => undefined }, 3n));
});

/** A module whose code is 0x1000..0x2000, with a call before 0x1800. */
function module() {
  const bytes = new Uint8Array(0x1000).fill(0x90);
  bytes.set([0xe8, 1, 2, 3, 4], 0x800 - 5);
  return {
    ranges: [[0x1000n, 0x2000n]] as [bigint, bigint][],
    bytes: (address: bigint, length: number) => {
      const at = Number(address) - 0x1000;
      return at < 0 || at + length > 0x1000
        ? undefined
        : bytes.subarray(at, at + length);
    },
  };
}

interface FakeRegion {
  base: number;
  size: number;
  allocationBase: number;
  state?: number;
  protect?: number;
  /** Words (8 bytes) written at offsets of the region. */
  words?: [number, bigint][];
}

/** A process's memory of `regions`; reads of a guard page are recorded
 * (on Windows they fail and turn the guard off). */
function memoryOf(regions: FakeRegion[]) {
  const touched: string[] = [];
  const find = (a: number) =>
    regions.find((r) => a >= r.base && a < r.base + r.size);
  return {
    touched,
    query(address: bigint) {
      const r = find(Number(address));
      if (!r) return null;
      return {
        base: BigInt(r.base),
        allocationBase: BigInt(r.allocationBase),
        allocationProtect: 4,
        size: BigInt(r.size),
        state: r.state ?? 0x1000,
        protect: r.protect ?? 4,
        type: 0x20000,
      };
    },
    read(address: bigint, length: number) {
      const out = new Uint8Array(length);
      const view = new DataView(out.buffer);
      for (let a = Number(address); a < Number(address) + length;) {
        const r = find(a);
        if (!r || (r.state ?? 0x1000) !== 0x1000) throw new Error("299");
        if ((r.protect ?? 4) & 0x101) {
          touched.push(a.toString(16));
          throw new Error("299");
        }
        for (const [off, value] of r.words ?? []) {
          const at = r.base + off - Number(address);
          if (at >= 0 && at + 8 <= length) view.setBigUint64(at, value, true);
        }
        a = r.base + r.size;
      }
      return out;
    },
  };
}

Deno.test("returnsInto does not read a guard page the stack pointer has moved into, and looks above it", () => {
  // `sub rsp, n` has moved the stack pointer into the guard page, not yet
  // touched: a read there would turn the guard off, and the stack could
  // no longer grow (the program's next stack page is an access violation).
  const memory = memoryOf([
    { base: 0x10000, size: 0x10000, allocationBase: 0x10000, state: 0x2000 },
    { base: 0x20000, size: 0x1000, allocationBase: 0x10000, protect: 0x104 },
    {
      base: 0x21000,
      size: 0xf000,
      allocationBase: 0x10000,
      words: [[0x100, 0x1800n]],
    },
  ]);
  assert.equal(returnsInto(memory, module(), 0x20ff0n, 8), true);
  assert.deepEqual(memory.touched, []);
});

Deno.test("returnsInto looks through the whole stack: past 1 MiB, and past a page of another protection, but not past the stack's allocation", () => {
  const MiB = 1 << 20;
  const deep = memoryOf([{
    base: 0x100000,
    size: 4 * MiB,
    allocationBase: 0x100000,
    words: [[2 * MiB, 0x1800n]],
  }]);
  assert.equal(returnsInto(deep, module(), 0x100000n, 8), true);
  const split = memoryOf([
    { base: 0x20000, size: 0x1000, allocationBase: 0x10000 },
    { base: 0x21000, size: 0x1000, allocationBase: 0x10000, protect: 2 },
    {
      base: 0x22000,
      size: 0x2000,
      allocationBase: 0x10000,
      words: [[0x10, 0x1800n]],
    },
  ]);
  assert.equal(returnsInto(split, module(), 0x20000n, 8), true);
  // Above the stack's allocation: another allocation's data, not read.
  const beyond = memoryOf([
    { base: 0x20000, size: 0x1000, allocationBase: 0x10000 },
    {
      base: 0x21000,
      size: 0x1000,
      allocationBase: 0x21000,
      words: [[0x10, 0x1800n]],
    },
  ]);
  assert.equal(returnsInto(beyond, module(), 0x20000n, 8), false);
});
