import assert from "node:assert/strict";
import { afterCall } from "./_module_threads.ts";

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
