import assert from "node:assert/strict";
import { runCli } from "../_test_utils.ts";
import { dotnetImage } from "../../pe/_test_crafted.ts";

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
