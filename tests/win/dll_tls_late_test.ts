// heapshift's emulated TLS (dll/tls.c) where programs put it
// (tests/fixtures/dll_tls_late.c): TLS indexes in the TEB's expansion
// slots, and threads that started before the takeover and end after it,
// each with a DLL loaded before heapshift that allocates in its
// DLL_THREAD_DETACH (after heapshift's).
import { assert, assertEquals } from "./assert.ts";
import { type Arch, fixture, hookDll, testArches } from "./harness.ts";
import { assertValues, runValues } from "./fixture_values.ts";

// As dll_threads_test.ts: Wine's own bookkeeping grows over 2,000 ended
// threads; a thread's lost mimalloc heap or TLS blocks cost 4 KiB and more.
const MARGIN = 4 << 20;

function run(arch: Arch, mode: string, disable = false) {
  return runValues("dll_tls_late.exe", [
    mode,
    hookDll(arch),
    fixture("dll_threads_late.dll", arch),
  ], { env: { HEAPSHIFT_DISABLE: disable ? "1" : "" }, arch });
}

testArches(
  "tls: with heapshift's TLS indexes in the TEB's expansion slots, 2,000 ended threads leave private memory flat",
  async (arch) => {
    const base = await run(arch, "expansion", true);
    const r = await run(arch, "expansion");
    // all 2,200 threads (warm-up and measured) created and ended
    assertValues(base, { "threads.ran": 2200 });
    assertValues(r, {
      "threads.ran": 2200,
      live: 1,
      next_index_expansion: 1,
      bad: 0,
      "stripes.dead_owners": 0,
    });
    assert(Number(r.get("indexes_taken")) > 0, r.text);
    assert(Number(r.get("late.calls")) >= 2200, r.text);
    assertEquals(r.get("late.mimalloc"), r.get("late.calls"), r.text);
    const growth = Number(r.get("private.growth"));
    const baseline = Number(base.get("private.growth"));
    assert(
      growth < baseline + MARGIN,
      `private memory grew by ${growth} bytes (baseline ${baseline})\n${r.text}`,
    );
  },
);

testArches(
  "tls: threads that started before the takeover keep their old blocks and end cleanly",
  async (arch) => {
    const r = await run(arch, "before");
    assertValues(r, { live: 1, bad: 0, "stripes.dead_owners": 0 });
    // 20 rounds of 16 threads, each detach after heapshift's allocating
    assert(Number(r.get("late.calls")) >= 320, r.text);
    assertEquals(r.get("late.mimalloc"), r.get("late.calls"), r.text);
  },
);
