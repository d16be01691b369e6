import assert from "node:assert/strict";
import { HEAP_BARRIER, HEAP_REPORT } from "./heap_reports.ts";

Deno.test("HEAP_REPORT: invalid-block reports count, failed allocations do not", () => {
  for (
    const line of [
      "0174:0178:warn:heap:unsafe_block_from_ptr heap 00007FFFFE320000, block 00007FFFFE2FFE98: invalid block type",
      "0174:0178:warn:heap:unsafe_block_from_ptr heap 00007FFFFE320000, block 00007FFFFE2FFE98: delayed freed block",
      "0174:0178:err:heap:heap_validate_ptr heap 00007FFFFE320000, ptr 0000000000001000: invalid block pointer",
    ]
  ) assert.match(line, HEAP_REPORT);
  for (
    const line of [
      "0334:0338:warn:heap:allocate_region Could not allocate 0x10000000010000 bytes, status 0x40000002",
      '0334:0338:warn:debugstr:OutputDebugStringA "x"',
      "warn:heap:unsafe_block_from_ptr (no pid prefix: not from the checked run)",
    ]
  ) assert.doesNotMatch(line, HEAP_REPORT);
});

Deno.test("HEAP_BARRIER reads a barrier out of Wine's debugger-channel line", () => {
  const m = HEAP_BARRIER.exec(
    '0120:0124:warn:debugstr:OutputDebugStringA "@@heapshift-barrier 5f0c-1a begin\\n"',
  );
  assert.equal(m?.[1], "@@heapshift-barrier 5f0c-1a begin");
});
