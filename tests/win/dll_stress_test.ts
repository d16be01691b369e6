// The hook DLL under multi-threaded stress: the takeover happens while
// worker threads hammer shared slots that start with old blocks, with
// cross-thread frees and a steady stream of short-lived threads. Every
// block's whole content and exact _msize are checked; the run is measured
// in operations and threads, not seconds (tests/fixtures/dll_stress.c).
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
