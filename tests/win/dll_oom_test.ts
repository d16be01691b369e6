// When mimalloc cannot get memory, the hooks serve from the CRT heap, as
// UCRT would: a 32-bit program injected late has most of its address space
// in the old heap's segments, and their free space is still its own
// (tests/fixtures/dll_oom.c). Without this it ran out at less than half of
// what the plain program could still allocate.
import { assert, assertEquals } from "./assert.ts";
import { ARCHES, hookDll, test, UCRT_UNDER_TEST } from "./harness.ts";
import { assertValues, runValues } from "./fixture_values.ts";

// x86 only: a 32-bit program's address space can be used up. On
// Microsoft's ucrtbase under Wine, only in a pass with its x86 build.
const X86 = ARCHES.includes("x86");

if (X86) {
  test("oom: with the address space used up, the old heap's free space still serves malloc, calloc, _aligned_malloc and realloc [x86]", async () => {
    const plain = await runValues("dll_oom.exe", [], { arch: "x86" });
    const hooked = await runValues("dll_oom.exe", [hookDll("x86")], {
      arch: "x86",
    });
    assertValues(hooked, {
      state: 1,
      zeroed: 1,
      aligned: 1,
      kept: 1,
      exhausted: 1,
      shrunk: 1,
      aligned_shrunk: 2,
      heap_ok: 1,
    });
    // the CRT heap did serve: a good part of what came after
    assert(Number(hooked.get("from_old_heap")) > 1000, hooked.text);
    assertValues(plain, {
      state: -1,
      kept: 1,
      exhausted: 1,
      shrunk: 1,
      aligned_shrunk: 2,
      heap_ok: 1,
    });
    const before = Number(plain.get("after_mib"));
    const after = Number(hooked.get("after_mib"));
    assert(before > 500, `plain:\n${plain.text}`);
    assert(after >= before * 0.95, `plain ${before} MiB, hooked ${after} MiB`);
  });
}

// Out of memory, a new-handler that frees memory lets UCRT's realloc of a
// block retry its heap and succeed; the freed memory was mimalloc's, so
// the hooks must retry there too (they looped on the old heap). Only where
// the CRT calls the handler: Microsoft's ucrtbase (Wine's _callnewh never
// does). These runs go without warn+heap: with it Wine's heap checks and
// holds freed blocks back, so without heapshift the realloc failed as
// well; err+heap still reports corruption.
if (X86 && UCRT_UNDER_TEST === "microsoft") {
  test("oom: a new-handler that frees memory lets realloc of an old block succeed, as without heapshift [x86]", async () => {
    const env = { WINEDEBUG: "-all,+pid,err+heap" };
    const plain = await runValues("dll_oom.exe", ["-", "newh"], {
      arch: "x86",
      env,
    });
    const hooked = await runValues("dll_oom.exe", [hookDll("x86"), "newh"], {
      arch: "x86",
      env,
    });
    assertValues(plain, {
      newh_old: "ptr",
      newh_errno_kept: 1,
      newh_calls: 1,
      newh_kept: 1,
    });
    for (const key of ["newh_old", "newh_errno_kept", "newh_calls"]) {
      assertEquals(hooked.get(key), plain.get(key), `${key}:\n${hooked.text}`);
    }
    assertValues(hooked, { state: 1, newh_kept: 1 });
  });
}
