import assert from "node:assert/strict";
import {
  parseTaskArgs,
  splitTaskArgs,
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

Deno.test("splitTaskArgs: the task's own options, refused as parseTaskArgs refuses them, and the rest in order for another parser", () => {
  const split = (args: string[], command?: boolean) =>
    splitTaskArgs(args, { options, command });
  const { values, rest } = split(["--reps", "3", "--out", "x", "--quick"]);
  assert.deepEqual({ ...values }, { out: "x", quick: true });
  assert.deepEqual(rest, ["--reps", "3"]);
  // after --, nothing is ours
  assert.deepEqual(split(["--", "--quick"]).rest, ["--", "--quick"]);
  // a command: from its first operand, or after --, with its own options
  const cmd = split(["--out=o", "wine", "--quick", "--out"], true);
  assert.deepEqual({ ...cmd.values }, { out: "o" });
  assert.deepEqual(cmd.rest, ["wine", "--quick", "--out"]);
  assert.deepEqual(split(["--quick", "--", "-x"], true).rest, ["-x"]);
  for (
    const [args, command, says] of [
      [["--out"], false, "--out needs a value"],
      [
        ["--out", "--reps"],
        false,
        "--out needs a value (one starting with - as --out=VALUE)",
      ],
      [["--quick=1", "x"], false, "--quick takes no value"],
      // before a command, every option is ours
      [["--bogus", "wine"], true, "unknown option --bogus"],
      [
        ["--out", "--", "wine"],
        true,
        "--out needs a value (one starting with - as --out=VALUE)",
      ],
    ] as const
  ) {
    assert.throws(
      () => split([...args], command),
      (e) => e instanceof TaskArgsError && e.message === says,
      args.join(" "),
    );
  }
});

// A newcomer's first `deno task` lists the tasks: each says what it does,
// not only the script it runs (every one also takes --help).
Deno.test("`deno task` alone lists every task of deno.json with what it does", async () => {
  const root = new URL("..", import.meta.url);
  const config = JSON.parse(
    await Deno.readTextFile(new URL("deno.json", root)),
  );
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["task"],
    cwd: root,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) +
    new TextDecoder().decode(out.stderr);
  for (const name of Object.keys(config.tasks)) {
    assert.match(
      text,
      new RegExp(`^- ${name}\\n\\s+// \\S`, "m"),
      `${name} has no description:\n${text}`,
    );
  }
});
