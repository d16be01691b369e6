import assert from "node:assert/strict";
import { runProgram } from "./_test_utils.ts";

Deno.test("runProgram: a run past its time limit is killed and fails with its output so far", async () => {
  const started = Date.now();
  await assert.rejects(
    runProgram(
      Deno.execPath(),
      ["eval", "console.log('started'); setTimeout(() => {}, 60_000)"],
      { timeoutMs: 1_000 },
    ),
    (e: Error) =>
      /^deno(\.exe)? eval .* still running after 1 s \(killed\)/.test(
        e.message,
      ) &&
      e.message.includes("started"),
  );
  assert(Date.now() - started < 20_000, "the run was not cut short");
});

Deno.test("runProgram: a run within its time limit gives its code and output", async () => {
  const r = await runProgram(
    Deno.execPath(),
    ["eval", "console.log('out'); console.error('err'); Deno.exit(3)"],
    { env: { NO_COLOR: "1" } },
  );
  assert.deepEqual(r, { code: 3, stdout: "out\n", stderr: "err\n" });
});

Deno.test("runProgram: output a child of the program holds open past its exit counts against the limit; each stream is decoded on its own", async () => {
  if (Deno.build.os === "windows") return;
  const started = Date.now();
  await assert.rejects(
    runProgram("sh", ["-c", "echo hi; sleep 20 & exit 0"], {
      timeoutMs: 1_000,
    }),
    /still running after 1 s/,
  );
  assert(Date.now() - started < 10_000, "the wait was not cut short");
  const split = await runProgram("sh", [
    "-c",
    "printf 'a\\303'; printf b >&2; printf '\\251c'",
  ]);
  assert.deepEqual([split.stdout, split.stderr], ["a\u00e9c", "b"]);
});
