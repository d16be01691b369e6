import assert from "node:assert/strict";
import { fillInserts } from "./win32_error.ts";

Deno.test("fillInserts puts the insert for each %N, as given: a name with $ is no replacement pattern", () => {
  assert.equal(
    fillInserts("%1 is not a valid Win32 application.", "game.exe"),
    "game.exe is not a valid Win32 application.",
  );
  assert.equal(
    fillInserts("Bad EXE format for %1!s!.", "x.dll"),
    "Bad EXE format for x.dll.",
  );
  for (
    const name of ["a$&b.dll", "c$'d.dll", "e$`f.dll", "g$1.dll", "$$.dll"]
  ) {
    assert.equal(fillInserts("%1 is not valid", name), `${name} is not valid`);
  }
});
