// When mimalloc cannot get memory, the hooks serve from the CRT heap, as
// UCRT would: a 32-bit program injected late has most of its address space
// in the old heap's segments, and their free space is still its own
// (tests/fixtures/dll_oom.c). Without this it ran out at less than half of
// what the plain program could still allocate.
import { assert } from "./assert.ts";
import { hookDll, test } from "./harness.ts";
import { assertValues, runValues } from "./fixture_values.ts";

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
