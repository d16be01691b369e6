import assert from "node:assert/strict";
import { HeapshiftError } from "./heapshift_error.ts";
import { attach } from "./attached_process.ts";

// The pid is checked before any process is opened, on any OS.
Deno.test("attach refuses a pid that is not a number as bad-argument, and one no process can have as not-found", () => {
  assert.throws(
    () => attach("1234" as never),
    (e) =>
      e instanceof HeapshiftError && e.kind === "bad-argument" &&
      e.message ===
        "Cannot attach to a process: the process id must be a number, not a string",
  );
  for (const pid of [0, -1, 1.5, 2 ** 32]) {
    assert.throws(
      () => attach(pid),
      (e) =>
        e instanceof HeapshiftError && e.kind === "not-found" &&
        e.message === `Cannot attach to process ${pid}: not a valid process id`,
      String(pid),
    );
  }
});
