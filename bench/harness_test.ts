import assert from "node:assert/strict";
import { checkVariants, parseArgs } from "./harness.ts";
import type { RunRecord, VariantId, WorkloadResult } from "./report.ts";

/** A run as a passing one looks in bench/results/bench.json. */
function run(
  variant: VariantId,
  res: Partial<WorkloadResult> = {},
): RunRecord {
  const late = [3, 5, 8, 12].includes(variant);
  return {
    workload: "churn",
    variant,
    rep: 1,
    ok: true,
    wallMs: 200,
    result: {
      workload: "churn",
      allocator: [4, 9].includes(variant) ? "mimalloc-direct" : "ucrt",
      ok: true,
      ms: 100,
      cpu_ms: 90,
      ops: 1000,
      ns_per_op: 100,
      check: "0",
      threads: 1,
      scale: 1,
      old_blocks: 8192,
      old_reallocs: 1000,
      old_frees: 7000,
      bytes: 0,
      heapwalk_ok: true,
      live: 8192,
      // the plain program's blocks are on the UCRT heap; late, a few old
      // ones the timed phase never touched
      live_in_ucrt_heap: [1, 10].includes(variant) ? 8192 : late ? 12 : 0,
      lineage_live: 100,
      // no migration: the realloc-touched old blocks stay on the old heap
      lineage_in_ucrt_heap: variant === 5 ? 100 : 0,
      new_live: 8000,
      new_in_ucrt_heap: 0,
      peak_working_set: 2 ** 24,
      peak_commit: 2 ** 24,
      load_ms: -1,
      late_load_ms: -1,
      hook_seen_ms: late ? 14.1 : -1,
      dll: null,
      ...res,
    },
  };
}

Deno.test("checkVariants: runs that measured what their variant says pass", () => {
  const runs = ([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12] as VariantId[]).map(
    (v) => run(v),
  );
  checkVariants(runs);
  assert.deepEqual(runs.filter((r) => !r.ok).map((r) => r.error), []);
});

Deno.test("checkVariants: a late run that never saw the hooks go live fails", () => {
  // ucrtbase's prologues never changed while it waited: heapshift was in
  // before the warm-up (or never came), not injected late
  for (const v of [3, 5, 8, 12] as VariantId[]) {
    const r = run(v, { hook_seen_ms: -1 });
    checkVariants([r]);
    assert.equal(r.ok, false, `variant ${v}`);
    assert.match(r.error!, /did not measure a late injection/);
  }
});

Deno.test("checkVariants: an at-start run with blocks on the UCRT heap fails", () => {
  for (const v of [2, 6, 7, 11] as VariantId[]) {
    const r = run(v, { live_in_ucrt_heap: 8192 });
    checkVariants([r]);
    assert.equal(r.ok, false, `variant ${v}`);
    assert.match(r.error!, /8192 of 8192 live blocks are on the UCRT heap/);
  }
  // no heap walk: nothing to go on
  const unwalked = run(2, { live_in_ucrt_heap: 8192, heapwalk_ok: false });
  checkVariants([unwalked]);
  assert.equal(unwalked.ok, true);
});

Deno.test("checkVariants: a 'linked' run that allocated from the UCRT heap fails", () => {
  const plain = run(4, { allocator: "ucrt", live_in_ucrt_heap: 8192 });
  const onHeap = run(9, { live_in_ucrt_heap: 3 });
  checkVariants([plain, onHeap]);
  assert.match(plain.error!, /allocator ucrt, 8192 of 8192 live blocks/);
  assert.match(onHeap.error!, /not the one linked with mimalloc/);
});

Deno.test("checkVariants: a run that failed already keeps its own error", () => {
  const r = { ...run(3, { hook_seen_ms: -1 }), ok: false, error: "exit 3" };
  checkVariants([r]);
  assert.equal(r.error, "exit 3");
});

Deno.test("checkVariants: a 'no migration' run that moved old blocks fails", () => {
  // realloc-touched old blocks off the UCRT heap, or the DLL's own count
  const moved = run(5, { lineage_live: 17, lineage_in_ucrt_heap: 0 });
  const counted = {
    ...run(5, { lineage_live: 17, lineage_in_ucrt_heap: 17 }),
    dllStats: { migrations: 3 },
  };
  const stayed = {
    ...run(5, { lineage_live: 17, lineage_in_ucrt_heap: 17 }),
    dllStats: { migrations: 0 },
  };
  checkVariants([moved, counted, stayed]);
  assert.match(moved.error!, /17 of 17 realloc-touched ones off the UCRT heap/);
  assert.match(counted.error!, /3 migrations\): the DLL ignored/);
  assert.equal(stayed.ok, true);
});

// deno task bench refuses these before it provisions or builds anything
// (tasks/bench.ts asks parseArgs first): a value that is no number ran a
// whole bench of NaN repetitions, and an option took the next one as its
// value.
Deno.test("parseArgs refuses a value that is no number, no variant, or the next option", () => {
  for (
    const [args, says] of [
      [
        ["--reps", "many"],
        "--reps must be a whole number of at least 1, not 'many'",
      ],
      [
        ["--reps=2.5"],
        "--reps must be a whole number of at least 1, not '2.5'",
      ],
      [
        ["--threads", "four"],
        "--threads must be a whole number of at least 1, not 'four'",
      ],
      [
        ["--budget", "soon"],
        "--budget must be a number of seconds over 0, not 'soon'",
      ],
      [
        ["--timeout-ms", "0"],
        "--timeout-ms must be a number of milliseconds over 0, not '0'",
      ],
      [
        ["--variants", "1,13"],
        "unknown variant 13 (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12)",
      ],
      [
        ["--thread-counts", "x"],
        "--thread-counts must be whole numbers of at least 1 (1,4,16) or none, not 'x'",
      ],
      [
        ["--dll", "--quick"],
        "--dll needs a value (one starting with - as --dll=VALUE)",
      ],
      [["--reps"], "--reps needs a value"],
    ] as const
  ) {
    assert.throws(
      () => parseArgs([...args]),
      (e) => e instanceof Error && e.message === says,
      args.join(" "),
    );
  }
  // what is given as it should be still runs
  const o = parseArgs([
    "--reps=3",
    "--variants",
    "1,3",
    "--thread-counts=none",
  ]);
  assert.deepEqual([o.reps, o.variants, o.threadCounts], [3, [1, 3], []]);
  assert.equal(parseArgs(["--quick"]).reps, 2);
});

// Each of these ran a whole bench (provisioning, builds) of nothing or of
// what was not asked: an empty list ran no cell, an empty --dll none, a
// value given to a switch (--self-load=no) was dropped and the switch
// taken, and --scale Infinity sized the workloads past every timeout.
Deno.test("parseArgs refuses an empty value or list, a value given to a switch, and an endless scale", () => {
  for (
    const [args, says] of [
      [["--variants="], "--variants needs a value"],
      [
        ["--variants", ","],
        "--variants names none (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12)",
      ],
      [
        ["--workloads=,"],
        "--workloads names none (churn, mt-churn, realloc, aligned, game, migrate, percall)",
      ],
      [["--dll="], "--dll needs a value"],
      [["--self-load=no"], "--self-load takes no value, not 'no'"],
      [["--quick=false"], "--quick takes no value, not 'false'"],
      [["--scale", "Infinity"], "--scale must be > 0 and --threads ≥ 1"],
    ] as const
  ) {
    assert.throws(
      () => parseArgs([...args]),
      (e) => e instanceof Error && e.message === says,
      args.join(" "),
    );
  }
  const o = parseArgs(["--self-load", "--workloads=churn", "--scale=0.25"]);
  assert.deepEqual([o.selfLoad, o.workloads, o.scale], [true, ["churn"], 0.25]);
});
