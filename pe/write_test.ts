import assert from "node:assert/strict";
import { OutputExistsError, PeFormatError } from "./errors.ts";
import { imports } from "./reader.ts";
import {
  defaultOutputPath,
  patchImports,
  removeImport,
  writeFileAtomic,
} from "./write.ts";
import { buildPe, DEFAULT_IMPORTS } from "./_test_pe.ts";

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function listDir(dir: string): Promise<string[]> {
  return (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).sort();
}

const dllsOf = async (p: string) => (await imports(p)).map((d) => d.dll);

Deno.test("defaultOutputPath() puts the tag before the extension", () => {
  assert.equal(defaultOutputPath("/a/game.exe"), "/a/game.heapshift.exe");
  assert.equal(
    defaultOutputPath("game.exe", "unpatched"),
    "game.unpatched.exe",
  );
  assert.equal(defaultOutputPath("C:\\x.y\\game"), "C:\\x.y\\game.heapshift");
});

Deno.test("patchImports() writes a new file next to the original", async () => {
  await withDir(async (dir) => {
    const exe = `${dir}/game.exe`;
    const original = buildPe();
    await Deno.writeFile(exe, original);
    const r = await patchImports(exe);
    assert.equal(r.action, "added");
    assert.equal(r.output, `${dir}/game.heapshift.exe`);
    assert.deepEqual(r.imports, [
      "heapshift.dll",
      ...DEFAULT_IMPORTS.map((d) => d.dll),
    ]);
    assert.deepEqual(await Deno.readFile(exe), original);
    assert.equal((await dllsOf(r.output!))[0], "heapshift.dll");
    assert.deepEqual(await listDir(dir), ["game.exe", "game.heapshift.exe"]);
    // The output exists now: refused without force, replaced with it.
    await assert.rejects(() => patchImports(exe), OutputExistsError);
    const forced = await patchImports(exe, { force: true });
    assert.equal(forced.output, r.output);
    // Patching the output again changes nothing and writes nothing.
    const again = await patchImports(r.output!, { output: `${dir}/x.exe` });
    assert.equal(again.changed, false);
    assert.equal(again.output, undefined);
    assert.deepEqual(await listDir(dir), ["game.exe", "game.heapshift.exe"]);
  });
});

Deno.test("patchImports({ inPlace }) keeps a backup; removeImport() restores", async () => {
  await withDir(async (dir) => {
    const exe = `${dir}/game.exe`;
    const original = buildPe({
      overlay: new Uint8Array(64).fill(9),
      symbols: 2,
    });
    await Deno.writeFile(exe, original);
    if (Deno.build.os !== "windows") await Deno.chmod(exe, 0o751);
    const r = await patchImports(exe, { inPlace: true, postfix: "-debug" });
    assert.equal(r.output, exe);
    assert.equal(r.backup, `${exe}.bak`);
    assert.deepEqual(await Deno.readFile(`${exe}.bak`), original);
    assert.equal((await dllsOf(exe))[0], "heapshift-debug.dll");
    if (Deno.build.os !== "windows") {
      assert.equal((await Deno.stat(exe)).mode! & 0o777, 0o751);
    }
    // A second in-place patch is a no-op, so the backup is not in the way.
    assert.equal(
      (await patchImports(exe, { inPlace: true, postfix: "-debug" })).changed,
      false,
    );
    // Undo in place: the backup exists, so force is needed.
    await assert.rejects(
      () => removeImport(exe, { inPlace: true, postfix: "-debug" }),
      OutputExistsError,
    );
    const u = await removeImport(exe, {
      inPlace: true,
      postfix: "-debug",
      backup: false,
    });
    assert.equal(u.action, "removed");
    assert.deepEqual(await Deno.readFile(exe), original);
    assert.deepEqual(await listDir(dir), ["game.exe", "game.exe.bak"]);
  });
});

Deno.test("list mode reports without writing", async () => {
  await withDir(async (dir) => {
    const exe = `${dir}/game.exe`;
    await Deno.writeFile(exe, buildPe());
    const r = await patchImports(exe, { list: true });
    assert.equal(r.action, "added");
    assert.equal(r.output, undefined);
    assert.deepEqual(r.imports, DEFAULT_IMPORTS.map((d) => d.dll));
    assert.equal(
      (await patchImports(exe, { list: true, dll: "ws2_32.dll" })).action,
      "moved",
    );
    assert.equal(
      (await patchImports(exe, { list: true, dll: "kernel32.dll" })).action,
      "unchanged",
    );
    assert.equal((await removeImport(exe, { list: true })).action, "unchanged");
    assert.deepEqual(await listDir(dir), ["game.exe"]);
  });
});

Deno.test("a malformed input writes no output and leaves no temp file", async () => {
  await withDir(async (dir) => {
    const exe = `${dir}/bad.exe`;
    await Deno.writeFile(exe, buildPe().slice(0, 0x300));
    await assert.rejects(() => patchImports(exe), PeFormatError);
    await assert.rejects(
      () => patchImports(exe, { inPlace: true }),
      PeFormatError,
    );
    await assert.rejects(() => removeImport(exe), PeFormatError);
    assert.deepEqual(await listDir(dir), ["bad.exe"]);
  });
});

Deno.test("writeFileAtomic() never clobbers without overwrite", async () => {
  await withDir(async (dir) => {
    const p = `${dir}/f`;
    await writeFileAtomic(p, new Uint8Array([1]));
    await assert.rejects(
      () => writeFileAtomic(p, new Uint8Array([2])),
      OutputExistsError,
    );
    assert.deepEqual(await Deno.readFile(p), new Uint8Array([1]));
    await writeFileAtomic(p, new Uint8Array([3]), { overwrite: true });
    assert.deepEqual(await Deno.readFile(p), new Uint8Array([3]));
    assert.deepEqual(await listDir(dir), ["f"]);
  });
});
