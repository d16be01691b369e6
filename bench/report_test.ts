import assert from "node:assert/strict";
import {
  type BenchReport,
  checkTargets,
  median,
  quantile,
  renderMarkdown,
  renderSvg,
  type RunRecord,
  spreadPct,
  statOf,
  summarize,
  type VariantId,
  type WorkloadResult,
} from "./report.ts";

function result(
  workload: string,
  ms: number,
  extra: Partial<WorkloadResult> = {},
): WorkloadResult {
  return {
    workload,
    allocator: "ucrt",
    ok: true,
    ms,
    cpu_ms: ms / 2,
    ops: 1000,
    ns_per_op: (ms * 1e6) / 1000,
    check: "0",
    threads: 1,
    scale: 1,
    old_blocks: 100,
    old_reallocs: 10,
    old_frees: 90,
    bytes: 0,
    heapwalk_ok: true,
    live: 100,
    live_in_ucrt_heap: 0,
    lineage_live: 5,
    lineage_in_ucrt_heap: 0,
    new_live: 50,
    new_in_ucrt_heap: 0,
    peak_working_set: 8 * 2 ** 20,
    peak_commit: 4 * 2 ** 20,
    load_ms: -1,
    late_load_ms: -1,
    hook_seen_ms: -1,
    dll: null,
    ...extra,
  };
}

function run(
  workload: string,
  variant: VariantId,
  ms: number,
  extra: Partial<RunRecord> = {},
  res: Partial<WorkloadResult> = {},
): RunRecord {
  return {
    workload,
    variant,
    rep: 1,
    ok: true,
    wallMs: ms + 50,
    result: result(workload, ms, res),
    ...extra,
  };
}

Deno.test("median, quantile and spread", () => {
  assert.equal(median([]), null);
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.equal(quantile([1, 2, 3, 4, 5], 0.25), 2);
  // under 4 values: max − min over the median
  assert.equal(spreadPct([90, 100, 110]), 20);
  // 4 or more: the interquartile range ignores one outlier
  assert.equal(spreadPct([100, 100, 100, 100, 1000]), 0);
});

Deno.test("summarize: medians and ratios against variants 1 and 4", () => {
  const runs = [
    run("churn", 1, 400),
    run("churn", 1, 500),
    run("churn", 1, 600),
    run("churn", 2, 110),
    run("churn", 4, 100),
    run("churn", 3, 999, { ok: false, error: "boom" }),
  ];
  const cells = summarize(runs, ["churn"], [1, 2, 3, 4]);
  const c1 = cells.find((c) => c.variant === 1)!;
  const c2 = cells.find((c) => c.variant === 2)!;
  const c3 = cells.find((c) => c.variant === 3)!;
  assert.equal(c1.medianMs, 500);
  assert.equal(c2.vsUcrt, 500 / 110);
  assert.equal(c2.vsMimalloc, 100 / 110);
  assert.equal(c3.n, 0);
  assert.equal(c3.failed, 1);
  assert.equal(c3.medianMs, null);
  const cpu = summarize(runs, ["churn"], [1], "cpu");
  assert.equal(cpu[0].medianMs, 250);
});

Deno.test("checkTargets: a realloc-touched block left on the old heap misses the migration target", () => {
  const good = [
    run("mt-churn", 1, 1000),
    run("mt-churn", 2, 400),
    run("mt-churn", 4, 390),
    run("mt-churn", 3, 420, {
      injectMs: 30,
      hooksLiveMs: 20,
      dllStats: { migrations: 10, state: "live" },
    }),
  ];
  const cells = summarize(good, ["mt-churn"], [1, 2, 3, 4]);
  const t = checkTargets(cells, good, ["mt-churn"]);
  const by = (s: string) => t.find((x) => x.target.includes(s))!;
  assert.equal(by("0.95×").met, true);
  assert.equal(by("2×").met, true);
  assert.equal(by("moves every").met, true);
  assert.equal(by("latency").met, true);

  const bad = [
    ...good.slice(0, 3),
    run("mt-churn", 3, 420, {
      hooksLiveMs: 150,
      dllStats: { migrations: 4 },
    }, { lineage_in_ucrt_heap: 2 }),
  ];
  const t2 = checkTargets(summarize(bad, ["mt-churn"], [1, 2, 3, 4]), bad, [
    "mt-churn",
  ]);
  const by2 = (s: string) => t2.find((x) => x.target.includes(s))!;
  assert.equal(by2("moves every").met, false);
  assert.match(by2("moves every").detail, /2 of 5/);
  assert.equal(by2("latency").met, false);
});

Deno.test("statOf reads counters flat or nested, numbers or bigints", () => {
  assert.equal(statOf({ migrations: 3 }, "migrations"), 3);
  assert.equal(
    statOf({ counters: { migrated: 5n } }, "migrations", "migrated"),
    5,
  );
  assert.equal(statOf(undefined, "x"), null);
});

Deno.test("markdown and SVG renderings", () => {
  const runs = [
    run("churn", 1, 500),
    run("churn", 2, 120),
    run("churn", 4, 100),
    run("percall", 1, 300),
    run("percall", 2, 150),
    run("percall", 4, 100),
  ];
  const workloads = ["churn", "percall"];
  const variants: VariantId[] = [1, 2, 4];
  const cells = summarize(runs, workloads, variants);
  const report: BenchReport = {
    schema: 1,
    date: "2026-11-26T03:00:00.000Z",
    platform: "Wine 10.0 on Linux (not native Windows)",
    cpus: 2,
    config: {
      reps: 1,
      scale: 1,
      threads: 4,
      workloads,
      variants,
      dll: "build/heapshift.dll",
      injection: null,
      start: "import-table",
      metric: "wall",
      noMigrateSwitch: "HEAPSHIFT_NO_MIGRATE=1",
    },
    totalSeconds: 12,
    cpuShare: 0.5,
    cells,
    targets: checkTargets(cells, runs, workloads),
    notes: ["a note"],
    runs,
  };
  const md = renderMarkdown(report);
  assert.match(
    md,
    /\| workload \| 1 UCRT heap \| 2 heapshift at start \| 4 mimalloc linked \|/,
  );
  assert.match(md, /\| churn \| 500 ms/);
  assert.match(md, /4\.17×, 0\.83× mi/);
  assert.match(md, /the hook adds 50000\.0 ns per call/);
  assert.match(md, /busy machine/);
  assert.match(md, /- a note/);
  const svg = renderSvg(report);
  assert.ok(svg.startsWith("<svg"));
  assert.ok(svg.trimEnd().endsWith("</svg>"));
  assert.equal(
    (svg.match(/<rect /g) ?? []).length,
    1 + 3 + runs.length, // background, legend, one bar per run
  );
  assert.ok(!svg.includes("NaN"));
});
