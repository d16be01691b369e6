import assert from "node:assert/strict";
import { setColour } from "../output.ts";
import type { Stats } from "../api.ts";
import { renderStats } from "./stats.ts";

function stats(trim: Partial<Stats["trim"]>): Stats {
  return {
    pid: 7,
    state: "live",
    reason: null,
    error: 0,
    mimallocVersion: "2.1.2",
    dllVersion: "0.1.0",
    hooked: ["malloc", "free"],
    patchSites: 2,
    liveSince: null,
    counters: {
      allocs: 1,
      frees: 1,
      freesOld: 1,
      migrations: 0,
      migratedBytes: 0,
      expandRejects: 0,
    },
    trim: {
      state: "none",
      error: 0,
      passes: 0,
      resetBytes: 0,
      chunks: 0,
      holdMaxUs: 0,
      busyKiB: 0,
      freeKiB: 0,
      ...trim,
    },
  };
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
    line({ state: "debug-heap" }),
    "  old heap trimmer     debug-heap",
  );
});
