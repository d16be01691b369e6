import assert from "node:assert/strict";
import { hostPathArgs } from "./bench.ts";
import { exists, isWindows, repoRoot } from "./winenv.ts";

// Under Wine the bench's Windows side sees only the checkout of the host:
// an --out elsewhere landed in the environment's own /tmp before.
Deno.test({
  name: "bench: --out and --dll outside the checkout go through build/bench",
  ignore: isWindows,
  fn: async () => {
    const root = repoRoot();
    const outside = await Deno.makeTempDir({ prefix: "heapshift-bench-" });
    try {
      const dll = `${outside}/my.dll`;
      await Deno.writeTextFile(dll, "MZ");
      const given = await hostPathArgs(
        ["--reps", "3", "--out", `${outside}/res`, `--dll=${dll}`],
        root,
      );
      const [, , , out, dllArg] = given.args;
      assert.equal(given.args[1], "3");
      assert.ok(out.startsWith(`${root}/build/bench/.args-`), out);
      assert.ok(dllArg.startsWith(`--dll=${root}/build/bench/.args-`));
      assert.equal(await Deno.readTextFile(dllArg.slice(6)), "MZ");
      // what the Windows side writes there reaches the place asked for
      await Deno.mkdir(out, { recursive: true });
      await Deno.writeTextFile(`${out}/bench.json`, "{}");
      await given.finish();
      assert.equal(await Deno.readTextFile(`${outside}/res/bench.json`), "{}");
      assert.ok(!exists(out), "the staging directory is removed");

      const inside = await hostPathArgs(
        ["--out", `${root}/build/bench/mine`],
        root,
      );
      assert.deepEqual(inside.args, ["--out", `${root}/build/bench/mine`]);
      await inside.finish();

      await assert.rejects(
        hostPathArgs(["--dll", `${outside}/none.dll`], root),
        /Cannot read --dll .*none\.dll/,
      );
      const left = [...Deno.readDirSync(`${root}/build/bench`)]
        .filter((e) => e.name.startsWith(".args-"));
      assert.deepEqual(left, [], "no staging directory is left behind");
    } finally {
      await Deno.remove(outside, { recursive: true });
    }
  },
});
