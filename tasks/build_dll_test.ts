import assert from "node:assert/strict";
import { buildDll, MIMALLOC_TREES, staticLayoutMismatch } from "./build_dll.ts";
import { repoRoot } from "./winenv.ts";

const unit = () => Deno.readTextFile(`${repoRoot()}/dll/mimalloc_unit.c`);
const staticC = (dir: string) =>
  Deno.readTextFile(`${repoRoot()}/${dir}/src/static.c`);

Deno.test("mimalloc_unit.c compiles exactly the sources of v2.1.2's static.c", async () => {
  assert.equal(
    staticLayoutMismatch(await staticC(MIMALLOC_TREES[2]), await unit()),
    null,
  );
});

Deno.test("a v2 static.c that lists other sources is refused, naming both lists", async () => {
  const v2 = await staticC(MIMALLOC_TREES[2]);
  const moved = v2.replace(
    '#include "segment-map.c"\n',
    '#include "segment-map.c"\n#include "arena-abandon.c"\n',
  );
  assert.notEqual(moved, v2);
  const why = staticLayoutMismatch(moved, await unit());
  assert.match(why ?? "", /segment-map\.c, arena-abandon\.c, stats\.c/);
  assert.match(why ?? "", /hs-static\) includes .*segment-map\.c, stats\.c/);
  // v3's layout is a different one altogether (the build includes its
  // static.c whole and never asks)
  assert.notEqual(
    staticLayoutMismatch(await staticC(MIMALLOC_TREES[3]), await unit()),
    null,
  );
});

Deno.test("two builds for directories outside the checkout at once each get their own DLL", async () => {
  const root = repoRoot();
  const [a, b] = [await Deno.makeTempDir(), await Deno.makeTempDir()];
  try {
    // exact and usable _msize: different DLLs from the same sources
    await Promise.all([
      buildDll({ arch: "x64", outDir: a, force: true }),
      buildDll({ arch: "x64", outDir: b, force: true, msize: "usable" }),
    ]);
    const [da, db] = await Promise.all(
      [a, b].map((d) => Deno.readFile(`${d}/heapshift.dll`)),
    );
    assert.equal(String.fromCharCode(da[0], da[1]), "MZ");
    assert.equal(String.fromCharCode(db[0], db[1]), "MZ");
    assert.notDeepEqual(da, db);
    // what the builds staged in the checkout is gone
    const staged = [...Deno.readDirSync(`${root}/build`)]
      .filter((e) => e.name.startsWith(".out-dir"));
    assert.deepEqual(staged, []);
  } finally {
    await Deno.remove(a, { recursive: true });
    await Deno.remove(b, { recursive: true });
  }
});
