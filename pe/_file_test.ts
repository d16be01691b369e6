import assert from "node:assert/strict";
import { fileProblem } from "./_file.ts";

Deno.test("fileProblem: a file another process holds open says what to do", () => {
  for (const code of [32, 33]) {
    assert.equal(
      fileProblem(
        new Error(`Sharing violation. (os error ${code}): rename 'a' -> 'b'`),
        true,
      ),
      "it is in use by another process (is the program running? close it and retry)",
    );
  }
  assert.equal(
    fileProblem(new Error("Disk full (os error 112): write 'x'")),
    "disk full",
  );
});
