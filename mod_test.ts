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
