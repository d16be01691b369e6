// The check that every Win32 heap call of ucrtbase (HeapFree, HeapSize,
// HeapReAlloc) lies in a function the jumps replace, on code whose shapes
// Wine's ucrtbase (not checked) and Microsoft's (every call in a replaced
// function) do not show: x64, a part split off a function (chained unwind
// data) and an indirect .pdata entry count with the function they belong
// to; x86, a far chunk counts with the function that branches to it, a
// function it calls does not. heapshift_plan_heap_calls (test-only) runs
// the installer's check on tests/fixtures/dll_heapcalls.dll.c.
import { type Arch, fixture, hookDll, testArches } from "./harness.ts";
import { assertValues, runValues } from "./fixture_values.ts";

/** The function holding the first call outside each set; none: all in. */
const OUTSIDE: Record<Arch, Record<string, string>> = {
  x64: {
    // every call of the functions is in: the scan, in address order, goes
    // on to the import thunks the linker put after them (jumps through the
    // slots in no .pdata function)
    "outside.site_other": "thunk",
    "outside.site": "other",
    "outside.other": "site",
    "outside.cold_other": "site",
  },
  x86: {
    "outside.site_called_other": "none",
    "outside.site": "called",
    "outside.site_called": "other",
    "outside.called_other": "far",
  },
};

testArches(
  "heap calls: a call counts with the function it belongs to, through split-off parts and branches, not calls",
  async (arch) => {
    assertValues(
      await runValues(
        "dll_heapcalls.exe",
        [hookDll(arch), fixture("dll_heapcalls.dll", arch)],
        { arch },
      ),
      OUTSIDE[arch],
    );
  },
);
