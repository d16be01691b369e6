import assert from "node:assert/strict";
import { longPathForm } from "./file.ts";

Deno.test("longPathForm leaves a path shorter than 248 characters as given", () => {
  for (
    const p of ["C:\\games\\game.exe", "game.exe", "\\\\srv\\share\\a.exe"]
  ) {
    assert.equal(longPathForm(p), p);
  }
});

Deno.test("longPathForm gives a long path the \\\\?\\ form Windows reads past MAX_PATH: full, with backslashes", () => {
  const dir = "d".repeat(250);
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
});

Deno.test("longPathForm leaves a path already in the \\\\?\\ or \\\\.\\ form as given", () => {
  const dir = "d".repeat(250);
  for (const p of [`\\\\?\\C:\\${dir}\\a.exe`, `\\\\.\\C:\\${dir}\\a.exe`]) {
    assert.equal(longPathForm(p), p);
  }
});
