import assert from "node:assert/strict";
import { setColour, stripAnsi } from "../output.ts";
import type { Stats } from "../api.ts";
import {
  parseInterval,
  redrawFrom,
  renderStats,
  sameProcess,
} from "./stats.ts";
import { sampleStats } from "../_test_utils.ts";

function stats(trim: Partial<Stats["trim"]>): Stats {
  const base = sampleStats();
  return sampleStats({ trim: { ...base.trim, state: "none", ...trim } });
}

Deno.test("stats: the old heap's trimmer, what it gave back or why it does not run", () => {
  setColour(false);
  const line = (t: Partial<Stats["trim"]>) =>
    renderStats(stats(t)).split("\n").at(-1);
  assert.equal(
    line({ state: "walk", passes: 1234, resetBytes: 40 * 2 ** 20 }),
    "  old heap trimmer     walk: 40.0 MiB of free pages reset, 1,234 passes",
  );
  assert.equal(
    line({ state: "optimize", passes: 3 }),
    "  old heap trimmer     optimize: 3 passes",
  );
  assert.equal(
    line({ state: "free-reset", resetBytes: 12.5 * 2 ** 20 }),
    "  old heap trimmer     free-reset: 12.5 MiB of old blocks' pages reset",
  );
  assert.equal(
    line({ state: "debug-heap" }),
    "  old heap trimmer     debug-heap",
  );
});

Deno.test("stats --watch: a pid that now names a process started at another time is not the watched one", () => {
  const first = sampleStats();
  assert.ok(sameProcess(first, sampleStats({ counters: first.counters })));
  assert.ok(
    !sameProcess(
      first,
      sampleStats({ processStarted: new Date(1_700_000_123_000) }),
    ),
  );
  // an older heapshift's block records no start: it cannot tell
  assert.ok(sameProcess(first, sampleStats({ processStarted: null })));
  assert.ok(!sameProcess(first, sampleStats({ pid: 8 })));
});

Deno.test("stats --interval: a timer's range (a longer one would fire at once, every millisecond)", () => {
  assert.equal(parseInterval("0.05"), 0.05);
  assert.equal(parseInterval("2147483"), 2147483);
  for (const bad of ["3000000", "0.01", "x", "Infinity"]) {
    assert.throws(() => parseInterval(bad), /at least 0\.05, at most 2147483/);
  }
});

Deno.test("stats: a failed takeover's reason says what it means", () => {
  setColour(false);
  const first = (s: Partial<Stats>) =>
    renderStats(sampleStats(s)).split("\n")[0];
  assert.match(
    first({ state: "failed", reason: "foreign-hook", error: 0 }),
    /failed \(foreign-hook: another tool hooks the CRT's allocator already\)/,
  );
  // what the error says, as inject's message: only 1655 is the guard
  assert.match(
    first({ state: "failed", reason: "protect", error: 5 }),
    /: failed \(protect: ucrtbase\.dll's code could not be made writable \(error 5\)\) since/,
  );
  assert.match(
    first({ state: "failed", reason: "protect", error: 1655 }),
    /: failed \(protect: the program forbids changes to its code \(Arbitrary Code Guard, error 1655\)\) since/,
  );
  assert.match(
    first({ state: "failed", reason: "protect", error: 0 }),
    /failed \(protect: the program forbids changes to its code \(code integrity or Arbitrary Code Guard\)\)/,
  );
  assert.match(
    first({ state: "failed", reason: "thread-snapshot", error: 998 }),
    /failed \(thread-snapshot: .*, Win32 error 998\)/,
  );
  assert.match(
    first({ state: "failed", reason: "reason-99", error: 0 }),
    /failed \(reason-99\)/,
  );
});

Deno.test("stats --watch: a redraw goes back over the rows the last sample took, a wrapped line's too", () => {
  setColour(true);
  const hooked = [
    "malloc",
    "calloc",
    "realloc",
    "free",
    "_malloc_base",
    "_calloc_base",
    "_recalloc",
  ];
  const text = renderStats(sampleStats({ hooked, patchSites: 23 }));
  setColour(undefined);
  const lines = text.split("\n");
  const long = lines.filter((l) => stripAnsi(l).length > 80).length;
  assert.ok(long > 0, "a line wider than 80 columns");
  // At 80 columns each such line takes two rows; unknown, one row each.
  assert.equal(redrawFrom(text, 80), `\x1b[${lines.length + long}F\x1b[J`);
  assert.equal(redrawFrom(text, undefined), `\x1b[${lines.length}F\x1b[J`);
  // Exactly as wide as the terminal: one row.
  assert.equal(redrawFrom("x".repeat(80), 80), "\x1b[1F\x1b[J");
});

Deno.test("stats --watch counts the rows a line wraps onto by the columns its characters take: a wide one takes two, and one that does not fit at a row's end starts the next", () => {
  // 50 wide characters, 100 columns: two rows at 80
  assert.equal(redrawFrom("游".repeat(50), 80), "\x1b[2F\x1b[J");
  // a combining mark takes none: 80 columns, one row
  assert.equal(redrawFrom("e\u0301".repeat(80), 80), "\x1b[1F\x1b[J");
  // 79 + 2 + 79 columns: the wide one goes to the second row, whose 80
  // columns leave one character for a third
  assert.equal(
    redrawFrom(`${"x".repeat(79)}游${"x".repeat(79)}`, 80),
    "\x1b[3F\x1b[J",
  );
});

Deno.test("stats of a heapshift that hooked nothing says so, without an empty list", () => {
  setColour(false);
  const text = renderStats(
    sampleStats({ state: "disabled", hooked: [], patchSites: 0 }),
  );
  setColour(undefined);
  assert.match(text, /\n {2}hooked {15}nothing\n/);
  assert.doesNotMatch(text, /\(\)/);
});

Deno.test("stats shows the hooked names it reads from the program's memory escaped", () => {
  const text = renderStats(
    sampleStats({ hooked: ["malloc", "fr\u202eee\x9b2J"], patchSites: 2 }),
  );
  assert.doesNotMatch(text, /[\x80-\x9f\u202e]/);
  assert.match(text, /\(malloc fr\\u202eee\\x9b2J\)/);
});
