// What a run of tests/fixtures/dll_stress.c with the hooks live must print,
// however the hook DLL got in (loaded mid-run, injected, by the CLI).
import { assertEquals } from "./assert.ts";

/** Short-lived threads that must come and go after the takeover. */
export const MIN_SHORT_THREADS = 2000;
/** Worker operations after the takeover. */
export const MIN_OPS = 50_000;

/** The fixture's arguments after MODE and DLL. */
export const STRESS_ARGS = [String(MIN_SHORT_THREADS), String(MIN_OPS)];

/** The key=value lines of a finished run (exit 0, "done" last). */
export function stressValues(
  lines: string[],
  code: number,
): Map<string, string> {
  const all = lines.join("\n");
  assertEquals(code, 0, `exit code ${code}:\n${all}`);
  assertEquals(lines.at(-1), "done", all);
  return new Map(
    lines.filter((l) => /^\w[\w.]*=/.test(l)).map((l) => {
      const i = l.indexOf("=");
      return [l.slice(0, i), l.slice(i + 1)];
    }),
  );
}

/** Live hooks, no damaged block, no wrong _msize, the whole run done. */
export function assertStressed(r: Map<string, string>): void {
  const all = JSON.stringify(Object.fromEntries(r));
  assertEquals(r.get("dll.live"), "1", all);
  assertEquals(r.get("pattern_bad"), "0", all);
  assertEquals(r.get("msize_bad"), "0", all);
  // frees HeapFree refused (tests/fixtures/checked_free.h): the runs that
  // trim go without Wine's report of them
  assertEquals(r.get("failed_frees"), "0", all);
  // The run went on until, after the takeover, the workers did 50,000
  // operations and 2,000 short-lived threads came and went.
  assertEquals(r.get("ops_after_takeover_at_least"), "1", all);
  assertEquals(r.get("short_threads_after_takeover_at_least"), "1", all);
}
