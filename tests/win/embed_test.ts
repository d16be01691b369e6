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

test("a reused extracted DLL's last use is recorded though it is held (a prune by another build keeps what is in use)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "heapshift-embed-" });
  try {
    // a different DLL from the test above's: this one is not held yet
    const bytes = await Deno.readFile(fixture("api_early.dll"));
    const dll = { bytes, sha256: await sha256Hex(bytes) };
    const { path } = await extractDll(dll, dir);
    // as if extracted and last used 40 days ago (while not held: a copy)
    const copyDir = await Deno.makeTempDir({ dir, prefix: "again-" });
    const again = `${copyDir}\\${path.slice(path.lastIndexOf("\\") + 1)}`;
    await Deno.copyFile(path, again);
    // written 40 days ago, last used 2 hours ago (a volume that updates
    // access times on reads leaves one newer than the write and younger
    // than a day as it is: Linux's relatime, under Wine)
    const old = new Date(Date.now() - 40 * 24 * 3600 * 1000);
    await Deno.utime(again, new Date(Date.now() - 2 * 3600 * 1000), old);
    // (Wine's volume updates the access time on the reads of the check
    // itself, which NTFS by default does not: what counts here is that
    // setting it was not refused)
    const utime = Deno.utime;
    const refused: unknown[] = [];
    Deno.utime = async (...args: Parameters<typeof Deno.utime>) => {
      try {
        return await utime(...args);
      } catch (e) {
        refused.push(e);
        throw e;
      }
    };
    let reused;
    try {
      reused = await extractDll(dll, copyDir);
    } finally {
      Deno.utime = utime;
    }
    assertEquals(reused, { path: again, written: false });
    assertEquals(refused.map(String), []);
    const st = await Deno.stat(again);
    // its bytes' time stays; its access time is now
    assertEquals(st.mtime?.getTime(), old.getTime());
    assert(
      Date.now() - (st.atime?.getTime() ?? 0) < 10 * 60 * 1000,
      `atime ${st.atime?.toISOString()}`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
