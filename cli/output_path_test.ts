import assert from "node:assert/strict";
import { checkOutputPath } from "./output_path.ts";
import { UsageError } from "./output.ts";

Deno.test("checkOutputPath refuses, on Windows, a ':' anywhere but a drive's: it names an NTFS alternate data stream, not the file asked for", () => {
  const windows = { windows: true };
  for (
    const ok of [
      "game.exe",
      "C:\\games\\game.exe",
      "c:game.exe",
      "D:/out/game.exe",
      "\\\\?\\C:\\games\\game.exe",
      "\\\\.\\C:\\games\\game.exe",
      "\\\\server\\share\\game.exe",
    ]
  ) checkOutputPath(ok, "--out", windows);
  for (
    const [bad, stream] of [
      ["bad:name.exe", "bad"],
      ["C:\\games\\game.exe:x", "C:\\games\\game.exe"],
      ["out\\a:b\\game.exe", "out\\a"],
      ["\\\\?\\C:\\games\\x:y.exe", "\\\\?\\C:\\games\\x"],
      ["\\\\server\\share\\x:y.exe", "\\\\server\\share\\x"],
      ["CC:\\game.exe", "CC"],
    ]
  ) {
    assert.throws(
      () => checkOutputPath(bad, "--out", windows),
      (e: Error) => {
        assert.ok(e instanceof UsageError, String(e));
        assert.equal(
          e.message,
          `--out ${bad}: the ':' makes it a stream of ${stream} (an NTFS alternate data stream), not a file of that name: choose a name without ':'`,
        );
        return true;
      },
    );
  }
  // A ':' is a file name's character on Linux (and macOS).
  checkOutputPath("bad:name.exe", "--out", { windows: false });
});
