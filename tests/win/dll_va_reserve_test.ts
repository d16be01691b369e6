// How much of a 32-bit program's address space heapshift takes for a small
// heap (tests/fixtures/dll_va_reserve.c): mimalloc reserves its first arena
// at once, 128 MiB by default on 32 bits, which a 32-bit game late in its
// life may need for its own large allocations. heapshift starts it smaller
// (dll/mimalloc_unit.c); mimalloc doubles it every 8 arenas.
import { assert } from "./assert.ts";
import { ARCHES, hookDll, test } from "./harness.ts";
import { runValues } from "./fixture_values.ts";

// (x86 only: not in a pass without it, Microsoft's x86 ucrtbase missing)
if (ARCHES.includes("x86")) {
  test("x86: heapshift and a 4 MiB heap take at most 48 MiB of a 32-bit program's address space", async () => {
    const r = await runValues("dll_va_reserve.exe", [hookDll("x86")], {
      arch: "x86",
    });
    assert(r.get("live") === "1", r.text);
    const taken = Number(r.get("taken_mib"));
    assert(taken >= 4 && taken <= 48, r.text);
  });
}
