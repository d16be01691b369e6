import assert from "node:assert/strict";
import { benchArgs, hostPathArgs } from "./bench.ts";
import { exists, isWindows, repoRoot } from "./winenv.ts";
import { runScript } from "./_test_utils.ts";

const staged = (root: string) =>
  new Set(
    [...Deno.readDirSync(`${root}/build/bench`)]
      .filter((e) => e.name.startsWith(".args-")).map((e) => e.name),
  );

// Under Wine the bench's Windows side sees only the checkout of the host:
// an --out elsewhere landed in the environment's own /tmp before.
Deno.test({
  name: "bench: --out and --dll outside the checkout go through build/bench",
  ignore: isWindows,
  fn: async () => {
    const root = repoRoot();
    const outside = await Deno.makeTempDir({ prefix: "heapshift-bench-" });
    const link = `${root}/build/bench/.test-link-${Deno.pid}`;
    try {
      await Deno.mkdir(`${root}/build/bench`, { recursive: true });
      const before = staged(root);
      const dll = `${outside}/my.dll`;
      await Deno.writeTextFile(dll, "MZ");
      const given = await hostPathArgs(
        ["--reps", "3", "--out", `${outside}/res`, `--dll=${dll}`],
        root,
      );
      const [, , , out, dllArg, dllAs] = given.args;
      assert.equal(given.args[1], "3");
      assert.ok(out.startsWith(`${root}/build/bench/.args-`), out);
      assert.ok(dllArg.startsWith(`--dll=${root}/build/bench/.args-`));
      assert.equal(await Deno.readTextFile(dllArg.slice(6)), "MZ");
      // the results name the DLL asked for, not its staged copy
      assert.equal(dllAs, `--dll-as=${dll}`);
      // what the Windows side writes there reaches the place asked for
      await Deno.mkdir(out, { recursive: true });
      await Deno.writeTextFile(`${out}/bench.json`, "{}");
      await given.finish();
      assert.equal(await Deno.readTextFile(`${outside}/res/bench.json`), "{}");
      assert.ok(!exists(out), "the staging directory is removed");

      // inside the checkout: as the environment sees it, absolute
      const inside = await hostPathArgs(["--out", "build/bench/mine"], root);
      assert.deepEqual(inside.args, ["--out", `${root}/build/bench/mine`]);
      await inside.finish();

      // a path inside the checkout that leads out through a symlink
      await Deno.symlink(outside, link);
      const through = await hostPathArgs([`--out=${link}/new`], root);
      assert.ok(through.args[0].startsWith(`--out=${root}/build/bench/.args-`));
      await through.finish();

      await assert.rejects(
        hostPathArgs(["--dll", `${outside}/none.dll`], root),
        /Cannot read --dll .*none\.dll/,
      );
      await assert.rejects(
        hostPathArgs(["--out="], root),
        /--out needs a path/,
      );

      // results that cannot be copied out stay staged, and the message
      // says where they are
      await Deno.writeTextFile(`${outside}/a-file`, "");
      const blocked = await hostPathArgs(["--out", `${outside}/a-file`], root);
      const kept = blocked.args[1];
      await Deno.mkdir(kept, { recursive: true });
      await Deno.writeTextFile(`${kept}/bench.json`, "{}");
      await assert.rejects(
        blocked.finish(),
        new RegExp(
          `Cannot copy the results to ${outside}/a-file: .*; they are in ${kept}$`,
        ),
      );
      assert.equal(await Deno.readTextFile(`${kept}/bench.json`), "{}");
      await Deno.remove(kept.slice(0, -"/out".length), { recursive: true });
      assert.deepEqual(staged(root), before, "no staging directory is left");
    } finally {
      await Deno.remove(link).catch(() => {});
      await Deno.remove(outside, { recursive: true });
    }
  },
});

Deno.test("benchArgs: --out, --dll and --mimalloc are made absolute against where the bench was started (it runs from the checkout's root)", () => {
  assert.deepEqual(
    benchArgs([
      "--out",
      "results",
      "--dll=my.dll",
      "--mimalloc",
      "../mi",
      "--reps",
      "3",
    ], "/home/u/work"),
    [
      "--out",
      "/home/u/work/results",
      "--dll=/home/u/work/my.dll",
      "--mimalloc",
      "/home/u/work/../mi",
      "--reps",
      "3",
    ],
  );
});

Deno.test("deno task bench: an unknown option, or a bad value, is refused (exit 2), naming it, before anything is provisioned or built", async () => {
  const run = (...args: string[]) =>
    runScript(`${repoRoot()}/tasks/bench.ts`, args);
  // (--out= stops a run that would go on before anything is built)
  for (
    const [args, says] of [
      [["--bogus", "--out="], /unknown option --bogus/],
      [["--workloads", "nope", "--out="], /unknown workload nope \(churn, /],
      [["--bogus"], /unknown option --bogus/],
      [["--mimalloc"], /--mimalloc needs a value/],
      [["--mimalloc", "--reps", "3"], /--mimalloc needs a value/],
      // the task's own flags take no value, as every task's
      [["--no-readme=1", "--out="], /--no-readme takes no value/],
    ] as const
  ) {
    const r = await run(...args);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(
      r.stderr,
      new RegExp(
        `^error: ${says.source}.*\nrun \`deno task bench --help\` for the usage\n$`,
      ),
    );
  }
  // --help wins, wherever it is (--mimalloc took it as its value before)
  const help = await run("--mimalloc", "--help");
  assert.equal(help.code, 0, help.stderr);
  assert.match(help.stdout, /^usage: deno task bench \[--no-build-dll\]/);
  assert.equal(help.stderr, "");
});

Deno.test("deno task bench --help and the README's list of its options name the same options", async () => {
  // The README's paragraph "Options (after `deno task bench`)", up to its
  // note on bench/harness.ts's --render (no option of the task)
  const readme = await Deno.readTextFile(`${repoRoot()}/README.md`);
  const start = readme.indexOf("Options (after `deno task bench`)");
  const end = readme.indexOf("`deno run -A bench/harness.ts", start);
  assert.ok(start >= 0 && end > start, "the README lists the bench's options");
  const named = (text: string) =>
    [...new Set(text.match(/--[a-z][a-z-]*/g))].sort();
  const help = await runScript(`${repoRoot()}/tasks/bench.ts`, ["--help"]);
  assert.equal(help.code, 0, help.stderr);
  assert.deepEqual(named(help.stdout), named(readme.slice(start, end)));
});
