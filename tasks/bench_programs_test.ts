import assert from "node:assert/strict";
import { extractOnce } from "./bench_programs.ts";

Deno.test("extractOnce: a source tree cut short (a killed first run) is never taken for whole: extracted again, in place only once complete", async () => {
  const src = await Deno.makeTempDir();
  try {
    const tree = `${src}/lua-5.4.7`;
    const full = async (into: string) => {
      await Deno.mkdir(`${into}/lua-5.4.7/src`, { recursive: true });
      await Deno.writeTextFile(`${into}/lua-5.4.7/src/lua.c`, "lua");
      await Deno.writeTextFile(`${into}/lua-5.4.7/src/lvm.c`, "lvm");
    };
    // killed midway (tar extracts lua.c before lvm.c): nothing in place
    await assert.rejects(
      extractOnce(tree, async (into) => {
        await Deno.mkdir(`${into}/lua-5.4.7/src`, { recursive: true });
        await Deno.writeTextFile(`${into}/lua-5.4.7/src/lua.c`, "lua");
        throw new Error("killed");
      }),
      /killed/,
    );
    assert.equal(await Deno.stat(tree).catch(() => null), null);
    // what an earlier version left after such a kill: lua.c, no lvm.c
    await Deno.mkdir(`${tree}/src`, { recursive: true });
    await Deno.writeTextFile(`${tree}/src/lua.c`, "lua");
    await extractOnce(tree, full);
    assert.equal(await Deno.readTextFile(`${tree}/src/lvm.c`), "lvm");
    // complete: not extracted again
    await extractOnce(tree, () => {
      throw new Error("extracted again");
    });
    // no staging directory is left behind
    const left = [...Deno.readDirSync(src)].map((e) => e.name);
    assert.deepEqual(left, ["lua-5.4.7"]);
  } finally {
    await Deno.remove(src, { recursive: true });
  }
});
