// Fiber-local storage after the takeover (tests/fixtures/dll_fls.c): an FLS
// index allocated by anyone after heapshift.dll loaded keeps its values,
// and its callback sees only them.
import { hookDll, testArches } from "./harness.ts";
import { assertValues, runValues } from "./fixture_values.ts";

testArches(
  "FLS: an index allocated after the takeover keeps every thread's value",
  async (arch) => {
    assertValues(await runValues("dll_fls.exe", [hookDll(arch)], { arch }), {
      "live": 1,
      "overwritten": 0,
      // Each of the 8 threads ended with its own marker in the slot.
      "callback.calls": 8,
      "callback.foreign": 0,
    });
  },
);
