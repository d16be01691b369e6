import assert from "node:assert/strict";
import { HeapshiftError } from "./heapshift_error.ts";
import { waitForProcess } from "./processes.ts";

Deno.test("waitForProcess() refuses a timeout or interval that is not a number of milliseconds, before it looks", async () => {
  const bad: [Parameters<typeof waitForProcess>[1], RegExp][] = [
    [
      { timeout: NaN },
      /the timeout must be a positive number of milliseconds, not NaN/,
    ],
    [{ timeout: -1 }, /the timeout must be .*, not -1/],
    [
      { interval: 0 },
      /the polling interval must be a positive number of milliseconds up to 2147483647 \(a timer.s limit\), not 0/,
    ],
    [{ interval: NaN }, /the polling interval must be .*, not NaN/],
    [{ interval: Infinity }, /the polling interval must be .*, not Infinity/],
    [{ interval: 2 ** 31 }, /the polling interval must be .*, not 2147483648/],
  ];
  for (const [options, message] of bad) {
    await assert.rejects(
      waitForProcess("game.exe", options),
      (e) =>
        e instanceof HeapshiftError && e.kind === "bad-argument" &&
        /^Cannot wait for game\.exe: /.test(e.message) &&
        message.test(e.message),
      JSON.stringify(options),
    );
  }
});
