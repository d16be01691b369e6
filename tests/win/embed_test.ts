// The compiled binary's embedded DLL (cli/embed.ts) as Windows sees it: the
// extracted file is held so that nobody can change it between the check of
// its hash and a target loading it.
import { launch, modules } from "../../mod.ts";
import { extractDll, sha256Hex } from "../../cli/embed.ts";
import { assert, assertEquals, assertRejects } from "./assert.ts";
import { fixture, test } from "./harness.ts";

test("an extracted DLL cannot be written, replaced or deleted while heapshift may still load it, and it loads", async () => {
  const dir = await Deno.makeTempDir({ prefix: "heapshift-embed-" });
  try {
    const bytes = await Deno.readFile(fixture("probe.dll"));
    const dll = { bytes, sha256: await sha256Hex(bytes) };
    const { path, written } = await extractDll(dll, dir);
    assert(written);
    const evil = new Uint8Array(bytes.length).fill(0x90);
    await assertRejects(() => Deno.writeFile(path, evil), Error);
    const other = `${dir}\\other.dll`;
    await Deno.writeFile(other, evil);
    await assertRejects(() => Deno.rename(other, path), Error);
    await assertRejects(() => Deno.remove(path), Error);
    assertEquals(await Deno.readFile(path), bytes);
    // …and it is still the one a later extraction in this process uses
    assertEquals(await extractDll(dll, dir), { path, written: false });
    // Held for reading only: a program's loader maps it all the same.
    using proc = await launch(fixture("sleeper.exe"), {
      stdio: "none",
      dlls: [path],
    });
    try {
      assert(
        modules(proc.pid).some((m) =>
          m.path.toLowerCase() === path.toLowerCase()
        ),
      );
    } finally {
      proc.kill();
      await proc.wait({ timeout: 10_000 });
    }
  } finally {
    // (the extracted DLL stays held until this process ends)
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
