// The hook DLL under multi-threaded stress: the takeover happens while
// worker threads hammer shared slots that start with old blocks, with
// cross-thread frees and a steady stream of short-lived threads. Every
// block's whole content and exact _msize are checked; the run is measured
// in operations and threads, not seconds (tests/fixtures/dll_stress.c).
import { assert, assertEquals } from "./assert.ts";
import { fixture, hookDll, runFixture, testArches } from "./harness.ts";
import { assertStressed, STRESS_ARGS, stressValues } from "./stress_expect.ts";

for (const mode of ["midrun", "inject"]) {
  testArches(
    `stress: takeover ${mode} under load, no corruption`,
    async (arch) => {
      const { lines, code } = await runFixture(
        fixture("dll_stress.exe", arch),
        [mode, hookDll(arch), ...STRESS_ARGS],
        { arch },
      );
      assertStressed(stressValues(lines, code));
    },
  );
}

// The suite's warn+heap makes Wine's heap check its free blocks, which
// turns off the hooks' resets of old blocks as they free them (dll/trim.c);
// with the ordinary heap they run (3% of the blocks here are 16 KiB and
// up), under the same load. err+heap still reports any corruption; a free
// HeapFree refused, which only warn+heap reports, the fixture counts
// (tests/fixtures/checked_free.h). The installer stops for 1.5 s once the
// jumps are live, as a thread descheduled there may: the workers free the
// old blocks meanwhile, and their pages are reset from the first.
testArches(
  "stress: takeover midrun under load with the old blocks' pages reset as they are freed, from the jumps' first use, no corruption",
  async (arch) => {
    const { lines, code } = await runFixture(
      fixture("dll_stress.exe", arch),
      ["midrun", hookDll(arch), ...STRESS_ARGS],
      {
        arch,
        env: {
          WINEDEBUG: "-all,+pid,err+heap",
          HEAPSHIFT_TEST_FAULTS: "live-pause:1500",
        },
      },
    );
    const r = stressValues(lines, code);
    assertStressed(r);
    const all = JSON.stringify(Object.fromEntries(r));
    assertEquals(r.get("trim.state"), "9", all); // free-reset
    assert(Number(r.get("trim.reset_kib")) > 0, all);
  },
);
