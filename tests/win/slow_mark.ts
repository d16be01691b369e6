// api_slow.dll's mark and hold (tests/fixtures/api_slow.dll.c): its
// DllMain appends "start" to the file HEAPSHIFT_TEST_SLOW_MARK names before
// its 5 s sleep and "done" after. A test that means the program to be
// stopped before the DLL finished waits until the program is gone and then
// finds no "done": that holds on a machine however slow, where a bound on
// how long the run took fails under load (a Deno start alone can take
// seconds there). With HEAPSHIFT_TEST_SLOW_HOLD naming a file, DllMain
// sleeps while it exists instead: until the test has seen what it waits for.
// api_worker.dll's thread (tests/fixtures/api_worker.dll.c) marks and is
// held the same way, through variables of its own (WORKER_*_ENV).
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
  /** Waits until DllMain wrote `line`; fails after `limitMs`. */
  until(line: string, options?: { limitMs?: number }): Promise<void>;
}

/** api_worker.dll's variable naming its thread's mark file. */
export const WORKER_MARK_ENV = "HEAPSHIFT_TEST_WORKER_MARK";

/**
 * A mark named `name` in `dir` (a directory the test removes), of
 * api_slow.dll's DllMain, or with `options` of what `who` names, through
 * the variable `variable`.
 */
export function slowMark(
  dir: string,
  name: string,
  options: { variable?: string; who?: string } = {},
): SlowMark {
  const { variable = SLOW_MARK_ENV, who = "api_slow.dll's DllMain" } = options;
  const path = `${dir}\\${name}.mark`;
  const lines = async () => {
    const text = await Deno.readTextFile(path).catch((e) => {
      if (e instanceof Deno.errors.NotFound) return "";
      throw e;
    });
    return text.split("\n").filter(Boolean);
  };
  return {
    path,
    env: { [variable]: path },
    lines,
    async until(line, options = {}) {
      const limit = Date.now() + (options.limitMs ?? 60_000);
      while (!(await lines()).includes(line)) {
        if (Date.now() > limit) {
          throw new Error(`${who} never marked "${line}"`);
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    },
  };
}

/** The variable naming the file api_slow.dll's DllMain waits on. */
export const SLOW_HOLD_ENV = "HEAPSHIFT_TEST_SLOW_HOLD";

/** A hold on api_slow.dll's DllMain: it sleeps until released. */
export interface SlowHold {
  /** What to add to the program's environment. */
  env: Record<string, string>;
  /** Lets DllMain return (again: nothing). */
  release(): Promise<void>;
}

/** api_worker.dll's variable naming the file its thread runs while. */
export const WORKER_HOLD_ENV = "HEAPSHIFT_TEST_WORKER_HOLD";

/**
 * A hold file in `dir` (a directory the test removes), held: of
 * api_slow.dll's DllMain, or with `options` the file `<name>.hold` named
 * by the variable `variable`.
 */
export async function slowHold(
  dir: string,
  options: { variable?: string; name?: string } = {},
): Promise<SlowHold> {
  const { variable = SLOW_HOLD_ENV, name = "slow" } = options;
  const path = `${dir}\\${name}.hold`;
  await Deno.writeTextFile(path, "");
  return {
    env: { [variable]: path },
    release: () =>
      Deno.remove(path).catch((e) => {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      }),
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
