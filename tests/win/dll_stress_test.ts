// The hook DLL under multi-threaded stress: the takeover happens while
// worker threads hammer shared slots that start with old blocks, with
// cross-thread frees and a steady stream of short-lived threads. Every
// block's whole content and exact _msize are checked; the run is measured
// in operations and threads, not seconds (tests/fixtures/dll_stress.c).
import { assertEquals } from "./assert.ts";
import { fixture, hookDll, runFixture, test } from "./harness.ts";

const STRESS = fixture("dll_stress.exe");
const MIN_SHORT_THREADS = 2000;
const MIN_OPS = 50_000;

async function runStress(mode: string): Promise<Map<string, string>> {
  const { lines, code } = await runFixture(STRESS, [
    mode,
    hookDll(),
    String(MIN_SHORT_THREADS),
    String(MIN_OPS),
  ]);
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

for (const mode of ["midrun", "inject"]) {
  test(`stress: takeover ${mode} under load, no corruption`, async () => {
    const r = await runStress(mode);
    const all = JSON.stringify(Object.fromEntries(r));
    assertEquals(r.get("dll.live"), "1", all);
    assertEquals(r.get("pattern_bad"), "0", all);
    assertEquals(r.get("msize_bad"), "0", all);
    // The run went on until, after the takeover, the workers did 50,000
    // operations and 2,000 short-lived threads came and went.
    assertEquals(r.get("ops_after_takeover_at_least"), "1");
    assertEquals(r.get("short_threads_after_takeover_at_least"), "1");
  });
}
