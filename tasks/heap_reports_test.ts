import assert from "node:assert/strict";
import {
  HEAP_BARRIER,
  HEAP_REPORT,
  heapReports,
  sortStderrLine,
} from "./heap_reports.ts";

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

const REPORT =
  "0174:0178:warn:heap:unsafe_block_from_ptr heap 00007FFFFE320000, block 00007FFFFE2FFE98: invalid block type";

Deno.test("sortStderrLine: a report is logged and shown, a barrier logged only, the channels' other lines hidden", () => {
  assert.deepEqual(sortStderrLine(REPORT), { log: REPORT, show: true });
  assert.deepEqual(
    sortStderrLine(
      '0120:0124:warn:debugstr:OutputDebugStringA "@@heapshift-barrier 5f0c-1a end\\n"',
    ),
    { log: "@@heapshift-barrier 5f0c-1a end", show: false },
  );
  assert.deepEqual(
    sortStderrLine(
      "0334:0338:warn:heap:allocate_region Could not allocate 0x10000 bytes, status 0x40000002",
    ),
    { show: false },
  );
  assert.deepEqual(sortStderrLine("Check file:///x_test.ts"), { show: true });
});

// Every Wine process writes to the one stderr: a program's write without
// its newline (a prompt, a progress dot, the first 4 KiB of a long
// message) puts the next report of any process on the same line.
Deno.test("sortStderrLine: a report that follows another process's unfinished output on its line still counts", async () => {
  for (const before of ["progress: 50%", ".", "x".repeat(5000)]) {
    const sorted = sortStderrLine(before + REPORT);
    assert.equal(sorted.show, true);
    assert.equal(sorted.log, REPORT);
    const log = await Deno.makeTempFile();
    try {
      await Deno.writeTextFile(log, sorted.log + "\n");
      assert.deepEqual(heapReports(log), [REPORT]);
    } finally {
      await Deno.remove(log);
    }
  }
});
