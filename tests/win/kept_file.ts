// A program to patch beside a file of the user's, for the tests of output
// names Windows would change: "keep.exe." names keep.exe on Windows.
import { assertEquals } from "./assert.ts";
import { fixture } from "./harness.ts";

/** Where {@linkcode withKeptFile} put things. */
export interface KeptFile {
  dir: string;
  /** A copy of sleeper.exe, `dir\game.exe`. */
  exe: string;
  /** The user's file `dir\keep.exe`, which must be left as it is. */
  keep: string;
}

/**
 * Runs `fn` in a new directory holding `game.exe` and the user's
 * `keep.exe`; then asserts that keep.exe is unchanged and nothing else was
 * written there.
 */
export async function withKeptFile(
  fn: (at: KeptFile) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    const at = { dir, exe: `${dir}\\game.exe`, keep: `${dir}\\keep.exe` };
    await Deno.copyFile(fixture("sleeper.exe"), at.exe);
    await Deno.writeTextFile(at.keep, "the user's work");
    await fn(at);
    assertEquals(await Deno.readTextFile(at.keep), "the user's work");
    const left = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assertEquals(left, ["game.exe", "keep.exe"]);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}
