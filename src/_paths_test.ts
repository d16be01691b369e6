import assert from "node:assert/strict";
import {
  absoluteOptionPaths,
  baseName,
  exists,
  fileNameOfPath,
  isDir,
  isFile,
  linkExists,
  userCwd,
} from "./_paths.ts";

Deno.test("baseName takes Windows and POSIX paths", () => {
  assert.equal(baseName("C:\\dir\\heapshift.dll"), "heapshift.dll");
  assert.equal(baseName("/work/build/heapshift.dll"), "heapshift.dll");
  assert.equal(baseName("Z:\\mixed/sep\\probe.dll"), "probe.dll");
  assert.equal(baseName("probe.dll"), "probe.dll");
});

Deno.test("fileNameOfPath: the file name of a path with a directory or a drive (C:x.dll), none for a bare name", () => {
  assert.equal(fileNameOfPath("build/heapshift.dll"), "heapshift.dll");
  assert.equal(fileNameOfPath("C:\\dir\\hs.dll"), "hs.dll");
  assert.equal(fileNameOfPath("C:hs.dll"), "hs.dll");
  assert.equal(fileNameOfPath("dir/"), "");
  assert.equal(fileNameOfPath("hs.dll"), undefined);
  assert.equal(fileNameOfPath("ab:hs.dll"), undefined);
});

Deno.test("fileNameOfPath: the name Windows opens, never . or .. (a directory), a trailing dot or space (dropped), a stream (x.dll:s) or a device path's drive", () => {
  for (
    const [path, name] of [
      ["C:", ""],
      ["C:.", ""],
      ["C:..", ""],
      ["dir\\.", ""],
      ["dir/..", ""],
      ["C:\\dir\\hs.dll.", "hs.dll"],
      ["C:hs.dll .", "hs.dll"],
      ["\\\\.\\C:\\hs.dll..", "hs.dll"],
      // in a \\?\ path Windows drops nothing: the name is what it says
      ["\\\\?\\C:\\hs.dll.", "hs.dll."],
      ["\\\\?\\C:\\hs.dll", "hs.dll"],
      ["\\\\?\\C:", ""],
      ["\\\\.\\C:", ""],
      ["\\\\server\\share\\hs.dll", "hs.dll"],
      // a drive-relative one-letter name, not the file a's stream b
      ["a:b", "b"],
      // a file's stream: the file is hs.dll
      ["dir\\hs.dll:s", "hs.dll"],
      ["C:\\hs.dll::$DATA", "hs.dll"],
    ]
  ) assert.equal(fileNameOfPath(path), name, JSON.stringify(path));
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

Deno.test("absoluteOptionPaths: a Windows path relative to a drive (C:x) or to the drive's root (\\x) is made absolute against the base's drive", () => {
  const names = ["--sample", "--dll"];
  assert.deepEqual(
    absoluteOptionPaths([
      "--sample",
      "C:foo.exe",
      "--dll=c:x\\hs.dll",
      "--sample",
      "D:bar.exe",
      "--dll",
      "\\tools\\hs.dll",
      "--dll",
      "/tools/hs.dll",
      "--dll",
      "\\\\srv\\s\\hs.dll",
      "--dll",
      "\\\\?\\C:\\x.dll",
      "--dll",
      "C:\\abs\\hs.dll",
    ], { names, base: "C:\\Users\\u" }),
    [
      "--sample",
      "C:\\Users\\u\\foo.exe",
      "--dll=C:\\Users\\u\\x\\hs.dll",
      "--sample",
      // Another drive's current directory is not known here: left as given.
      "D:bar.exe",
      "--dll",
      "C:\\tools\\hs.dll",
      "--dll",
      "C:/tools/hs.dll",
      "--dll",
      "\\\\srv\\s\\hs.dll",
      "--dll",
      "\\\\?\\C:\\x.dll",
      "--dll",
      "C:\\abs\\hs.dll",
    ],
  );
  // POSIX: / is absolute.
  assert.deepEqual(
    absoluteOptionPaths(["--dll", "/t/hs.dll"], { names, base: "/w" }),
    ["--dll", "/t/hs.dll"],
  );
});

Deno.test("userCwd: INIT_CWD when a task set it, else the current directory", () => {
  const saved = Deno.env.get("INIT_CWD");
  try {
    Deno.env.set("INIT_CWD", "/somewhere/else");
    assert.equal(userCwd(), "/somewhere/else");
    // Empty is unset (a shell's `INIT_CWD=` before a direct run).
    Deno.env.set("INIT_CWD", "");
    assert.equal(userCwd(), Deno.cwd());
    Deno.env.delete("INIT_CWD");
    assert.equal(userCwd(), Deno.cwd());
  } finally {
    if (saved === undefined) Deno.env.delete("INIT_CWD");
    else Deno.env.set("INIT_CWD", saved);
  }
});
