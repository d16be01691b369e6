// The hooks size an old block (`_msize`, and before each move or free)
// without the CRT heap's lock under Wine 10, where HeapSize finds
// the block without it and takes it only to read the header: threads that
// freed old blocks at once queued on it (bench/README). On Windows the hooks
// ask with the heap's own locking (whether it waits is the heap's business).
// Either way the size is exact, for every kind of block in Wine's heap
// (tests/fixtures/dll_oldsize.c).
import { assertValues, runValues } from "./fixture_values.ts";
import { hookDll, testArches } from "./harness.ts";

testArches(
  "old blocks: _msize is exact for every kind, and under Wine 10 does not wait for the heap's lock",
  async (arch) => {
    const r = await runValues("dll_oldsize.exe", [hookDll(arch)], { arch });
    assertValues(r, { live: 1, "sizes.exact": 1, freed: 1 });
    if (r.get("wine.unlocked") === "1") {
      assertValues(r, { "sized.while.locked": 1 });
    }
  },
);
