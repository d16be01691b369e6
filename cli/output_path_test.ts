import assert from "node:assert/strict";
import { checkOutputPath, checkWrittenName } from "./output_path.ts";
import { UsageError } from "./output.ts";

/** Asserts that `path` given as `option` is refused on Windows: `message`. */
function refused(path: string, option: string, message: string): void {
  assert.throws(
    () => checkOutputPath(path, option, { windows: true }),
    (e: Error) => {
      assert.ok(e instanceof UsageError, String(e));
      assert.equal(e.message, message);
      return true;
    },
  );
}

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
    refused(
      bad,
      "--out",
      `--out ${bad}: the ':' makes it a stream of ${stream} (an NTFS alternate data stream), not a file of that name: choose a name without ':'`,
    );
  }
  // A ':' is a file name's character on Linux (and macOS).
  checkOutputPath("bad:name.exe", "--out", { windows: false });
});

Deno.test("checkOutputPath refuses, on Windows, a file name Windows changes: '.' or ' ' at its end (dropped: another file's name), a device's (NUL, CON.exe)", () => {
  const windows = { windows: true };
  for (
    const ok of [
      "game.exe",
      ".\\game.exe",
      "..\\out\\game.exe",
      "out.\\game.exe",
      "console.exe",
      "nul1.exe",
      "COM10.exe",
      // only the documentation lists COM0 and LPT0: Windows opens files
      "lpt0.txt",
      "COM0",
      "my nul.exe",
      "x.nul",
      "C:\\nul\\game.exe",
      // taken as it is after \\?\
      "\\\\?\\C:\\out\\game.exe.",
      "\\\\?\\C:\\out\\NUL",
    ]
  ) checkOutputPath(ok, "--out", windows);
  for (
    const [bad, named] of [
      ["game.exe.", "game.exe"],
      ["C:\\out\\game.exe .. ", "C:\\out\\game.exe"],
      ["out/game ", "out/game"],
    ]
  ) {
    refused(
      bad,
      "--out",
      `--out ${bad}: Windows drops the '.' and spaces that end a file name: it would be named ${named}, not ${bad}: choose a name that ends in neither`,
    );
  }
  for (
    const [bad, name] of [
      ["NUL", "NUL"],
      ["C:\\out\\con.exe", "con.exe"],
      ["out/Lpt1.patched.exe", "Lpt1.patched.exe"],
      ["aux .txt", "aux .txt"],
      ["COM9", "COM9"],
      ["prn.ini", "prn.ini"],
      ["CONOUT$", "CONOUT$"],
    ]
  ) {
    refused(
      bad,
      "--ini",
      `--ini ${bad}: ${name} is a device on Windows (CON, PRN, AUX, NUL, COM1 to COM9, LPT1 to LPT9; before Windows 11 with any extension too), not a file: choose another name`,
    );
  }
  // What to do instead, when the caller knows better.
  assert.throws(
    () => checkOutputPath("NUL", "patch", { ...windows, advice: "do this" }),
    /not a file: do this$/,
  );
  // Names of their own on Linux.
  for (const name of ["game.exe.", "NUL", "con.exe", "out "]) {
    checkOutputPath(name, "--out", { windows: false });
  }
});

Deno.test("checkWrittenName refuses a name whose temporary file (14 longer) would pass 255: UTF-16 units on Windows, UTF-8 bytes elsewhere", () => {
  const name = (n: number, ch = "x") => `${ch.repeat(n - 4)}.exe`;
  for (const windows of [true, false]) {
    checkWrittenName(`dir/${name(241)}`, "--out", { windows });
    assert.throws(
      () => checkWrittenName(`dir/${name(242)}`, "--out", { windows }),
      (e: Error) => {
        assert.ok(e instanceof UsageError, String(e));
        const unit = windows ? "characters" : "bytes";
        assert.equal(
          e.message,
          `--out dir/${
            name(242)
          }: its name is 242 ${unit}, and the temporary file it is written through is named 14 longer, over the 255 a file name may have: choose a name of at most 241 ${unit}`,
        );
        return true;
      },
    );
  }
  // 121 'é': 246 bytes, 121 characters
  const accented = `${"\u00e9".repeat(121)}`;
  checkWrittenName(accented, "--out", { windows: true });
  assert.throws(
    () => checkWrittenName(accented, "--out", { windows: false }),
    /its name is 242 bytes/,
  );
  // only the last name counts; '\' separates names on Windows alone
  const deep = `${"d".repeat(200)}\\${name(50)}`;
  checkWrittenName(deep, "--out", { windows: true });
  assert.throws(
    () =>
      checkWrittenName(deep, "--out", {
        windows: false,
        advice: (limit) => `do this, ${limit}`,
      }),
    /its name is 251 bytes.*: do this, at most 241 bytes$/,
  );
});
