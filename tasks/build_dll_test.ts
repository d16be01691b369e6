import assert from "node:assert/strict";
import { staticLayoutMismatch } from "./build_dll.ts";
import { IN_ENV, repoRoot, rootfsDir } from "./winenv.ts";

const unit = () => Deno.readTextFile(`${repoRoot()}/dll/mimalloc_unit.c`);
const staticC = (dir: string) =>
  Deno.readTextFile(`${rootfsDir()}${dir}/src/static.c`);

Deno.test("mimalloc_unit.c compiles exactly the sources of v2.1.2's static.c", async () => {
  assert.equal(
    staticLayoutMismatch(await staticC(IN_ENV.mimalloc), await unit()),
    null,
  );
});

Deno.test("a v2 static.c that lists other sources is refused, naming both lists", async () => {
  const v2 = await staticC(IN_ENV.mimalloc);
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
    staticLayoutMismatch(await staticC(IN_ENV.mimalloc3), await unit()),
    null,
  );
});
