// A DLL injected mid-run must not take the CRT's exit lock from a hook:
// when exit() already runs on another thread and one of its atexit
// handlers waits for the thread making that hook call, both would wait
// forever. inject() has heapshift ask for its atexit entry on a remote
// thread of its own instead (tests/fixtures/dll_exit_armed.c): the worker's
// malloc returns, whether the program was idle when injected and closed
// later, or was already in exit() when the injection landed.
import { assert, assertEquals } from "./assert.ts";
import {
  finishTarget,
  fixture,
  heapWatch,
  hookDll,
  runFixture,
  startTarget,
  type Target,
  testArches,
} from "./harness.ts";
import { HeapshiftError, inject, stats } from "../../mod.ts";

/** Sends the idle target its line, then reads the rest of its output. */
async function go(target: Target): Promise<{ text: string; code: number }> {
  const stdin = target.child.stdin.getWriter();
  await stdin.write(new TextEncoder().encode("go\n"));
  await stdin.close();
  return await finishTarget(target);
}

/** The idle target found its exit watch armed and exited cleanly. */
function assertArmed({ text, code }: { text: string; code: number }): void {
  assert(text.includes("arm=0"), text);
  assert(text.includes("handler_done=1"), text);
  assertEquals(code, 0, text);
}

testArches(
  "exit: a program injected while idle and closed later, whose atexit handler waits for the first hooked call: no hang",
  async (arch) => {
    const w = heapWatch();
    await using target = await startTarget(
      fixture("dll_exit_armed.exe", arch),
      { args: ["idle"] },
    );
    await inject(target.pid, hookDll(arch));
    const run = await go(target);
    await w.check();
    // Armed by inject(): asking again finds nothing to do. The load and the
    // arming ran on one remote thread.
    assertArmed(run);
    assert(run.text.includes("threads_started=1"), run.text);
  },
);

testArches(
  "exit: a takeover tried again by a second inject() arms the exit watch too: no hang",
  async (arch) => {
    const w = heapWatch();
    // The first takeover finds a site busy on every attempt (test fault).
    await using target = await startTarget(
      fixture("dll_exit_armed.exe", arch),
      { args: ["idle"], env: { HEAPSHIFT_TEST_FAULTS: "busy-takeovers:1" } },
    );
    await inject(target.pid, hookDll(arch));
    assertEquals(stats(target.pid).state, "failed");
    await inject(target.pid, hookDll(arch)); // heapshift_retry
    assertEquals(stats(target.pid).state, "live");
    // Armed by the retry: unarmed, the program's own call would ask (arm=1)
    // and the worker's first hooked call, inside exit(), hang.
    assertArmed(await go(target));
    await w.check();
  },
);

testArches(
  "exit: a program injected while exit() waits for a thread that then makes the first hooked call: no hang",
  async (arch) => {
    const w = heapWatch();
    await using target = await startTarget(
      fixture("dll_exit_armed.exe", arch),
      { args: ["in-exit"] },
    );
    const next = await target.lines.next();
    assertEquals(next.value, "in-exit");
    // The process may end before inject() has seen all it wanted to.
    await inject(target.pid, hookDll(arch)).catch((e) => {
      if (!(e instanceof HeapshiftError && /exited|ended/.test(e.message))) {
        throw e;
      }
    });
    const { text, code } = await finishTarget(target);
    await w.check();
    assert(text.includes("handler_done=1"), text);
    assertEquals(code, 0, text);
  },
);

testArches(
  "exit: an injection that timed out while the DLL was still loading arms its exit watch once the load ends (the same remote thread)",
  async (arch) => {
    const w = heapWatch();
    // One busy attempt, then a second after 1 s: DllMain takes about 1 s.
    await using target = await startTarget(
      fixture("dll_exit_armed.exe", arch),
      {
        args: ["idle"],
        env: { HEAPSHIFT_TEST_FAULTS: "busy:1,retry-sleep:1000" },
      },
    );
    const e = await inject(target.pid, hookDll(arch), { timeout: 300 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert(e instanceof HeapshiftError && e.kind === "timeout", String(e));
    await new Promise((r) => setTimeout(r, 3_000)); // the load ends meanwhile
    const run = await go(target);
    await w.check();
    // Armed by the injector's thread: the program's own call finds nothing
    // to do (a separate arming call would never have come).
    assertArmed(run);
  },
);

/** Entries registered before the load: the table fills at every count. */
const NESTED_MAX_ENTRIES = 40;

testArches(
  `exit: a program's own mid-run LoadLibrary, then the CRT's own realloc of its atexit table as the first hooked call (0..${NESTED_MAX_ENTRIES} entries before): no nested registration`,
  async (arch) => {
    const counts = Array.from(
      { length: NESTED_MAX_ENTRIES + 1 },
      (_, k) => k,
    );
    // four at a time: each run is a short process
    for (let i = 0; i < counts.length; i += 4) {
      await Promise.all(
        counts.slice(i, i + 4).map(async (k) => {
          const run = await runFixture(
            fixture("dll_arm_nested.exe", arch),
            [hookDll(arch), String(k)],
            { timeoutMs: 30_000 },
          );
          const what = `${k} entries before: ${run.lines.join(" | ")}`;
          // Armed from the program's own malloc, not from the CRT's realloc.
          assertEquals(
            run.lines,
            ["loaded state=1 arm=0", `ran=${k + 1}`],
            what,
          );
          assertEquals(run.code, 0, what);
        }),
      );
    }
  },
);

for (
  const [mode, arm, what] of [
    ["ended", 0, "the program's own malloc arms the exit watch"],
    [
      "waiting",
      1,
      "while the loading thread lives (a stub on its way to arming), the program's malloc leaves it",
    ],
  ] as const
) {
  testArches(
    `exit: a load whose injector went away without arming, its loading thread ${mode}: ${what}`,
    async (arch) => {
      const run = await runFixture(
        fixture("dll_arm_orphan.exe", arch),
        [hookDll(arch), mode],
        { timeoutMs: 30_000 },
      );
      assertEquals(run.lines, [`state=1 arm=${arm}`], run.lines.join(" | "));
      assertEquals(run.code, 0);
    },
  );
}

testArches(
  "exit: a program's own mid-run LoadLibrary, whose exit watch is armed by a thread held up 300 ms inside _crt_atexit with no exit() under way: the process is not taken for exiting (_heapmin still trims)",
  async (arch) => {
    // trim-optimize: _heapmin makes a trim pass unless heapshift has taken
    // the process for exiting (trim.c stops then). The hold-up stands for a
    // thread preempted there, or waiting for the CRT's exit lock while
    // another thread holds it (a DLL's atexit entries run under it as it
    // is unloaded).
    const run = await runFixture(
      fixture("dll_arm_stall.exe", arch),
      [hookDll(arch)],
      { timeoutMs: 30_000, env: { HEAPSHIFT_TEST_FAULTS: "trim-optimize" } },
    );
    assertEquals(
      run.lines,
      ["live=1", "stall.hit=1", "heapmin.passes=1", "done"],
      run.lines.join(" | "),
    );
    assertEquals(run.code, 0);
  },
);
