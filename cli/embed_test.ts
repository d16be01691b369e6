import assert from "node:assert/strict";
import { join } from "node:path";
import {
  embeddedDll,
  extractDirFor,
  extractDll,
  extractedName,
  fromBase64,
  keptCopy,
  NOTICE_FILE,
  pruneExtracted,
  releaseHeld,
  setEmbeddedDll,
  sha256Hex,
  toBase64,
} from "./embed.ts";
import { resolveDll } from "./dll.ts";
import { withVar } from "../pe/_test_dir.ts";
import { CliError } from "./output.ts";

function fakeDll(n = 70_000): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + (i >> 8)) & 0xff;
  b[0] = 0x4d;
  b[1] = 0x5a;
  return b;
}

Deno.test("base64 round-trips large buffers", () => {
  const b = fakeDll(200_001);
  assert.deepEqual(fromBase64(toBase64(b)), b);
});

Deno.test("sha256Hex matches a known digest", async () => {
  assert.equal(
    await sha256Hex(new TextEncoder().encode("abc")),
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
  );
});

Deno.test("extraction writes the bytes under a hashed name, then reuses them", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const bytes = fakeDll();
    const dll = { bytes, sha256: await sha256Hex(bytes) };
    const first = await extractDll(dll, dir);
    assert.equal(first.written, true);
    assert.equal(first.path, join(dir, extractedName(dll.sha256)));
    assert.match(first.path, /heapshift-[0-9a-f]{16}\.dll$/);
    assert.deepEqual(await Deno.readFile(first.path), bytes);
    const mtime = (await Deno.stat(first.path)).mtime;

    const second = await extractDll(dll, dir);
    assert.equal(second.written, false);
    assert.equal(second.path, first.path);
    assert.deepEqual((await Deno.stat(first.path)).mtime, mtime);
    // Only the DLL: no temporary files left.
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), [
      extractedName(dll.sha256),
    ]);
  } finally {
    releaseHeld();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a damaged or truncated extracted copy is replaced", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const bytes = fakeDll();
    const dll = { bytes, sha256: await sha256Hex(bytes) };
    const path = join(dir, extractedName(dll.sha256));
    await Deno.writeFile(path, bytes.subarray(0, 1000)); // truncated
    const r = await extractDll(dll, dir);
    assert.equal(r.written, true);
    assert.deepEqual(await Deno.readFile(path), bytes);
    const flipped = bytes.slice();
    flipped[5000] ^= 0xff; // same size, wrong bytes
    releaseHeld(); // (damaged later, when no run holds it)
    await Deno.writeFile(path, flipped);
    assert.equal((await extractDll(dll, dir)).written, true);
    assert.deepEqual(await Deno.readFile(path), bytes);
  } finally {
    releaseHeld();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("different DLL versions get different files", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const a = fakeDll(1000);
    const b = fakeDll(1001);
    const pa = await extractDll({ bytes: a, sha256: await sha256Hex(a) }, dir);
    const pb = await extractDll({ bytes: b, sha256: await sha256Hex(b) }, dir);
    assert.notEqual(pa.path, pb.path);
  } finally {
    releaseHeld();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("concurrent extractions agree and leave one complete file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const bytes = fakeDll(500_000);
    const dll = { bytes, sha256: await sha256Hex(bytes) };
    const rs = await Promise.all(
      Array.from({ length: 8 }, () => extractDll(dll, dir)),
    );
    assert.equal(new Set(rs.map((r) => r.path)).size, 1);
    assert.deepEqual(await Deno.readFile(rs[0].path), bytes);
    assert.equal([...Deno.readDirSync(dir)].length, 1);
  } finally {
    releaseHeld();
    await Deno.remove(dir, { recursive: true });
  }
});

// On Windows a rename onto the DLL's name (another run's extraction) holds
// the file open for deleting a moment, and an open for writing holds it
// too: opening it then to hold it is a sharing violation that passes. It
// was taken for a changed file: 'another program changed it as it was
// written', or a second copy under a unique name. (Elsewhere nothing is
// held, and the copy is reused as it is.)
Deno.test({
  name:
    "an extracted DLL that is busy a moment (open for writing) is waited for and reused, not taken for changed",
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      const bytes = fakeDll(100_000);
      const dll = { bytes, sha256: await sha256Hex(bytes) };
      const first = await extractDll(dll, dir);
      releaseHeld();
      const writer = await Deno.open(first.path, { write: true });
      const closed = new Promise<void>((r) =>
        setTimeout(() => {
          writer.close();
          r();
        }, 200)
      );
      const again = await extractDll(dll, dir);
      await closed;
      assert.deepEqual(again, { path: first.path, written: false });
      assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), [
        extractedName(dll.sha256),
      ]);
    } finally {
      releaseHeld();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("an embedded DLL whose hash does not match is refused", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await assert.rejects(
      extractDll({ bytes: fakeDll(100), sha256: "0".repeat(64) }, dir),
      /damaged/,
    );
  } finally {
    releaseHeld();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("resolveDll uses the embedded DLL when the binary has one", async () => {
  // defaultExtractDir's base: LOCALAPPDATA on Windows
  const base = Deno.build.os === "windows" ? "LOCALAPPDATA" : "XDG_CACHE_HOME";
  await withVar(base, async (dir) => {
    Deno.env.set(base, dir);
    try {
      const bytes = fakeDll();
      setEmbeddedDll({ bytes, sha256: await sha256Hex(bytes) });
      assert.ok(embeddedDll());
      const path = await resolveDll();
      assert.ok(path.startsWith(join(dir, "heapshift", "dll", "heapshift-")));
      assert.deepEqual(await Deno.readFile(path), bytes);
    } finally {
      setEmbeddedDll(undefined);
      releaseHeld();
    }
  });
});

Deno.test("the notice is written beside the extracted DLL", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const bytes = fakeDll(2000);
    const notice = "mimalloc: MIT License\n";
    const dll = { bytes, sha256: await sha256Hex(bytes), notice };
    const r = await extractDll(dll, dir);
    assert.equal(await Deno.readTextFile(`${dir}/${NOTICE_FILE}`), notice);
    assert.deepEqual(
      [...Deno.readDirSync(dir)].map((e) => e.name).sort(),
      [NOTICE_FILE, r.path.slice(dir.length + 1)].sort(),
    );
    await Deno.writeTextFile(`${dir}/${NOTICE_FILE}`, "changed");
    await extractDll(dll, dir);
    assert.equal(await Deno.readTextFile(`${dir}/${NOTICE_FILE}`), notice);
  } finally {
    releaseHeld();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("pruneExtracted: other builds' DLLs and leftovers unused for 30 days go; the current one, recent ones and other files stay", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const old = new Date(Date.now() - 40 * 24 * 3600 * 1000);
    const files = {
      current: "heapshift-0123456789abcdef.dll",
      stale: "heapshift-fedcba9876543210.dll",
      staleAlt: "heapshift-fedcba9876543210-1a2b3c4d.dll",
      leftover: "heapshift-fedcba9876543210.dll.99-abcd1234.tmp",
      recent: "heapshift-1111111111111111.dll",
      notice: NOTICE_FILE,
      foreign: "other.dll",
    };
    for (const name of Object.values(files)) {
      await Deno.writeTextFile(`${dir}/${name}`, "x");
      if (name !== files.recent) await Deno.utime(`${dir}/${name}`, old, old);
    }
    await pruneExtracted(dir, { keep: `${dir}/${files.current}` });
    const left = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assert.deepEqual(
      left,
      [files.current, files.foreign, files.notice, files.recent].sort(),
    );
  } finally {
    releaseHeld();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a kept copy (for a Special K ini) outlives the pruning of the build that extracted it", async () => {
  const root = await Deno.makeTempDir();
  try {
    const dir = `${root}/heapshift/dll`;
    const a = fakeDll(1000);
    const b = fakeDll(1001);
    const old = await extractDll({ bytes: a, sha256: await sha256Hex(a) }, dir);
    const kept = await keptCopy(old.path, dir);
    assert.equal(
      kept,
      `${root}/heapshift/kept/${extractedName(await sha256Hex(a))}`,
    );
    assert.deepEqual(await Deno.readFile(kept), a);
    assert.equal(await keptCopy(old.path, dir), kept, "written once");
    // A later build, 31 days on: the old extraction goes, the kept copy stays.
    // (a later run, which does not hold the old one open as this one does)
    releaseHeld();
    const now = await extractDll({ bytes: b, sha256: await sha256Hex(b) }, dir);
    await pruneExtracted(dir, {
      keep: now.path,
      now: Date.now() + 31 * 24 * 3600 * 1000,
    });
    await assert.rejects(Deno.stat(old.path), Deno.errors.NotFound);
    assert.deepEqual(await Deno.readFile(kept), a);
  } finally {
    releaseHeld();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("the extraction folder is the user's own: never a shared temporary or the current directory", () => {
  const env = (vars: Record<string, string>) => (k: string) => vars[k];
  assert.equal(
    extractDirFor(
      "windows",
      env({
        LOCALAPPDATA: "C:\\Users\\u\\AppData\\Local",
        TEMP: "C:\\Windows\\Temp",
      }),
    ),
    "C:\\Users\\u\\AppData\\Local\\heapshift\\dll",
  );
  // without LOCALAPPDATA: the profile's, not TEMP (C:\Windows\Temp for a
  // service, where every user may create folders) nor "."
  assert.equal(
    extractDirFor(
      "windows",
      env({ USERPROFILE: "C:\\Users\\u\\", TEMP: "C:\\Windows\\Temp" }),
    ),
    "C:\\Users\\u\\AppData\\Local\\heapshift\\dll",
  );
  assert.throws(
    () => extractDirFor("windows", env({ TEMP: "C:\\Windows\\Temp" })),
    (e: Error) =>
      e instanceof CliError && /LOCALAPPDATA/.test(e.message) &&
      /--dll PATH/.test(e.message),
  );
  assert.throws(
    () => extractDirFor("posix", env({})),
    (e: Error) => e instanceof CliError && /--dll PATH/.test(e.message),
  );
  assert.equal(
    extractDirFor("posix", env({ HOME: "/home/u" })),
    "/home/u/.cache/heapshift/dll",
  );
});

Deno.test("a folder the DLL cannot be written to is a CliError naming it and saying what to do; nothing is left behind", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // a file where the folder should be: no write under it succeeds (as
    // root too, which a read-only folder would not stop)
    const blocked = `${dir}/file`;
    await Deno.writeTextFile(blocked, "x");
    const bytes = fakeDll(1000);
    const dll = { bytes, sha256: await sha256Hex(bytes), notice: "n" };
    for (const d of [dll, { ...dll, notice: undefined }]) {
      await assert.rejects(
        extractDll(d, `${blocked}/dll`),
        (e: Error) =>
          e instanceof CliError &&
          e.message.startsWith(
            `Cannot write the embedded hook DLL to ${blocked}/dll: `,
          ) && /--dll PATH/.test(e.message),
      );
    }
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["file"]);
  } finally {
    releaseHeld();
    await Deno.remove(dir, { recursive: true });
  }
});
