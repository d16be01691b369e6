import assert from "node:assert/strict";
import { parseRuns } from "./profile.ts";

Deno.test("parseRuns: the timed runs' phases, not the heap-checked pass's", () => {
  const log = [
    "[bench] churn variant 2 rep 1 pid 32: module heapshift.dll 7FF000000000",
    "[bench] churn variant 2 rep 1 pid 32: phase 1000000000 1100000000",
    "[bench] rep 1/1 churn    2:100ms",
    "[bench] heap-checked pass of bench/harness.ts: one rep, Wine's heap reports on",
    "[bench] churn variant 2 rep 1 pid 48: module heapshift.dll 7FF100000000",
    "[bench] churn variant 2 rep 1 pid 48: phase 5000000000 5900000000",
  ].join("\n");
  const runs = parseRuns(log);
  assert.equal(runs.length, 1);
  assert.deepEqual([runs[0].t0, runs[0].t1], [1, 1.1]);
  assert.equal(runs[0].bases.get("heapshift.dll"), 0x7FF000000000n);
});
