import assert from "node:assert/strict";
import {
  CRASH_REPORT,
  HEAP_BARRIER,
  HEAP_REPORT,
  HEAP_WINEDEBUG,
  heapReports,
  sortStderrLine,
  unexpectedCrashes,
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

// What Wine's kernelbase prints (MESSAGE, whatever WINEDEBUG says) when a
// program dies of an exception nothing handled: on Windows the same
// program is gone too, and a test that does not look at its exit code
// would pass.
const CRASH =
  "wine: Unhandled page fault on read access to 0000000000000000 at address 0000000140001536 (thread 0024), starting debugger...";

Deno.test("CRASH_REPORT: Wine's unhandled-exception lines, whatever the exception", () => {
  for (
    const line of [
      CRASH,
      "wine: Unhandled exception 0xe06d7363 in thread 24 at address 00006FFFFFC8A2B4 (thread 0024), starting debugger...",
      "wine: Unhandled stack overflow at address 0000000140001536 (thread 0024), starting debugger...",
      "wine: Unhandled division by zero at address 0000000140001536 (thread 0024), starting debugger...",
    ]
  ) assert.match(line, CRASH_REPORT);
  assert.doesNotMatch("Unhandled promise rejection", CRASH_REPORT);
});

// kernelbase's start_debugger prints every unhandled exception as
// "wine: <what> (thread <tid>), starting debugger...", and for three kinds
// <what> does not begin with "Unhandled" (format_exception_msg): a call to a
// function Wine lacks, a Wine assertion and a deadlocked critical section.
// The program is as dead after them.
Deno.test("CRASH_REPORT: every line Wine prints as it starts the debugger for an unhandled exception", () => {
  for (
    const line of [
      "wine: Unimplemented function api-ms-win-core-foo-l1-1-0.dll.Bar called at address 00006FFFFFC8A2B4 (thread 0024), starting debugger...",
      "wine: Unimplemented function foo.dll.12 called at address 00006FFFFFC8A2B4 (thread 0024), starting debugger...",
      "wine: Assertion failed at address 00006FFFFFC8A2B4 (thread 0024), starting debugger...",
      "wine: Critical section 00006FFFFFD1C0A0 wait failed at address 00006FFFFFC8A2B4 (thread 0024), starting debugger...",
    ]
  ) {
    assert.match(line, CRASH_REPORT);
    assert.deepEqual(sortStderrLine(line), { log: line, show: true });
  }
  // a stub called, said at first chance: a handler may still catch it
  assert.doesNotMatch(
    "wine: Call from 00006FFFFFC8A2B4 to unimplemented function foo.dll.Bar, aborting",
    CRASH_REPORT,
  );
});

Deno.test("sortStderrLine: a crash is logged and shown, on a line of its own or after unfinished output", () => {
  assert.deepEqual(sortStderrLine(CRASH), { log: CRASH, show: true });
  assert.deepEqual(sortStderrLine("progress: 50%" + CRASH), {
    log: CRASH,
    show: true,
  });
});

Deno.test("unexpectedCrashes: a crash counts unless it falls in a test that said it crashes a program", () => {
  const log = [
    "@@heapshift-barrier a begin",
    CRASH + " (a)",
    "@@heapshift-barrier a end",
    "@@heapshift-barrier b begin",
    "@@heapshift-barrier b crashes",
    CRASH + " (b: expected)",
    "@@heapshift-barrier b end",
    CRASH + " (between tests)",
    "@@heapshift-barrier c begin",
    "@@heapshift-barrier c end",
  ].join("\n");
  assert.deepEqual(unexpectedCrashes(log), [
    CRASH + " (a)",
    CRASH + " (between tests)",
  ]);
  // after the window that allowed it has ended, nothing is allowed
  assert.deepEqual(
    unexpectedCrashes(
      [
        "@@heapshift-barrier b begin",
        "@@heapshift-barrier b crashes",
        "@@heapshift-barrier b end",
        CRASH,
      ].join("\n"),
    ),
    [CRASH],
  );
  // a watch inside a test that allows crashes (the harness's own tests)
  assert.deepEqual(
    unexpectedCrashes(
      [
        "@@heapshift-barrier outer begin",
        "@@heapshift-barrier outer crashes",
        "@@heapshift-barrier inner begin",
        CRASH,
        "@@heapshift-barrier inner end",
        "@@heapshift-barrier outer end",
      ].join("\n"),
    ),
    [],
  );
});

// A fail-fast (__fastfail: what Microsoft's CRT's abort(), /GS checks and
// invalid-parameter default end in; RaiseFailFastException) skips every
// handler, the unhandled-exception filter among them: Wine prints no
// "wine: …, starting debugger" line, only, on err+seh, the second-chance
// end of NtRaiseException (Wine 10, tried: `sleeper fastfail`). Windows
// ends the process as well.
const FASTFAIL =
  "0104:0108:err:seh:NtRaiseException Unhandled exception code c0000409 flags 1 addr 0x140002a30";

Deno.test("CRASH_REPORT: a fail-fast, which no handler sees, counts too, and the channel it needs is on", () => {
  assert.match(HEAP_WINEDEBUG, /(^|,)err\+seh(,|$)/);
  for (
    const line of [
      FASTFAIL,
      "0104:0108:err:seh:NtRaiseException Exception frame is not in stack limits => unable to dispatch exception.",
      "0104:0108:err:seh:NtRaiseException Process attempted to continue execution after noncontinuable exception.",
    ]
  ) {
    assert.match(line, CRASH_REPORT);
    assert.deepEqual(sortStderrLine(line), { log: line, show: true });
    assert.deepEqual(
      sortStderrLine("progress: 50%" + line),
      { log: line, show: true },
    );
  }
  // the channel's other lines stay as quiet as before it was on
  assert.deepEqual(
    sortStderrLine("0104:0108:err:seh:call_stack_handlers invalid frame"),
    { show: false },
  );
  assert.deepEqual(
    unexpectedCrashes(["@@heapshift-barrier a begin", FASTFAIL].join("\n")),
    [FASTFAIL],
  );
});

// RaiseFailFastException, with which heapshift.dll ends a program it cannot
// go on in (dll/tls.c), is a stub in Wine 10's kernelbase: it ends the
// process (0xC0000602) saying so on fixme+seh only (tried: `sleeper
// failfast-api`). Windows ends the process as well.
const FAILFAST_API =
  "0120:0124:fixme:seh:RaiseFailFastException (0000000000000000, 0000000000000000, 0) stub";

Deno.test("CRASH_REPORT: RaiseFailFastException, which Wine ends the process in quietly, counts too", () => {
  assert.match(HEAP_WINEDEBUG, /(^|,)fixme\+seh(,|$)/);
  assert.match(FAILFAST_API, CRASH_REPORT);
  assert.deepEqual(sortStderrLine(FAILFAST_API), {
    log: FAILFAST_API,
    show: true,
  });
  // the channel's other fixmes stay quiet
  assert.deepEqual(
    sortStderrLine("0120:0124:fixme:seh:RtlWalkFrameChain stub"),
    { show: false },
  );
});
