// api_slow.dll's mark (tests/fixtures/api_slow.dll.c): its DllMain appends
// "start" to the file HEAPSHIFT_TEST_SLOW_MARK names before its 5 s sleep
// and "done" after. A test that means the program to be stopped before the
// DLL finished waits until the program is gone and then finds no "done":
// that holds on a machine however slow, where a bound on how long the run
// took fails under load (a Deno start alone can take seconds there).
import { processes } from "../../mod.ts";

/** The variable naming the mark file, in the program's environment. */
export const SLOW_MARK_ENV = "HEAPSHIFT_TEST_SLOW_MARK";

/** A mark file for one program's api_slow.dll, in `dir`. */
export interface SlowMark {
  path: string;
  /** What to add to the program's environment. */
  env: Record<string, string>;
  /** The lines DllMain wrote so far (none if it has not begun). */
  lines(): Promise<string[]>;
}

/** A mark named `name` in `dir` (a directory the test removes). */
export function slowMark(dir: string, name: string): SlowMark {
  const path = `${dir}\\${name}.mark`;
  return {
    path,
    env: { [SLOW_MARK_ENV]: path },
    async lines() {
      const text = await Deno.readTextFile(path).catch((e) => {
        if (e instanceof Deno.errors.NotFound) return "";
        throw e;
      });
      return text.split("\n").filter(Boolean);
    },
  };
}

/**
 * Waits until no process named `exe` runs, so that its mark is final;
 * fails after `limitMs`, a bound only on a program nothing stopped (one
 * stopped is gone within a second, even on a loaded machine).
 */
export async function untilGone(
  exe: string,
  options: { limitMs?: number } = {},
): Promise<void> {
  const limit = Date.now() + (options.limitMs ?? 60_000);
  const running = () =>
    processes().some((p) => p.name.toLowerCase() === exe.toLowerCase());
  while (running()) {
    if (Date.now() > limit) {
      throw new Error(`${exe} is still running: it was not stopped`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
