import assert from "node:assert/strict";
import {
  compileWith,
  fileFacts,
  inputsDigest,
  isCurrent,
  isStale,
  mingwArgs,
  mingwIdentity,
  mingwPackages,
  removeAbandoned,
  writeStamp,
} from "./toolchain.ts";

Deno.test("mingwArgs links DLLs statically and shared", () => {
  const args = mingwArgs({
    sources: ["a.c"],
    out: "a.dll",
    kind: "dll",
    flags: ["-lpsapi"],
  });
  assert.equal(args[0], "x86_64-w64-mingw32ucrt-gcc");
  assert.ok(args.includes("-static"));
  assert.ok(args.includes("-shared"));
  assert.deepEqual(args.slice(-4), ["-o", "a.dll", "a.c", "-lpsapi"]);
});

Deno.test("mingwArgs builds executables without -shared", () => {
  assert.ok(!mingwArgs({ sources: ["a.c"], out: "a.exe" }).includes("-shared"));
});

Deno.test("isStale compares modification times", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const src = `${dir}/a.c`;
    const out = `${dir}/a.exe`;
    await Deno.writeTextFile(src, "int main(void){return 0;}");
    assert.ok(isStale(out, [src]), "a missing output is stale");
    await Deno.writeTextFile(out, "");
    await Deno.utime(out, 2_000_000_000, 2_000_000_000);
    assert.ok(!isStale(out, [src]), "a newer output is fresh");
    await Deno.utime(src, 2_100_000_000, 2_100_000_000);
    assert.ok(isStale(out, [src]), "an edited source makes it stale");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("mingwArgs compiles x86 with the i686 compiler against the UCRT", () => {
  const args = mingwArgs({
    sources: ["a.c"],
    out: "a32.dll",
    kind: "dll",
    arch: "x86",
  });
  assert.deepEqual(args.slice(0, 2), ["i686-w64-mingw32-gcc", "-mcrtdll=ucrt"]);
  assert.ok(args.includes("-static") && args.includes("-shared"));
  assert.ok(!args.includes("x86_64-w64-mingw32ucrt-gcc"));
  assert.equal(
    mingwArgs({ sources: ["a.c"], out: "a.exe", arch: "x64" })[0],
    "x86_64-w64-mingw32ucrt-gcc",
  );
});

/** A stand-in compiler: writes `bytes` to its -o file, then exits `code`. */
function fakeCompiler(bytes: string, code: number, seen: string[] = []) {
  return async (args: string[]) => {
    const out = args[args.indexOf("-o") + 1];
    seen.push(out);
    await Deno.writeTextFile(out, bytes);
    return code;
  };
}

Deno.test("a compile that dies halfway leaves no partial output, and the previous one intact", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const out = `${dir}/a.exe`;
    // killed while the linker wrote (here: a nonzero exit after a partial
    // write; a SIGKILLed build under the old code left a 0-byte a.exe,
    // newer than its sources, which isStale then took for up to date)
    await assert.rejects(
      compileWith({ sources: ["a.c"], out }, fakeCompiler("MZ", 137)),
      /exited with 137/,
    );
    assert.throws(() => Deno.statSync(out), Deno.errors.NotFound);
    await compileWith({ sources: ["a.c"], out }, fakeCompiler("MZwhole", 0));
    assert.equal(await Deno.readTextFile(out), "MZwhole");
    await assert.rejects(
      compileWith({ sources: ["a.c"], out }, fakeCompiler("MZ", 1)),
    );
    assert.equal(await Deno.readTextFile(out), "MZwhole");
    // nothing of the builds is left beside it
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["a.exe"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the compiler writes a file of the output's own name (a DLL's export directory names it)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const seen: string[] = [];
    await compileWith(
      { sources: ["a.c"], out: `${dir}/heapshift.dll`, kind: "dll" },
      fakeCompiler("MZ", 0, seen),
    );
    assert.equal(seen.length, 1);
    assert.match(seen[0], /\/heapshift\.dll$/);
    assert.notEqual(seen[0], `${dir}/heapshift.dll`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a compiler that is not there says so and what to do", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await assert.rejects(
      compileWith(
        { sources: ["a.c"], out: `${dir}/a.exe` },
        () => Promise.resolve(127),
      ),
      /x86_64-w64-mingw32ucrt-gcc was not found.*(gcc-mingw-w64-ucrt64|PATH)/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a stamp holds while the inputs' contents and the output stay as built", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const src = `${dir}/a.c`;
    const out = `${dir}/a.exe`;
    await Deno.writeTextFile(src, "int main(void){return 0;}");
    await Deno.writeTextFile(out, "MZ whole program");
    const d1 = await inputsDigest([src], ["-O2", "gcc 14.2"]);
    assert.equal(await isCurrent(out, d1), false, "no stamp yet");
    await writeStamp(out, d1);
    assert.ok(await isCurrent(out, d1));
    assert.ok(
      (await inputsDigest([src], ["-O2", "gcc 14.3"])) !== d1,
      "another compiler: other inputs",
    );
    // an edit put back with the old time (a copy, an unpacked archive)
    const st = Deno.statSync(src);
    await Deno.writeTextFile(src, "int main(void){return 1;}");
    await Deno.utime(src, st.atime!, st.mtime!);
    assert.equal(isStale(out, [src]), false, "times alone miss it");
    assert.notEqual(await inputsDigest([src], ["-O2", "gcc 14.2"]), d1);
    // the output cut short or replaced after the build
    await Deno.writeTextFile(src, "int main(void){return 0;}");
    await Deno.writeTextFile(out, "MZ");
    assert.equal(await isCurrent(out, d1), false, "truncated");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the compiler's identity: the environment's mingw-w64 packages", async () => {
  const status = [
    "Package: gcc-mingw-w64-ucrt64\nStatus: install ok installed\nVersion: 14.2.0-19+27+b1\n",
    "Package: wine\nStatus: install ok installed\nVersion: 10.0~repack-6\n",
    "Package: mingw-w64-ucrt64-dev\nStatus: install ok installed\nVersion: 12.0.0-5\n",
    "Package: binutils-mingw-w64-i686\nStatus: deinstall ok config-files\nVersion: 2.44-3\n",
  ].join("\n");
  assert.equal(
    mingwPackages(status),
    "gcc-mingw-w64-ucrt64 14.2.0-19+27+b1\nmingw-w64-ucrt64-dev 12.0.0-5",
  );
  // the provisioned environment's (empty before provisioning); on
  // Windows, the --version of the compiler on PATH (empty without one)
  const id = await mingwIdentity();
  if (id) {
    assert.match(
      id,
      Deno.build.os === "windows"
        ? /^x86_64-w64-mingw32ucrt-gcc .*\d/
        : /^gcc-mingw-w64-ucrt64 /m,
    );
  }
});

Deno.test("a stamp written after another build replaced the output does not hold", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const out = `${dir}/a.dll`;
    // build A renames its file into place ...
    const a = await compileWith(
      { sources: ["a.c"], out, kind: "dll" },
      fakeCompiler("MZ variant A", 0),
    );
    // ... build B (another variant, the same size) replaces it before A
    // records its stamp, within the same tick of the file system's clock
    // (a busy machine made the two times equal: set so here)
    await compileWith(
      { sources: ["a.c"], out, kind: "dll" },
      fakeCompiler("MZ variant B", 0),
    );
    await Deno.utime(out, new Date(a.mtime), new Date(a.mtime));
    assert.equal(fileFacts(out).size, a.size);
    await writeStamp(out, "inputs of A", a);
    assert.equal(await isCurrent(out, "inputs of A"), false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a killed build's staging directory goes once it is a day old, a running build's stays", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/.build-old/x`, { recursive: true });
    await Deno.mkdir(`${dir}/.build-new`);
    await Deno.mkdir(`${dir}/.out-dir-old`);
    const dayAgo = (Date.now() - 25 * 3600 * 1000) / 1000;
    await Deno.utime(`${dir}/.build-old`, dayAgo, dayAgo);
    await Deno.utime(`${dir}/.out-dir-old`, dayAgo, dayAgo);
    await removeAbandoned(dir);
    await removeAbandoned(dir, ".out-dir-");
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), [
      ".build-new",
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a killed build's staging directory that another build removes first is passed over (two builds at once)", async () => {
  const dir = await Deno.makeTempDir();
  const statSync = Deno.statSync;
  try {
    await Deno.mkdir(`${dir}/.build-old`);
    await Deno.mkdir(`${dir}/.build-new`);
    const dayAgo = (Date.now() - 25 * 3600 * 1000) / 1000;
    await Deno.utime(`${dir}/.build-old`, dayAgo, dayAgo);
    // the other build removes it between this one's listing and its look
    Deno.statSync = (path: string | URL) => {
      if (String(path).endsWith("/.build-old")) {
        Deno.removeSync(path, { recursive: true });
      }
      return statSync(path);
    };
    await removeAbandoned(dir);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), [
      ".build-new",
    ]);
  } finally {
    Deno.statSync = statSync;
    await Deno.remove(dir, { recursive: true });
  }
});
