import assert from "node:assert/strict";
import * as heapshift from "./mod.ts";

// A script that launches a program and reports whether it exited cleanly
// needs what the CLI's launch report uses to tell a crash from an exit.
Deno.test("mod.ts exports crashStatus: a crash told from an ordinary exit code", () => {
  const { crashStatus } = heapshift as Record<string, unknown> as {
    crashStatus?: (code: number) => string | undefined;
  };
  assert.equal(typeof crashStatus, "function");
  assert.equal(crashStatus!(0xC0000005), "0xC0000005, access violation");
  // The same code as a signed 32-bit number.
  assert.equal(crashStatus!(-1073741819), "0xC0000005, access violation");
  for (const code of [0, 1, 7, 0xFFFFFFFF, 0xC000013A]) {
    assert.equal(crashStatus!(code), undefined, `${code}`);
  }
});

// A script tells "the program died while we worked in it" from a failure
// (kind `ended`) and reads how it ended from the cause.
Deno.test("mod.ts exports ProcessEndedError, the cause of an ended error: exit code and crash", () => {
  const { ProcessEndedError } = heapshift;
  const crashed = new ProcessEndedError(0xC0000409);
  assert.ok(crashed instanceof Error);
  assert.equal(crashed.name, "ProcessEndedError");
  assert.equal(crashed.exitCode, 0xC0000409);
  assert.equal(crashed.crash, "0xC0000409, stack buffer overrun / fail-fast");
  assert.equal(
    crashed.message,
    "crashed (0xC0000409, stack buffer overrun / fail-fast)",
  );
  const exited = new ProcessEndedError(3);
  assert.equal(exited.exitCode, 3);
  assert.equal(exited.crash, undefined);
  assert.equal(exited.message, "exited (code 3)");
  const e = new heapshift.HeapshiftError("ended", "Cannot inject …", {
    cause: exited,
  });
  assert.equal(e.kind, "ended");
});
