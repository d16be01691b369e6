import assert from "node:assert/strict";
import { repoRoot } from "./winenv.ts";

/** `deno task lint-all ARGS` in the checkout: its exit code and output. */
async function lintAll(...args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["task", "lint-all", ...args],
    cwd: repoRoot(),
    env: { NO_COLOR: "1" },
    stdin: "null",
    signal: AbortSignal.timeout(300_000),
  }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
}

// deno task appends the arguments to the task's last command: with the
// checks chained in deno.json, --help ran all but the last, then printed
// `deno doc`'s help.
Deno.test("deno task lint-all --help prints the usage and checks nothing; an argument is refused (exit 2), naming it, before any check", async () => {
  const help = await lintAll("--help");
  assert.equal(help.code, 0, help.stderr);
  assert.match(help.stdout, /^usage: deno task lint-all\n/);
  assert.doesNotMatch(help.stderr, /Checked|\[lint-all\]/);
  for (
    const [arg, problem] of [
      ["--bogus", "unknown option --bogus"],
      [
        "mod.ts",
        "unexpected argument mod\\.ts",
      ],
    ]
  ) {
    const r = await lintAll(arg);
    assert.equal(r.code, 2, `${arg}: ${r.stderr}`);
    assert.match(
      r.stderr,
      new RegExp(
        `error: ${problem}\\nrun \`deno task lint-all --help\` for the usage\\n$`,
      ),
    );
    assert.doesNotMatch(r.stderr, /Checked|\[lint-all\]/);
  }
});
