import assert from "node:assert/strict";
import { runCli } from "../_test_utils.ts";
import { dotnetImage } from "../../pe/_test_crafted.ts";
import { exitStatusNote } from "./launch.ts";

Deno.test("launch of an IL-only .NET program is refused before a hook DLL is chosen, built or handed to Wine for it", async () => {
  // The API refuses it too (Windows leaves its imports to the .NET
  // runtime), but only once the CLI has found, or built, the default DLL of
  // the file's bitness: a minute's build, or a failed one, for nothing.
  const dir = await Deno.makeTempDir();
  try {
    const exe = `${dir}/tool.exe`;
    await Deno.writeFile(exe, dotnetImage());
    const r = await runCli(["launch", exe, "--prefix", `${dir}/no-prefix`]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(
      r.stderr,
      /Cannot launch .*tool\.exe with heapshift\.dll: it is an IL-only \.NET program, whose imports Windows leaves to the \.NET runtime.*inject/,
    );
    assert.doesNotMatch(r.stderr, /prefix|build/i);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("launch --wait-exit under Wine says when the program's exit code does not fit the Linux exit status the shell sees (its low byte)", () => {
  // Natively, or a code that fits: nothing to say.
  assert.equal(exitStatusNote(300, { wine: false }), undefined);
  assert.equal(exitStatusNote(7, { wine: true }), undefined);
  assert.equal(exitStatusNote(255, { wine: true }), undefined);
  assert.equal(
    exitStatusNote(300, { wine: true }),
    "the program's exit code 300 does not fit a Linux exit status: under Wine the shell sees 44 (its low byte)",
  );
  // A crash is named, as its code is all that tells it.
  assert.equal(
    exitStatusNote(0xC0000005, { wine: true }),
    "the program's exit code 3221225477 (0xC0000005, access violation) does not fit a Linux exit status: under Wine the shell sees 5 (its low byte)",
  );
  // exit(-1): 0xFFFFFFFF
  assert.match(exitStatusNote(-1, { wine: true }) ?? "", /sees 255/);
});
