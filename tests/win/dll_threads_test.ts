// Threads coming and going after the takeover (tests/fixtures/dll_threads.c):
// what an ended thread leaves behind (memory, counter stripes), also when
// another DLL allocates in its DLL_THREAD_DETACH after heapshift's, and
// how live threads count.
import { assert, assertEquals } from "./assert.ts";
import { type Arch, fixture, hookDll, testArches } from "./harness.ts";
import { assertValues, runValues, type Values } from "./fixture_values.ts";

// Wine's own bookkeeping makes committed private memory grow by 2-3 MiB
// over 2,000 ended threads even with heapshift disabled (measured), so the
// same run with HEAPSHIFT_DISABLE=1 is the baseline. A thread whose mimalloc
// heap or TLS block is lost costs at least 4 KiB, a fresh segment for it
// 64 KiB: 8 MiB and more over 2,000 threads; the margin is half of that.
const MARGIN = 4 << 20;

async function run(
  arch: Arch,
  args: string[],
  options: { faults?: string; disable?: boolean } = {},
): Promise<Values> {
  const r = await runValues("dll_threads.exe", args, {
    env: {
      HEAPSHIFT_TEST_FAULTS: options.faults ?? "",
      HEAPSHIFT_DISABLE: options.disable ? "1" : "",
    },
    arch,
  });
  assertValues(r, { live: options.disable ? 0 : 1 });
  return r;
}

const baselines = new Map<Arch, Promise<number>>();
/** Growth over 2,000 ended threads with heapshift loaded but disabled. */
function baselineGrowth(arch: Arch): Promise<number> {
  if (!baselines.has(arch)) {
    baselines.set(
      arch,
      run(arch, ["exit", hookDll(arch)], { disable: true }).then((r) =>
        Number(r.get("private.growth"))
      ),
    );
  }
  return baselines.get(arch)!;
}

async function assertFlat(arch: Arch, r: Values) {
  const growth = Number(r.get("private.growth"));
  const base = await baselineGrowth(arch);
  assert(
    growth < base + MARGIN,
    `private memory grew by ${growth} bytes (baseline ${base})\n${r.text}`,
  );
  assertValues(r, { "stripes.dead_owners": 0 });
}

testArches(
  "threads: 2,000 ended threads leave private memory flat and no stripe held",
  async (arch) => {
    await assertFlat(arch, await run(arch, ["exit", hookDll(arch)]));
  },
);

testArches(
  "threads: allocations in a DLL's thread detach after heapshift's leave private memory flat",
  async (arch) => {
    const r = await run(arch, [
      "late",
      hookDll(arch),
      fixture("dll_threads_late.dll", arch),
    ]);
    // Every thread's exit allocated after heapshift's detach, from mimalloc.
    assert(Number(r.get("late.calls")) >= 2200, r.text);
    assertEquals(r.get("late.mimalloc"), r.get("late.calls"), r.text);
    await assertFlat(arch, r);
  },
);

testArches(
  "threads: hooks live after a failed read-back still release each thread's heap",
  async (arch) => {
    await assertFlat(
      arch,
      await run(arch, ["exit", hookDll(arch)], { faults: "readback-sticky" }),
    );
  },
);

testArches(
  "threads: each of 40 live threads counts on a stripe of its own, exactly",
  async (arch) => {
    assertValues(await run(arch, ["live:40", hookDll(arch)]), {
      "stripes.owned_by_workers": 40,
      "counted": 20000,
      "counted.after_exit": 20000,
      "stripes.dead_owners": 0,
    });
  },
);

testArches(
  "threads: threads beyond the stripes count privately, exactly once they end",
  async (arch) => {
    const r = await run(arch, ["live:8", hookDll(arch)], {
      faults: "stripes:4",
    });
    assertValues(r, {
      // The main thread counted first (its calloc) and holds one of the 4.
      "stripes.owned_by_workers": 3,
      "counted.after_exit": 4000,
      "stripes.dead_owners": 0,
    });
    assert(Number(r.get("counted")) <= 4000, r.text);
  },
);
