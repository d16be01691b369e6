import assert from "node:assert/strict";
import {
  buildPrograms,
  extractOnce,
  ProgramSourcesError,
} from "./bench_programs.ts";

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
    const left = [...Deno.readDirSync(src)].filter((e) => e.isDirectory)
      .map((e) => e.name);
    assert.deepEqual(left, ["lua-5.4.7"]);
  } finally {
    await Deno.remove(src, { recursive: true });
  }
});

Deno.test("extractOnce: two runs at once (two checkouts sharing the cache) extract once: the second waits and takes the first's tree, never removing it while the first's build may read it", async () => {
  const src = await Deno.makeTempDir();
  try {
    const tree = `${src}/lua-5.4.7`;
    let calls = 0;
    let open!: () => void;
    const gate = new Promise<void>((r) => open = r);
    const slow = async (into: string) => {
      calls++;
      await gate;
      await Deno.mkdir(`${into}/lua-5.4.7/src`, { recursive: true });
      await Deno.writeTextFile(`${into}/lua-5.4.7/src/lua.c`, "lua");
    };
    const both = Promise.all([
      extractOnce(tree, slow),
      extractOnce(tree, slow),
    ]);
    // time for both to start extracting, if nothing holds the second back
    await new Promise((r) => setTimeout(r, 300));
    open();
    await both;
    assert.equal(calls, 1);
    assert.equal(await Deno.readTextFile(`${tree}/src/lua.c`), "lua");
  } finally {
    await Deno.remove(src, { recursive: true });
  }
});

Deno.test("buildPrograms: a source tree that cannot be made (no folder there, a full disk) is no failed fetch: the test task would say to check the network", async () => {
  const saved = Deno.env.get("XDG_CACHE_HOME");
  const cache = await Deno.makeTempDir();
  try {
    Deno.env.set("XDG_CACHE_HOME", cache);
    // where the sources go (rootfs/opt/... here, sources on Windows): a file
    await Deno.mkdir(`${cache}/heapshift`);
    await Deno.writeTextFile(`${cache}/heapshift/rootfs`, "");
    await Deno.writeTextFile(`${cache}/heapshift/sources`, "");
    const e = await buildPrograms({ mimalloc: null }).catch((e) => e);
    assert.ok(e instanceof Error);
    assert.ok(!(e instanceof ProgramSourcesError), String(e));
  } finally {
    if (saved === undefined) Deno.env.delete("XDG_CACHE_HOME");
    else Deno.env.set("XDG_CACHE_HOME", saved);
    await Deno.remove(cache, { recursive: true });
  }
});
