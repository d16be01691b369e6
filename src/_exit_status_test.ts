import assert from "node:assert/strict";
import {
  crashStatus,
  processEnded,
  ProcessEndedError,
} from "./_exit_status.ts";

Deno.test("crashStatus names the usual crash codes", () => {
  assert.equal(crashStatus(0xC0000005), "0xC0000005, access violation");
  assert.equal(
    crashStatus(3221226505),
    "0xC0000409, stack buffer overrun / fail-fast",
  );
  assert.equal(crashStatus(0xC0000374), "0xC0000374, heap corruption");
  // RaiseFailFastException (heapshift's own last resort, dll/tls.c)
  assert.equal(crashStatus(0xC0000602), "0xC0000602, fail-fast");
  assert.equal(crashStatus(0xC00000FD), "0xC00000FD, stack overflow");
  assert.equal(
    crashStatus(0xC0000135),
    "0xC0000135, a DLL it needs was not found",
  );
});

Deno.test("crashStatus gives other NTSTATUS errors in hex", () => {
  assert.equal(crashStatus(0xC0000022), "0xC0000022");
  // A signed reading of the same code.
  assert.equal(crashStatus(-1073741819), "0xC0000005, access violation");
});

Deno.test("crashStatus leaves ordinary exit codes alone", () => {
  // exit(-1), exit(-2): no NTSTATUS facility; Ctrl+C's STATUS_CONTROL_C_EXIT
  // is how a console program ends when it does not handle Ctrl+C.
  for (
    const code of [
      0,
      1,
      3,
      259,
      0x7FFFFFFF,
      0x80000003,
      0xBFFFFFFF,
      0xFFFFFFFF,
      -2,
      0xC000013A,
    ]
  ) {
    assert.equal(crashStatus(code), undefined);
  }
});

Deno.test("processEnded finds the ended process behind an error", () => {
  const crashed = new Error("Cannot x process 1", {
    cause: new ProcessEndedError(0xC0000005),
  });
  assert.equal(processEnded(crashed)?.crash, "0xC0000005, access violation");
  const exited = processEnded(
    new Error("y", { cause: new ProcessEndedError(3) }),
  );
  assert.equal(exited?.exitCode, 3);
  assert.equal(exited?.crash, undefined);
  assert.equal(exited?.message, "exited (code 3)");
  assert.equal(processEnded(new Error("z")), undefined);
  assert.equal(processEnded("not an error"), undefined);
});
