// Threads ended with TerminateThread after the takeover
// (tests/fixtures/dll_terminate.c): no DLL_THREAD_DETACH runs for them, so
// their mimalloc heaps are never abandoned and their counter stripes stay
// taken (dll/README.md, "Known limits"); their blocks stay intact and are
// freed and reallocated by the threads that remain, new ones among them
// (which may get a dead thread's TEB, and so its thread id, again), and the
// process exits normally.
import { hookDll, testArches } from "./harness.ts";
import { assertValues, runValues } from "./fixture_values.ts";

testArches(
  "threads: 160 threads (x86: 80) ended with TerminateThread leave their blocks intact, freed and moved by the others, and the exit normal",
  async (arch) => {
    assertValues(
      await runValues("dll_terminate.exe", [hookDll(arch)], { arch }),
      { "live": 1, "not_owned": 0, "corrupt": 0 },
    );
  },
);
