import assert from "node:assert/strict";
import { getFileAttributes, longPathForm } from "./file.ts";

/**
 * Runs `fn` with a folder whose path passes MAX_PATH (`long`, in a new
 * temporary folder `dir`) holding a file `game.exe`; removes both after.
 */
async function withLongFolder(
  fn: (paths: { dir: string; long: string }) => void,
): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    const long = `${dir}\\${"d".repeat(250)}`;
    await Deno.mkdir(long);
    await Deno.writeTextFile(`${long}\\game.exe`, "x");
    fn({ dir, long });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("longPathForm leaves an absolute path shorter than 247 characters as given", () => {
  for (
    const p of [
      "C:\\games\\game.exe",
      "C:/games/game.exe",
      "C:",
      "\\\\srv\\share\\a.exe",
      `C:\\${"d".repeat(240)}`,
    ]
  ) {
    assert.equal(longPathForm(p), p);
  }
});

// (GetFullPathNameW makes it full: the Windows Deno's)
Deno.test({
  name:
    "longPathForm gives a long path the \\\\?\\ form Windows reads past MAX_PATH: full, with backslashes, without a name's trailing dots and spaces",
  ignore: Deno.build.os !== "windows",
}, () => {
  const dir = "d".repeat(250);
  assert.equal(
    longPathForm(`C:\\games\\${dir}\\game.exe. .`),
    `\\\\?\\C:\\games\\${dir}\\game.exe`,
  );
  assert.equal(
    longPathForm(`C:\\games\\${dir}\\game.exe`),
    `\\\\?\\C:\\games\\${dir}\\game.exe`,
  );
  assert.equal(
    longPathForm(`C:/games/x/../${dir}/./game.exe`),
    `\\\\?\\C:\\games\\${dir}\\game.exe`,
  );
  assert.equal(
    longPathForm(`\\\\srv\\share\\${dir}\\game.exe`),
    `\\\\?\\UNC\\srv\\share\\${dir}\\game.exe`,
  );
  // Rust's std gives a device path (\\.\) the \\?\ form too
  assert.equal(
    longPathForm(`\\\\.\\C:\\${dir}\\game.exe`),
    `\\\\?\\C:\\${dir}\\game.exe`,
  );
});

Deno.test({
  name:
    "longPathForm gives a short relative name the \\\\?\\ form when the current folder makes it long",
  ignore: Deno.build.os !== "windows",
}, async () => {
  const cwd = Deno.cwd();
  try {
    await withLongFolder(({ dir, long }) => {
      Deno.chdir(long);
      assert.equal(longPathForm("game.exe"), `\\\\?\\${long}\\game.exe`);
      assert.doesNotThrow(() => getFileAttributes("game.exe"));
      Deno.chdir(dir);
      assert.equal(longPathForm("x.exe"), `${dir}\\x.exe`);
      Deno.chdir(cwd); // (before the folder is removed)
    });
  } finally {
    Deno.chdir(cwd);
  }
});

Deno.test("longPathForm leaves a path already in the \\\\?\\ form, or with the NT prefix \\??\\, as given", () => {
  const dir = "d".repeat(250);
  for (
    const p of [
      `\\\\?\\C:\\${dir}\\a.exe`,
      `\\??\\C:\\${dir}\\a.exe`,
    ]
  ) {
    assert.equal(longPathForm(p), p);
  }
});

Deno.test({
  name:
    "getFileAttributes reaches the file Deno's own calls reach for a long path whose name ends in dots or spaces (Windows drops them)",
  ignore: Deno.build.os !== "windows",
}, async () => {
  await withLongFolder(({ long }) => {
    for (const name of ["game.exe.", "game.exe. .", "game.exe "]) {
      const path = `${long}\\${name}`;
      assert.ok(Deno.statSync(path).isFile, `Deno reaches ${name}`);
      assert.doesNotThrow(() => getFileAttributes(path), name);
    }
  });
});

// Rust's std (Deno's file calls) passes a path with the NT prefix \??\ on
// as given; made full by GetFullPathNameW it would be C:\??\C:\….
Deno.test({
  name:
    "getFileAttributes reaches the file Deno's own calls reach for a long path given with the NT prefix \\??\\",
  ignore: Deno.build.os !== "windows",
}, async () => {
  await withLongFolder(({ long }) => {
    const path = `\\??\\${long}\\game.exe`;
    assert.ok(Deno.statSync(path).isFile, "Deno reaches it");
    assert.equal(longPathForm(path), path);
    assert.doesNotThrow(() => getFileAttributes(path));
  });
});
