// The hook DLL under multi-threaded stress: the takeover happens while
// worker threads hammer shared slots that start with old blocks, with
// cross-thread frees and a steady stream of short-lived threads.
import { assert, assertEquals } from "./assert.ts";
import { fixture, hookDll, runFixture, test } from "./harness.ts";

const STRESS = fixture("dll_stress.exe");
const SECONDS = "6";
const MIN_SHORT_THREADS = 2000;

async function runStress(mode: string): Promise<Map<string, string>> {
  const { lines, code } = await runFixture(STRESS, [
    mode,
    hookDll(),
    SECONDS,
    String(MIN_SHORT_THREADS),
  ]);
  assertEquals(
    code,
    0,
    `exit code ${code}:\n${lines.join("\n")}`,
  );
  assertEquals(lines.at(-1), "done", lines.join("\n"));
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
    assertEquals(r.get("dll.live"), "1");
    assertEquals(r.get("corrupt"), "0");
    assert(Number(r.get("ops")) > 10_000, `ops ${r.get("ops")}`);
    assert(
      Number(r.get("short_threads")) >= MIN_SHORT_THREADS,
      `short-lived threads: ${r.get("short_threads")}`,
    );
  });
}
