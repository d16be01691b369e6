import assert from "node:assert/strict";
import {
  type BenchReport,
  checkTargets,
  isCompleteRun,
  median,
  quantile,
  readmeMarkers,
  renderMarkdown,
  renderSvg,
  renderTimeTable,
  type RunRecord,
  seriesOf,
  spliceReadme,
  spreadPct,
  statOf,
  summarize,
  type VariantId,
  variantOf,
  workingSetRatio,
  type WorkloadResult,
  WORKLOADS,
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

/** A report of these runs, summarized as the harness does. */
function reportOf(
  runs: RunRecord[],
  workloads: string[],
  variants: VariantId[],
  extra: {
    config?: Partial<BenchReport["config"]>;
    cpuShare?: number;
    notes?: string[];
  } = {},
): BenchReport {
  const cells = summarize(runs, [...new Set(runs.map(seriesOf))], variants);
  return {
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
      dll: null,
      injection: null,
      start: "import-table",
      metric: "wall",
      noMigrateSwitch: "HEAPSHIFT_NO_MIGRATE=1",
      ...extra.config,
    },
    totalSeconds: 12,
    cpuShare: extra.cpuShare ?? 1,
    cells,
    targets: checkTargets(cells, runs, workloads),
    notes: extra.notes ?? [],
    runs,
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
  const report = reportOf(runs, workloads, variants, {
    config: { dll: "build/heapshift.dll" },
    cpuShare: 0.5,
    notes: ["a note"],
  });
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

Deno.test("summarize: each variant against its own base and linked variant", () => {
  const runs = [
    run("churn", 1, 400),
    run("churn", 4, 100),
    run("churn", 7, 125),
    run("churn", 9, 100),
    run("churn", 10, 800),
    run("churn", 11, 200),
  ];
  const cells = summarize(runs, ["churn"], [1, 4, 7, 9, 10, 11]);
  const c = (v: VariantId) => cells.find((x) => x.variant === v)!;
  assert.equal(c(7).vsUcrt, 400 / 125);
  assert.equal(c(7).vsMimalloc, 100 / 125); // the other mimalloc's linked
  assert.equal(c(11).vsUcrt, 800 / 200); // x86 against the x86 UCRT heap
  assert.equal(c(11).vsMimalloc, null);
});

Deno.test("scaling runs are their own series; no thread count behind UCRT is checked", () => {
  const runs = [
    run("mt-churn", 1, 300),
    run("mt-churn", 2, 100),
    run("mt-churn", 1, 200, { threads: 64 }),
    run("mt-churn", 2, 250, { threads: 64 }),
  ];
  assert.equal(seriesOf(runs[2]), "mt-churn@64");
  const cells = summarize(runs, ["mt-churn", "mt-churn@64"], [1, 2]);
  assert.equal(cells.length, 4);
  const t = checkTargets(cells, runs, ["mt-churn"], {
    threadCounts: [4, 64],
    threads: 4,
  }).find((x) => x.target.startsWith("no thread count"))!;
  assert.equal(t.met, false);
  assert.match(t.detail, /behind at mt-churn@64 variant 2/);
});

Deno.test("late injection within 5% of at start, working set late ÷ plain", () => {
  const ws = (mb: number) => ({ peak_working_set: mb * 2 ** 20 });
  const runs = [
    run("churn", 1, 400, {}, ws(10)),
    run("churn", 2, 100, {}, ws(12)),
    run("churn", 3, 104, {}, ws(11)),
    run("game", 1, 400, {}, ws(20)),
    run("game", 2, 100, {}, ws(20)),
    run("game", 3, 110, {}, ws(30)),
    run("migrate", 2, 10),
    run("migrate", 3, 40),
  ];
  const workloads = ["churn", "game", "migrate"];
  const cells = summarize(runs, workloads, [1, 2, 3]);
  assert.equal(workingSetRatio(cells, "game"), 1.5);
  assert.equal(workingSetRatio(cells, "churn"), 1.1);
  assert.equal(workingSetRatio(cells, "migrate"), null);
  const t = checkTargets(cells, runs, workloads);
  const late = t.find((x) => x.target.startsWith("injected late"))!;
  assert.equal(late.met, false); // game 1.10
  assert.match(
    late.detail,
    /churn 1\.04 \(ratio of medians\), game 1\.10 \(ratio of medians\); worst game/,
  );
  // 10 ms more over the 10 + 90 old blocks that left; churn is within 5%
  assert.match(late.detail, /timed phase: game 100\.0 µs × 100 \(its free/);
  assert.doesNotMatch(late.detail, /churn \d+\.\d µs/);
  const mem = t.find((x) => x.target.startsWith("late-injected peak"))!;
  assert.equal(mem.met, false);
  assert.match(mem.detail, /churn 1\.10×, game 1\.50×/);
  const table = renderTimeTable(
    cells,
    ["game"],
    ([1, 3] as VariantId[]).map(variantOf),
    {
      workingSet: true,
      lateToPlain: true,
    },
  );
  assert.match(table[0], /late ÷ plain working set \|$/);
  assert.match(table[2], /^\| game \| 400 ms ±0%<br>20\.0 MB \| 110 ms/);
  assert.match(table[2], /30\.0 MB \| 1\.50× \|$/);
});

Deno.test("targets compare the runs of one rep: a machine that slows down between reps does not decide them", () => {
  // The machine runs at 1× in reps 1–5 and 2× slower in reps 6–9. Late is
  // 10% behind at start and hooked 0.9× linked in every rep, but late's and
  // linked's runs failed in the fast reps 1 and 2: their medians fall among
  // the slow reps, at start's among the fast ones. By medians late would be
  // 2.2× behind and hooked 1.8× linked's speed (met); by reps, 1.10 and 0.90.
  const slow = (rep: number) => (rep >= 6 ? 2 : 1);
  const failed = (rep: number) => rep === 1 || rep === 2;
  const runs: RunRecord[] = [];
  for (let rep = 1; rep <= 9; rep++) {
    const f = slow(rep);
    const boom = { rep, ok: false, error: "boom" };
    runs.push(
      run("game", 1, 400 * f, { rep }),
      run("game", 2, 100 * f, { rep }, { second_half_ms: 50 * f }),
      failed(rep) ? run("game", 4, 1, boom) : run("game", 4, 90 * f, { rep }),
      failed(rep)
        ? run("game", 3, 1, boom)
        : run("game", 3, 110 * f, { rep }, { second_half_ms: 50 * f }),
    );
  }
  const cells = summarize(runs, ["game"], [1, 2, 3, 4]);
  const c = (v: VariantId) => cells.find((x) => x.variant === v)!;
  assert.equal(c(2).medianMs, 100); // among the fast reps
  assert.equal(c(3).medianMs, 220); // among the slow ones
  assert.equal(c(4).medianMs, 180);
  assert.ok(Math.abs(c(2).vsMimalloc! - 0.9) < 1e-9); // not 180 / 100
  assert.ok(Math.abs(c(2).vsUcrt! - 4) < 1e-9);
  assert.equal(c(2).vsMimallocPaired!.n, 7);
  const t = checkTargets(cells, runs, ["game"]);
  const late = t.find((x) => x.target.startsWith("injected late"))!;
  assert.equal(late.met, false);
  assert.match(late.detail, /median of each rep's ratio/);
  assert.match(late.detail, /game 1\.10 \(1\.10–1\.10, 98%\)/);
  // late's extra 10% is all in the first half: the one-time cost of the
  // old blocks, apart from the per-call speed
  assert.match(
    late.detail,
    /second half, once most old blocks have left: game 1\.00 \(1\.00–1\.00, 98%\)$/,
  );
  const linked = t.find((x) => x.target === "hooked ≥ 0.95× direct mimalloc")!;
  assert.equal(linked.met, false); // the medians would have said met
  assert.match(linked.detail, /geometric mean 0\.90× \(0\.90–0\.90, 98%\)/);
  // Hooked as fast as linked in every rep: met, once no run failed.
  const even = runs.map((r) =>
    r.variant === 4 ? run("game", 4, 100 * slow(r.rep), { rep: r.rep }) : r
  );
  const ok = checkTargets(summarize(even, ["game"], [1, 2, 3, 4]), even, [
    "game",
  ]).find((x) => x.target === "hooked ≥ 0.95× direct mimalloc")!;
  assert.equal(ok.met, true);
  // With linked's two failed runs back, the same ratios do not meet it.
  const someFailed = even.map((r, i) =>
    r.variant === 4 && failed(r.rep) ? runs[i] : r
  );
  const not = checkTargets(
    summarize(someFailed, ["game"], [1, 2, 3, 4]),
    someFailed,
    ["game"],
  ).find((x) => x.target === "hooked ≥ 0.95× direct mimalloc")!;
  assert.equal(not.met, false);
  assert.match(not.detail, /^runs failed \(game variant 4: 2 of 9\)/);
});

Deno.test("a target is not met when a run it covers failed, even a whole workload's", () => {
  // Late crashed in every rep of game: game has no late time at all, and
  // churn alone is within 5%; so is every working set that ran.
  const runs: RunRecord[] = [];
  for (let rep = 1; rep <= 5; rep++) {
    runs.push(
      run("churn", 1, 200, { rep }),
      run("churn", 2, 100, { rep }),
      run("churn", 3, 101, { rep }),
      run("game", 1, 200, { rep }),
      run("game", 2, 100, { rep }),
      run("game", 3, 1, { rep, ok: false, error: "exit code 3" }),
    );
  }
  const workloads = ["churn", "game"];
  const t = checkTargets(
    summarize(runs, workloads, [1, 2, 3]),
    runs,
    workloads,
  );
  const target = (s: string) => t.find((x) => x.target.startsWith(s))!;
  for (
    const s of [
      "injected late within 5%",
      "late-injected peak working set",
      "late injection moves every",
    ]
  ) {
    assert.equal(target(s).met, false, s);
    assert.match(target(s).detail, /runs failed \(game variant 3: 5 of 5\)/);
  }
  // a target over other variants is not touched by variant 3's failures
  assert.equal(target("hooked ≥ 2×").met, null);
});

Deno.test("markdown: scaling, mimalloc and _msize sections", () => {
  const runs: RunRecord[] = [];
  for (
    const [v, ms] of [[1, 300], [2, 100], [4, 90], [6, 95], [7, 110], [9, 100]]
  ) {
    runs.push(run("percall", v as VariantId, ms, {}, { ops: 1_000_000 }));
    runs.push(run("mt-churn", v as VariantId, ms * 2));
    runs.push(run("mt-churn", v as VariantId, ms * 3, { threads: 16 }));
  }
  const workloads = ["mt-churn", "percall"];
  const variants: VariantId[] = [1, 2, 4, 6, 7, 9];
  const md = renderMarkdown(reportOf(runs, workloads, variants, {
    config: {
      mimalloc: { main: "2.1.2", other: "3.4.1" },
      msize: "exact",
      threadCounts: [4, 16],
    },
  }));
  assert.match(md, /## Threads: mt-churn at each thread count/);
  assert.match(md, /\| 16 threads \| 900 ms/);
  assert.match(md, /## mimalloc 2\.1\.2 and 3\.4\.1 side by side/);
  assert.match(md, /7 at start, mimalloc 3\.4\.1/);
  assert.match(md, /## _msize exact or usable/);
  assert.match(md, /exact 100\.0 ns, usable 95\.0 ns: exactness costs 5\.0 ns/);
});

Deno.test("spliceReadme replaces only what lies between the markers", () => {
  const [begin, end] = readmeMarkers("results");
  const [pBegin, pEnd] = readmeMarkers("programs");
  const readme =
    `# x\n\n${begin}\nold\n${end}\n\n${pBegin}\nold\n${pEnd}\n\n## after\n`;
  const out = spliceReadme(
    readme,
    "# heapshift bench\n\nMeasured.\n\n## Time\n\n| a |\n",
  );
  assert.equal(
    out,
    `# x\n\n${begin}\n\nMeasured.\n\n#### Time\n\n| a |\n\n${end}\n\n${pBegin}\nold\n${pEnd}\n\n## after\n`,
  );
  assert.equal(
    spliceReadme(readme, "# Real programs\n\n| p |\n", { part: "programs" }),
    `# x\n\n${begin}\nold\n${end}\n\n${pBegin}\n\n| p |\n\n${pEnd}\n\n## after\n`,
  );
  assert.equal(spliceReadme("no markers", "# t\n"), "no markers");
});

Deno.test("isCompleteRun: every workload, variant and thread count at scale 1, and enough reps", () => {
  const full = (config: Partial<BenchReport["config"]>) =>
    reportOf([], WORKLOADS.map((w) => w.name), [1, 2, 3, 4, 5, 6, 7, 8, 9], {
      config: { threadCounts: [1, 2, 4, 8, 16, 64], reps: 11, ...config },
    });
  assert.equal(isCompleteRun(full({})), true);
  assert.equal(isCompleteRun(full({ scale: 0.5 })), false);
  assert.equal(isCompleteRun(full({ threadCounts: [1, 2, 4] })), false);
  assert.equal(isCompleteRun(full({ variants: [1, 2, 3, 4] })), false);
  // a run the budget cut short has no interval worth quoting (with 4 reps
  // min..max covers the median with 87.5% only)
  assert.equal(isCompleteRun(full({ reps: 5 })), true);
  assert.equal(isCompleteRun(full({ reps: 4 })), false);
  assert.equal(isCompleteRun(full({ reps: 1 })), false);
});
