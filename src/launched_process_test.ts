import assert from "node:assert/strict";
import { HeapshiftError } from "./heapshift_error.ts";
import { LaunchedProcess, launchedTarget } from "./launched_process.ts";

// From JavaScript (no type checks there): wait's options of the wrong type
// are a bad-argument error, as every other function's, before the process
// is waited for (the handle is never touched here).
Deno.test("LaunchedProcess.wait refuses options that are not an object as bad-argument", async () => {
  const proc = new LaunchedProcess(1234, null as never);
  for (const options of [null, 5, "x", []]) {
    await assert.rejects(
      proc.wait(options as never),
      (e) =>
        e instanceof HeapshiftError && e.kind === "bad-argument" &&
        /^Cannot wait for process 1234: the options must be an object, not /
          .test(e.message),
      JSON.stringify(options),
    );
  }
});

// Two arguments plus an options object, as every function of the API.
Deno.test("LaunchedProcess takes its architecture as an option (x64 by default)", () => {
  const x86 = new LaunchedProcess(1234, null as never, { arch: "x86" });
  assert.equal(launchedTarget(x86).arch, "x86");
  assert.equal(
    launchedTarget(new LaunchedProcess(1234, null as never)).arch,
    "x64",
  );
});
