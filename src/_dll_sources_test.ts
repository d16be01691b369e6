// Which files the hook DLL is built from, and the digest build-dll records
// beside it and the CLI compares to tell a DLL built from other sources.
import assert from "node:assert/strict";
import { dllInputFiles, dllSourcesDigest } from "./_dll_sources.ts";
import { MIMALLOC_TREES } from "../tasks/build_dll.ts";
import { exists, repoRoot } from "../tasks/winenv.ts";

Deno.test("a DLL's inputs are its sources, mimalloc's headers and sources, and the task code", () => {
  const root = repoRoot();
  const mi = `${root}/${MIMALLOC_TREES[3]}`;
  const files = dllInputFiles(root, mi);
  for (
    const f of [
      `${root}/dll/heapshift.h`,
      `${root}/dll/hooks.c`,
      `${mi}/include/mimalloc.h`,
      `${mi}/include/mimalloc/types.h`,
      `${mi}/src/static.c`,
      `${mi}/src/prim/windows/prim.c`,
      `${root}/tasks/build_dll.ts`,
      `${root}/tasks/toolchain.ts`,
    ]
  ) assert.ok(files.includes(f), f);
});

Deno.test("a DLL's inputs are files that exist when the checkout's path has a space or a non-ASCII name (its module URL is percent-encoded)", async () => {
  if (Deno.build.os === "windows") return; // (a symbolic link needs a privilege there)
  const dir = await Deno.makeTempDir({ prefix: "hs inputs é " });
  try {
    const root = `${dir}/check out`;
    await Deno.symlink(repoRoot(), root);
    const url = new URL(`file://${root}/src/_dll_sources.ts`);
    const moved: typeof import("./_dll_sources.ts") = await import(
      url.href
    );
    const files = moved.dllInputFiles(root, `${root}/${MIMALLOC_TREES[3]}`);
    for (const f of files) assert.ok(exists(f), f);
    assert.ok(files.includes(`${root}/tasks/build_dll.ts`));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Copies the tree at `from` to `to` (no `cp` on Windows). */
function copyTree(from: string, to: string): void {
  Deno.mkdirSync(to);
  for (const e of Deno.readDirSync(from)) {
    const [src, dst] = [`${from}/${e.name}`, `${to}/${e.name}`];
    if (e.isDirectory) copyTree(src, dst);
    else Deno.copyFileSync(src, dst);
  }
}

Deno.test("the sources digest follows every input's contents, not where the checkout is", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hs-digest-" });
  try {
    const copy = (root: string) => {
      for (const d of ["dll", "tasks"]) {
        copyTree(`${repoRoot()}/${d}`, `${root}/${d}`);
      }
    };
    const [a, b] = [`${dir}/a`, `${dir}/b`];
    for (const root of [a, b]) {
      await Deno.mkdir(root);
      copy(root);
    }
    const mi = `${repoRoot()}/${MIMALLOC_TREES[3]}`;
    const before = await dllSourcesDigest(a, mi);
    assert.match(before, /^[0-9a-f]{64}$/);
    assert.equal(await dllSourcesDigest(b, mi), before);
    await Deno.writeTextFile(`${b}/dll/hooks.c`, "\n", { append: true });
    assert.notEqual(await dllSourcesDigest(b, mi), before);
    await Deno.writeTextFile(`${a}/dll/new.h`, "");
    assert.notEqual(await dllSourcesDigest(a, mi), before);
    // another mimalloc tree is other sources
    const other = `${repoRoot()}/${MIMALLOC_TREES[2]}`;
    assert.notEqual(
      await dllSourcesDigest(`${dir}/b`, other),
      await dllSourcesDigest(`${dir}/b`, mi),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
