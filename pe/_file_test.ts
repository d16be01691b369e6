import assert from "node:assert/strict";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { fileProblem, pathText } from "./_file.ts";

Deno.test("fileProblem: a file another process holds open says what to do", () => {
  for (const code of [32, 33]) {
    assert.equal(
      fileProblem(
        new Error(`Sharing violation. (os error ${code}): rename 'a' -> 'b'`),
        { dir: "." },
      ),
      "it is in use by another process (is the program running? close it and retry)",
    );
  }
  assert.equal(
    fileProblem(new Error("Disk full (os error 112): write 'x'")),
    "disk full",
  );
});

Deno.test("pathText: a file URL is named by its path, as the platform writes it", () => {
  const path = join(Deno.cwd(), "my game.exe");
  assert.equal(pathText(pathToFileURL(path)), path);
  assert.equal(pathText(path), path);
});

Deno.test("pathText: a file URL the platform has no path for (a host on Linux, an encoded /) is named by its text, not a TypeError", () => {
  const odd = [
    new URL("file:///dir%2Fgame.exe"),
    ...(Deno.build.os === "windows" ? [] : [new URL("file://host/game.exe")]),
  ];
  for (const url of odd) assert.equal(typeof pathText(url), "string");
  assert.equal(pathText(new URL("file:///dir%2Fgame.exe")), "/dir/game.exe");
});

Deno.test("fileProblem: a file not found as it is written blames its directory only when that is missing", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // what Wine gives for a name too long (Windows' error 2)
    const e = new Deno.errors.NotFound(
      `The system cannot find the file specified. (os error 2): open '${dir}/x'`,
    );
    assert.equal(
      fileProblem(e, { dir: join(dir, "gone") }),
      "its directory does not exist",
    );
    assert.equal(
      fileProblem(e, { dir }),
      `the system cannot find the file specified, though its directory ${dir} exists`,
    );
    assert.equal(fileProblem(e), "no such file");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("fileProblem: a file not found as it is written, under a regular file, says that file is in the way", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = join(dir, "notes.txt");
    await Deno.writeTextFile(file, "the user's work");
    // Windows' (and Wine's) error when a directory of the path is a file
    const e = new Deno.errors.NotFound(
      `The system cannot find the path specified. (os error 3): open '${file}/x'`,
    );
    assert.equal(
      fileProblem(e, { dir: file }),
      `its directory ${file} is a file, not a directory`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
