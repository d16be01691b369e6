import assert from "node:assert/strict";
import {
  absoluteOptionPaths,
  baseName,
  exists,
  isDir,
  isFile,
  linkExists,
} from "./_paths.ts";

Deno.test("baseName takes Windows and POSIX paths", () => {
  assert.equal(baseName("C:\\dir\\heapshift.dll"), "heapshift.dll");
  assert.equal(baseName("/work/build/heapshift.dll"), "heapshift.dll");
  assert.equal(baseName("Z:\\mixed/sep\\probe.dll"), "probe.dll");
  assert.equal(baseName("probe.dll"), "probe.dll");
});

Deno.test("exists, isFile and isDir tell what is at a path", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/f`;
    await Deno.writeTextFile(file, "x");
    assert.deepEqual([exists(file), isFile(file), isDir(file)], [
      true,
      true,
      false,
    ]);
    assert.deepEqual([exists(dir), isFile(dir), isDir(dir)], [
      true,
      false,
      true,
    ]);
    const none = `${dir}/none`;
    assert.deepEqual([exists(none), isFile(none), isDir(none)], [
      false,
      false,
      false,
    ]);
    if (Deno.build.os !== "windows") {
      const link = `${dir}/dangling`;
      await Deno.symlink(none, link);
      assert.equal(exists(link), false);
      assert.equal(linkExists(link), true);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("absoluteOptionPaths makes only the named options' relative values absolute", () => {
  const names = ["--sample"];
  assert.deepEqual(
    absoluteOptionPaths(["--sample", "a.exe", "b.exe", "--x", "c"], {
      names,
      base: "/w",
    }),
    ["--sample", "/w/a.exe", "b.exe", "--x", "c"],
  );
  assert.deepEqual(
    absoluteOptionPaths(["--sample", "--json", "--sample="], {
      names,
      base: "/w",
    }),
    ["--sample", "--json", "--sample="],
  );
  assert.deepEqual(
    absoluteOptionPaths(["--sample=\\\\srv\\s.exe"], { names, base: "/w" }),
    ["--sample=\\\\srv\\s.exe"],
  );
});
