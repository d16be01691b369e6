import assert from "node:assert/strict";
import {
  parseTaskArgs,
  TaskArgsError,
  usageProblem,
  wantsHelp,
} from "./task_args.ts";

const options = {
  out: { type: "string" },
  quick: { type: "boolean" },
} as const;

Deno.test("wantsHelp: --help or -h anywhere before a --", () => {
  assert.equal(wantsHelp(["--out", "x", "--help"]), true);
  assert.equal(wantsHelp(["-h"]), true);
  assert.equal(wantsHelp(["--bogus"]), false);
  // after --, another program's
  assert.equal(wantsHelp(["--", "wine", "--help"]), false);
});

Deno.test("parseTaskArgs: the values, and each refusal naming its argument", () => {
  assert.deepEqual(
    { ...parseTaskArgs(["--out=a", "--quick"], { options }).values },
    { out: "a", quick: true },
  );
  assert.deepEqual(
    parseTaskArgs(["f.exe"], { options, positionals: true }).positionals,
    ["f.exe"],
  );
  for (
    const [args, says] of [
      [["--bogus"], "unknown option --bogus"],
      [["f.exe"], "unexpected argument f.exe"],
      [["--out"], "--out needs a value"],
      [
        ["--out", "--quick"],
        "--out needs a value (one starting with - as --out=VALUE)",
      ],
      [["--out="], "--out needs a value"],
      [["--quick=1"], "--quick takes no value"],
    ] as const
  ) {
    assert.throws(
      () => parseTaskArgs([...args], { options }),
      (e) => e instanceof TaskArgsError && e.message === says,
      args.join(" "),
    );
  }
});

Deno.test("usageProblem points at the task's --help", () => {
  assert.equal(
    usageProblem("bench-pe", "unknown option --bogus"),
    "error: unknown option --bogus\nrun `deno task bench-pe --help` for the usage",
  );
});
