/**
 * The bench's data model and its renderings: aggregation of repeated runs
 * into medians, spreads and ratios, the target checks, and the markdown
 * table, JSON and SVG chart written to `bench/results/`. Pure TypeScript,
 * no platform dependencies (unit-tested on any OS).
 *
 * @module
 */

import {
  type MedianInterval,
  type PairableRun,
  pairedGeomean,
  pairedRatio,
} from "./paired.ts";

/**
 * The ways each workload runs. `group` says which table a variant belongs
 * to: `main` (the default DLL: what the README's main table shows), `msize`
 * (the same DLL built with `--msize usable`), `mimalloc` (the DLL and the
 * linked program with the other mimalloc version), `x86` (32-bit programs,
 * `build/heapshift32.dll`). `base` is the variant speeds are compared with
 * (×), `linked` the mimalloc-linked variant of the same mimalloc ("mi").
 */
export const VARIANTS = [
  {
    id: 1,
    key: "ucrt",
    label: "1 UCRT heap",
    short: "UCRT",
    color: "#8c8c8c",
    group: "main",
    base: 1,
    linked: 4,
  },
  {
    id: 2,
    key: "hooked-start",
    label: "2 heapshift at start",
    short: "hooked@start",
    color: "#1f77b4",
    group: "main",
    base: 1,
    linked: 4,
  },
  {
    id: 3,
    key: "hooked-late",
    label: "3 heapshift injected late",
    short: "injected late",
    color: "#2ca02c",
    group: "main",
    base: 1,
    linked: 4,
  },
  {
    id: 4,
    key: "mimalloc",
    label: "4 mimalloc linked",
    short: "mimalloc direct",
    color: "#ff7f0e",
    group: "main",
    base: 1,
    linked: 4,
  },
  {
    id: 5,
    key: "late-no-migrate",
    label: "5 late, no migration",
    short: "late, no migration",
    color: "#9467bd",
    group: "main",
    base: 1,
    linked: 4,
  },
  {
    id: 6,
    key: "hooked-start-usable",
    label: "6 at start, _msize usable",
    short: "@start, usable _msize",
    color: "#17becf",
    group: "msize",
    base: 1,
    linked: 4,
  },
  {
    id: 7,
    key: "hooked-start-alt",
    label: "7 at start, other mimalloc",
    short: "@start, other mimalloc",
    color: "#aec7e8",
    group: "mimalloc",
    base: 1,
    linked: 9,
  },
  {
    id: 8,
    key: "hooked-late-alt",
    label: "8 injected late, other mimalloc",
    short: "late, other mimalloc",
    color: "#98df8a",
    group: "mimalloc",
    base: 1,
    linked: 9,
  },
  {
    id: 9,
    key: "mimalloc-alt",
    label: "9 other mimalloc linked",
    short: "other mimalloc direct",
    color: "#ffbb78",
    group: "mimalloc",
    base: 1,
    linked: 9,
  },
  {
    id: 10,
    key: "x86-ucrt",
    label: "10 x86: UCRT heap",
    short: "x86 UCRT",
    color: "#c7c7c7",
    group: "x86",
    base: 10,
    linked: null,
  },
  {
    id: 11,
    key: "x86-start",
    label: "11 x86: heapshift at start",
    short: "x86 @start",
    color: "#6baed6",
    group: "x86",
    base: 10,
    linked: null,
  },
  {
    id: 12,
    key: "x86-late",
    label: "12 x86: injected late",
    short: "x86 late",
    color: "#74c476",
    group: "x86",
    base: 10,
    linked: null,
  },
] as const;

/** A variant's number. */
export type VariantId = typeof VARIANTS[number]["id"];

/** One of {@linkcode VARIANTS}. */
export type Variant = typeof VARIANTS[number];

/** The variant with this id. */
export function variantOf(id: VariantId): Variant {
  return VARIANTS.find((v) => v.id === id)!;
}

/** The workloads the x86 variants run (the DLL's hot paths). */
export const X86_WORKLOADS = ["churn", "mt-churn", "percall"];

/** Whether variant `id` runs `workload` (x86 runs only the hot paths). */
export function runsWorkload(id: VariantId, workload: string): boolean {
  return variantOf(id).group !== "x86" || X86_WORKLOADS.includes(workload);
}

/** Thread counts of the scaling table (mt-churn). */
export const THREAD_COUNTS = [1, 2, 4, 8, 16, 64];

/**
 * The key a run is summarized under (a {@linkcode Cell}'s `workload`): the
 * workload's name, or `mt-churn@N` for a run of the scaling table at a
 * thread count other than the main table's.
 */
export function seriesOf(r: Pick<RunRecord, "workload" | "threads">): string {
  return r.threads === undefined ? r.workload : `${r.workload}@${r.threads}`;
}

/** The workloads, in report order, with what they model. */
export const WORKLOADS = [
  { name: "churn", what: "small-object churn, 1 thread" },
  { name: "mt-churn", what: "multi-threaded churn, cross-thread frees" },
  { name: "realloc", what: "string/vector builders growing by realloc" },
  { name: "aligned", what: "_aligned_* and _aligned_offset_* blocks" },
  { name: "game", what: "game frames over long-lived assets" },
  { name: "migrate", what: "realloc every live old block once" },
  { name: "percall", what: "malloc/free pairs: cost per call" },
] as const;

/** Names of the workloads. */
export type WorkloadName = typeof WORKLOADS[number]["name"];

/** The `result {…}` line a workload prints (see bench/workload.c). */
export interface WorkloadResult {
  workload: string;
  allocator: string;
  ok: boolean;
  ms: number;
  /** Wall time of the timed phase's second half (single-threaded
   * workloads; -1 or absent otherwise): late, most old blocks have left
   * the old heap by then. */
  second_half_ms?: number;
  cpu_ms: number;
  ops: number;
  ns_per_op: number;
  check: string;
  threads: number;
  scale: number;
  old_blocks: number;
  old_reallocs: number;
  old_frees: number;
  bytes: number;
  heapwalk_ok: boolean;
  live: number;
  live_in_ucrt_heap: number;
  lineage_live: number;
  lineage_in_ucrt_heap: number;
  /** Live blocks allocated in the timed phase, and how many of them are on
   * the UCRT heap (must be 0 once heapshift is in). */
  new_live: number;
  new_in_ucrt_heap: number;
  peak_working_set: number;
  peak_commit: number;
  load_ms: number;
  late_load_ms: number;
  hook_seen_ms: number;
  dll: string | null;
}

/** One process run of one workload in one variant. */
export interface RunRecord {
  workload: string;
  variant: VariantId;
  /** mt-churn: its thread count (the scaling table), when not the main
   * table's. */
  threads?: number;
  rep: number;
  ok: boolean;
  /** Why the run failed (its own check, a crash, a harness check). */
  error?: string;
  result?: WorkloadResult;
  /** Variant 2: how the DLL got in before `main` (`import-table` or
   * `loadlibrary`); variants 3 and 5: `remote` or `self-load`. */
  injection?: "remote" | "self-load" | "import-table" | "loadlibrary";
  /** Harness side: the inject command's duration (ms). */
  injectMs?: number;
  /** Harness side: command → the DLL's stats say its hooks are live (ms). */
  hooksLiveMs?: number;
  /** The DLL's stats block, read after the timed phase, if available. */
  dllStats?: Record<string, unknown>;
  /** Wall time of the whole process (ms). */
  wallMs: number;
}

/** Median and spread of one workload in one variant. */
export interface Cell {
  workload: string;
  variant: VariantId;
  n: number;
  failed: number;
  medianMs: number | null;
  minMs: number | null;
  maxMs: number | null;
  /** Interquartile range (4 runs or more; else min and max). */
  q1Ms: number | null;
  q3Ms: number | null;
  /** Spread in percent of the median: the interquartile range with 4
   * runs or more, else max − min. */
  spreadPct: number | null;
  nsPerOp: number | null;
  /** Speed against the variant's base (1: the UCRT heap): > 1 is faster.
   * The median over reps of base time ÷ this time in the same rep (the
   * variants of a workload run back to back in each rep: paired.ts), or
   * median ÷ median under 3 such pairs. */
  vsUcrt: number | null;
  /** The same against the program linked with the same mimalloc ("mi"): 1
   * is as fast as mimalloc linked in. */
  vsMimalloc: number | null;
  /** The paired ratios' medians and 95% intervals (null: not paired). */
  vsUcrtPaired: MedianInterval | null;
  vsMimallocPaired: MedianInterval | null;
  peakWorkingSetMB: number | null;
  peakCommitMB: number | null;
  /** Live blocks at the end of the timed phase (median). */
  liveBlocks: number | null;
  /** Live blocks derived from old blocks by realloc, and how many of them
   * are still on the UCRT heap after the timed phase (medians). */
  lineageLive: number | null;
  lineageInUcrtHeap: number | null;
  oldBlocks: number | null;
  oldReallocs: number | null;
  /** Old blocks freed during the timed phase (median). */
  oldFrees: number | null;
  injectMs: number | null;
  hooksLiveMs: number | null;
  hookSeenMs: number | null;
  /** From the DLL's stats, when it publishes them (medians). */
  migrations: number | null;
  migratedBytes: number | null;
}

/** One of the issue's targets, checked. */
export interface TargetCheck {
  target: string;
  /** `true` met, `false` missed, `null` not measured in this run. */
  met: boolean | null;
  detail: string;
}

/** Everything written to `bench/results/bench.json`. */
export interface BenchReport {
  schema: 1;
  date: string;
  /** What it ran on: "Wine 10.0 on Linux …" or "Windows …". */
  platform: string;
  cpus: number;
  config: {
    reps: number;
    scale: number;
    threads: number;
    workloads: string[];
    variants: VariantId[];
    dll: string | null;
    injection: "remote" | "self-load" | null;
    /** How variant 2 loads the DLL before the program's code. */
    start: "import-table" | "loadlibrary" | null;
    /** What the times are: wall clock or the process's CPU time. */
    metric: Metric;
    noMigrateSwitch: string;
    /** The mimalloc versions of the main variants and of the "other"
     * ones (7–9), as stats() spells them ("2.1.2"). */
    mimalloc?: { main: string | null; other: string | null };
    /** _msize of the main DLL: "exact" or "usable". */
    msize?: string;
    /** Thread counts of the scaling table (mt-churn). */
    threadCounts?: number[];
  };
  totalSeconds: number;
  /** Median CPU time / wall time of the single-threaded runs: well under 1
   * when other programs competed for the CPUs (numbers are then noisy). */
  cpuShare: number | null;
  /** The UCRT functions the DLL reported hooked. */
  hooked?: string[];
  cells: Cell[];
  targets: TargetCheck[];
  notes: string[];
  runs: RunRecord[];
}

/** Which time a summary uses. */
export type Metric = "wall" | "cpu";

/** The `q` quantile (0–1) of a list, linearly interpolated; null if empty. */
export function quantile(xs: number[], q: number): number | null {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const pos = (v.length - 1) * q;
  const lo = Math.floor(pos), hi = Math.ceil(pos);
  return v[lo] + (v[hi] - v[lo]) * (pos - lo);
}

/** The median of a list (null when empty). */
export function median(xs: number[]): number | null {
  return quantile(xs, 0.5);
}

/** Spread of a list in percent of its median: the interquartile range
 * with 4 values or more, else max − min. */
export function spreadPct(xs: number[]): number | null {
  const med = median(xs);
  if (!med) return null;
  const lo = quantile(xs, xs.length >= 4 ? 0.25 : 0)!;
  const hi = quantile(xs, xs.length >= 4 ? 0.75 : 1)!;
  return ((hi - lo) / med) * 100;
}

function num(x: unknown): number | null {
  if (typeof x === "number" && Number.isFinite(x)) return x;
  if (typeof x === "bigint") return Number(x);
  if (typeof x === "string" && /^\d+(\.\d+)?$/.test(x)) return Number(x);
  return null;
}

/** Reads a counter from a DLL stats object under any of the given names. */
export function statOf(
  stats: Record<string, unknown> | undefined,
  ...names: string[]
): number | null {
  if (!stats) return null;
  for (const n of names) {
    const v = num(stats[n]);
    if (v !== null) return v;
    const c = stats.counters;
    if (c && typeof c === "object") {
      const w = num((c as Record<string, unknown>)[n]);
      if (w !== null) return w;
    }
  }
  return null;
}

function medianOf(
  runs: RunRecord[],
  f: (r: RunRecord) => number | null | undefined,
): number | null {
  return median(
    runs.map(f).filter((x): x is number => typeof x === "number" && x >= 0),
  );
}

/**
 * Aggregates runs into one cell per series ({@linkcode seriesOf}: a
 * workload, or mt-churn at a thread count) and variant, with speeds
 * relative to each variant's `base` and `linked` variants.
 */
export function summarize(
  runs: RunRecord[],
  workloads: string[],
  variants: VariantId[],
  metric: Metric = "wall",
): Cell[] {
  const time = (r: WorkloadResult) => timeOf(r, metric);
  const cells: Cell[] = [];
  for (const w of workloads) {
    const row: Cell[] = [];
    for (const v of variants) {
      const all = runs.filter((r) => seriesOf(r) === w && r.variant === v);
      if (all.length === 0) continue;
      const good = all.filter((r) => r.ok && r.result);
      const ms = good.map((r) => time(r.result!));
      const med = median(ms);
      const min = ms.length ? Math.min(...ms) : null;
      const max = ms.length ? Math.max(...ms) : null;
      row.push({
        workload: w,
        variant: v,
        n: good.length,
        failed: all.length - good.length,
        medianMs: med,
        minMs: min,
        maxMs: max,
        q1Ms: quantile(ms, ms.length >= 4 ? 0.25 : 0),
        q3Ms: quantile(ms, ms.length >= 4 ? 0.75 : 1),
        spreadPct: spreadPct(ms),
        nsPerOp: medianOf(
          good,
          (r) => r.result!.ops ? (time(r.result!) * 1e6) / r.result!.ops : null,
        ),
        vsUcrt: null,
        vsMimalloc: null,
        vsUcrtPaired: null,
        vsMimallocPaired: null,
        peakWorkingSetMB: medianOf(
          good,
          (r) => r.result!.peak_working_set / 2 ** 20,
        ),
        peakCommitMB: medianOf(good, (r) => r.result!.peak_commit / 2 ** 20),
        liveBlocks: medianOf(good, (r) => r.result!.live),
        lineageLive: medianOf(good, (r) => r.result!.lineage_live),
        lineageInUcrtHeap: medianOf(
          good,
          (r) => r.result!.lineage_in_ucrt_heap,
        ),
        oldBlocks: medianOf(good, (r) => r.result!.old_blocks),
        oldReallocs: medianOf(good, (r) => r.result!.old_reallocs),
        oldFrees: medianOf(good, (r) => r.result!.old_frees),
        injectMs: medianOf(good, (r) => r.injectMs),
        hooksLiveMs: medianOf(good, (r) => r.hooksLiveMs),
        hookSeenMs: medianOf(good, (r) => r.result!.hook_seen_ms),
        migrations: medianOf(
          good,
          (r) => statOf(r.dllStats, "migrations", "migrated"),
        ),
        migratedBytes: medianOf(
          good,
          (r) => statOf(r.dllStats, "migrated_bytes", "migratedBytes"),
        ),
      });
    }
    const med = (id: VariantId | null) =>
      id === null ? null : row.find((c) => c.variant === id)?.medianMs ?? null;
    const timed = (id: VariantId) => pairable(runs, w, id, metric);
    for (const c of row) {
      const v = variantOf(c.variant);
      const base = med(v.base), mi = med(v.linked);
      if (c.medianMs) {
        const mine = timed(c.variant);
        c.vsUcrtPaired = v.base === null
          ? null
          : pairedRatio(timed(v.base), mine);
        c.vsMimallocPaired = v.linked === null
          ? null
          : pairedRatio(timed(v.linked), mine);
        c.vsUcrt = c.vsUcrtPaired?.median ?? (base ? base / c.medianMs : null);
        c.vsMimalloc = c.vsMimallocPaired?.median ??
          (mi ? mi / c.medianMs : null);
      }
    }
    cells.push(...row);
  }
  return cells;
}

/** A result's time in `metric`: CPU time when asked and measured, else
 * wall time. */
function timeOf(x: WorkloadResult, metric: Metric): number {
  return metric === "cpu" && x.cpu_ms >= 0 ? x.cpu_ms : x.ms;
}

/** The runs of one series and variant as paired.ts takes them: rep and
 * time (null when failed). "second-half": the wall time of the timed
 * phase's second half. */
function pairable(
  runs: RunRecord[],
  series: string,
  variant: VariantId,
  metric: Metric | "second-half",
): PairableRun[] {
  return runs.filter((r) => seriesOf(r) === series && r.variant === variant)
    .map((r) => ({
      rep: r.rep,
      ms: !r.ok || !r.result
        ? null
        : metric === "second-half"
        ? r.result.second_half_ms ?? null
        : timeOf(r.result, metric),
    }));
}

/** "1.10 (1.01–1.21, 98%)": a paired ratio, its interval and the
 * interval's coverage; `unit` follows the median ("0.86× (…)"). */
function fpaired(p: MedianInterval, unit = ""): string {
  return `${p.median.toFixed(2)}${unit} (${p.lo.toFixed(2)}–${
    p.hi.toFixed(2)
  }, ${Math.floor(p.level * 100)}%)`;
}

function cell(cells: Cell[], w: string, v: VariantId): Cell | undefined {
  return cells.find((c) => c.workload === w && c.variant === v);
}

function geomean(xs: number[]): number | null {
  const v = xs.filter((x) => x > 0);
  if (!v.length) return null;
  return Math.exp(v.reduce((s, x) => s + Math.log(x), 0) / v.length);
}

function fx(x: number | null, digits = 2): string {
  return x === null ? "–" : `${x.toFixed(digits)}×`;
}

function fms(x: number | null): string {
  if (x === null) return "–";
  return x >= 100 ? `${x.toFixed(0)} ms` : `${x.toFixed(1)} ms`;
}

function fmb(x: number | null): string {
  return x === null ? "–" : `${x.toFixed(1)} MB`;
}

/** The workloads of the "hooked ≥ 0.95× mimalloc linked" target: the
 * allocation workloads, not the per-call and migration measurements. */
const ALLOCATION_WORKLOADS = (workloads: string[]) =>
  workloads.filter((w) => w !== "percall" && w !== "migrate");

/**
 * The runs a target's numbers leave out because they failed: in `series`
 * (workloads, or `mt-churn@N`) and `variants`, "game variant 3: 2 of 11".
 */
function failedRuns(
  runs: RunRecord[],
  series: string[],
  variants: readonly VariantId[],
): string[] {
  const out: string[] = [];
  for (const w of series) {
    for (const v of variants) {
      const mine = runs.filter((r) => seriesOf(r) === w && r.variant === v);
      const bad = mine.filter((r) => !r.ok || !r.result).length;
      if (bad) out.push(`${w} variant ${v}: ${bad} of ${mine.length}`);
    }
  }
  return out;
}

/**
 * A target whose runs failed somewhere is not met, whatever the runs that
 * passed say: a failed run has no time, so it would otherwise leave the
 * ratios (or a whole workload) out and the target would be decided on what
 * is left.
 */
function mindFailures(t: TargetCheck, failed: string[]): TargetCheck {
  if (!failed.length) return t;
  return {
    ...t,
    met: false,
    detail: `runs failed (${failed.join(", ")}), so not met whatever the ` +
      `rest say; ${t.detail}`,
  };
}

/**
 * Peak working set of variant `v` over that of `base` (both medians) for
 * one workload: the late-injected program's memory against the plain
 * program's with the defaults. null when either did not run.
 */
export function workingSetRatio(
  cells: Cell[],
  workload: string,
  v: VariantId = 3,
  base: VariantId = 1,
): number | null {
  const a = cell(cells, workload, v)?.peakWorkingSetMB ?? null;
  const b = cell(cells, workload, base)?.peakWorkingSetMB ?? null;
  return a !== null && b ? a / b : null;
}

/** The mimalloc-linked ratio target over `variant` (2: the main DLL, 7:
 * the other mimalloc's). */
function linkedTarget(
  cells: Cell[],
  runs: RunRecord[],
  variant: VariantId,
  options: { workloads: string[]; what: string; metric: Metric },
): TargetCheck {
  const linked = variantOf(variant).linked!;
  const failed = failedRuns(runs, ALLOCATION_WORKLOADS(options.workloads), [
    variant,
    linked,
  ]);
  return mindFailures(linkedCheck(cells, runs, variant, options), failed);
}

function linkedCheck(
  cells: Cell[],
  runs: RunRecord[],
  variant: VariantId,
  options: { workloads: string[]; what: string; metric: Metric },
): TargetCheck {
  const target = `hooked ≥ 0.95× direct mimalloc${options.what}`;
  const hooked = ALLOCATION_WORKLOADS(options.workloads)
    .map((w) => ({ w, c: cell(cells, w, variant) }))
    .filter((x) => x.c?.vsMimalloc != null);
  if (!hooked.length) {
    return { target, met: null, detail: "the variants did not both run" };
  }
  const worst = hooked.reduce((a, b) =>
    a.c!.vsMimalloc! <= b.c!.vsMimalloc! ? a : b
  );
  const linked = variantOf(variant).linked!;
  const of = (w: string, v: VariantId) => pairable(runs, w, v, options.metric);
  // Rep by rep: the geometric mean of that rep's linked ÷ hooked times.
  const paired = pairedGeomean(
    hooked.map((x) => ({ num: of(x.w, linked), den: of(x.w, variant) })),
  );
  const gm = paired?.median ?? geomean(hooked.map((x) => x.c!.vsMimalloc!))!;
  return {
    target,
    met: gm >= 0.95,
    detail: `geometric mean ${paired ? fpaired(paired, "×") : fx(gm)} over ${
      hooked.map((x) => x.w).join(", ")
    }; worst ${worst.w} ${
      fx(worst.c!.vsMimalloc)
    } (variant ${variant} vs ${linked}, ${
      paired
        ? `median over ${paired.n} reps of each rep's geometric mean, with its confidence interval`
        : "the cells' ratios: under 3 reps had every workload in both"
    })`,
  };
}

/** Checks the issue's targets against the cells. */
export function checkTargets(
  cells: Cell[],
  runs: RunRecord[],
  workloads: string[],
  options: { threadCounts?: number[]; threads?: number; metric?: Metric } = {},
): TargetCheck[] {
  const metric = options.metric ?? "wall";
  const out: TargetCheck[] = [
    linkedTarget(cells, runs, 2, { workloads, what: "", metric }),
  ];
  if (cells.some((c) => c.variant === 7)) {
    out.push(
      linkedTarget(cells, runs, 7, {
        workloads,
        what: " (the other mimalloc version)",
        metric,
      }),
    );
  }
  // Late injection as fast as loading at start. migrate is left out: at
  // start it reallocates mimalloc blocks, late it migrates old ones, which
  // is what it measures.
  const pairs = workloads.filter((w) => w !== "migrate")
    .map((w) => ({ w, s: cell(cells, w, 2), l: cell(cells, w, 3) }))
    .filter((x) => x.s?.medianMs && x.l?.medianMs);
  if (pairs.length) {
    const of = (w: string, v: VariantId, m: Metric | "second-half" = metric) =>
      pairable(runs, w, v, m);
    const paired = new Map(
      pairs.map((x) => [x.w, pairedRatio(of(x.w, 3), of(x.w, 2))]),
    );
    const ratio = (x: typeof pairs[number]) =>
      paired.get(x.w)?.median ?? x.l!.medianMs! / x.s!.medianMs!;
    const show = (x: typeof pairs[number]) => {
      const p = paired.get(x.w);
      return p ? fpaired(p) : `${ratio(x).toFixed(2)} (ratio of medians)`;
    };
    const worst = pairs.reduce((a, b) => ratio(a) >= ratio(b) ? a : b);
    // The same comparison in the second half of the timed phase: what late
    // costs per call, apart from what each old block costs once.
    const secondHalf = pairs.flatMap((x) => {
      const p = pairedRatio(
        of(x.w, 3, "second-half"),
        of(x.w, 2, "second-half"),
      );
      return p ? [`${x.w} ${fpaired(p)}`] : [];
    });
    // What late costs more, per old block that left the old heap in the
    // timed phase (realloc'd or freed): work an at-start run never has.
    const perOld = pairs.flatMap((x) => {
      const left = (x.l!.oldReallocs ?? 0) + (x.l!.oldFrees ?? 0);
      if (ratio(x) <= 1.05 || left < 100) return [];
      const us = (ratio(x) - 1) * x.s!.medianMs! * 1000 / left;
      return [`${x.w} ${us.toFixed(1)} µs × ${left.toLocaleString("en-US")}`];
    });
    out.push({
      target: "injected late within 5% of loaded at start",
      met: pairs.every((x) => ratio(x) <= 1.05),
      detail:
        `late / at start (median of each rep's ratio, with its confidence interval): ${
          pairs.map((x) => `${x.w} ${show(x)}`).join(", ")
        }; worst ${worst.w} (migrate left out: late it migrates old blocks)${
          perOld.length
            ? `. Where late is behind, the difference per old block that left the old heap in the timed phase: ${
              perOld.join(", ")
            } (its free on the old heap, fresh pages for what replaces it)`
            : ""
        }${
          secondHalf.length
            ? `. In the timed phase's second half, once most old blocks have left: ${
              secondHalf.join(", ")
            }`
            : ""
        }`,
    });
  } else {
    out.push({
      target: "injected late within 5% of loaded at start",
      met: null,
      detail: "variants 2 and 3 did not both run",
    });
  }
  const mt = cell(cells, "mt-churn", 2);
  out.push({
    target: "hooked ≥ 2× the UCRT heap on multi-threaded churn",
    met: mt?.vsUcrt != null ? mt.vsUcrt >= 2 : null,
    detail: mt?.vsUcrt != null
      ? `mt-churn, variant 2: ${fx(mt.vsUcrt)} the UCRT heap's speed${
        (() => {
          const l = cell(cells, "mt-churn", 3);
          return l?.vsUcrt != null ? ` (injected late: ${fx(l.vsUcrt)})` : "";
        })()
      }`
      : "mt-churn in variants 1 and 2 did not both run",
  });
  const counts = options.threadCounts ?? [];
  if (counts.length) {
    const key = (n: number) =>
      n === (options.threads ?? 4) ? "mt-churn" : `mt-churn@${n}`;
    const hooked = cells.filter((c) =>
      c.vsUcrt !== null && counts.some((n) => key(n) === c.workload) &&
      [2, 3, 5, 6, 7, 8, 11, 12].includes(c.variant)
    );
    const behind = hooked.filter((c) => c.vsUcrt! < 1);
    const slowest = hooked.length
      ? hooked.reduce((a, b) => a.vsUcrt! <= b.vsUcrt! ? a : b)
      : null;
    out.push({
      target: "no thread count where heapshift falls behind the UCRT heap",
      met: hooked.length ? behind.length === 0 : null,
      detail: slowest
        ? `mt-churn at ${counts.join(", ")} threads: ${
          behind.length
            ? `behind at ${
              behind.map((c) => `${c.workload} variant ${c.variant}`).join(
                ", ",
              )
            }`
            : "ahead everywhere"
        }; the least ahead ${slowest.workload} variant ${slowest.variant} ${
          fx(slowest.vsUcrt)
        }`
        : "the scaling runs did not run",
    });
  }
  const late = runs.filter((r) => r.variant === 3 && r.ok && r.result);
  if (late.length) {
    const left = late.reduce(
      (s, r) => s + r.result!.lineage_in_ucrt_heap,
      0,
    );
    const live = late.reduce((s, r) => s + r.result!.lineage_live, 0);
    const walked = late.every((r) => r.result!.heapwalk_ok);
    const short = late.filter((r) => {
      const m = statOf(r.dllStats, "migrations", "migrated");
      return m !== null && m < r.result!.old_reallocs;
    });
    const withStats = late.filter((r) =>
      statOf(r.dllStats, "migrations", "migrated") !== null
    );
    out.push({
      target: "late injection moves every realloc-touched old block",
      met: walked ? left === 0 && short.length === 0 : null,
      detail: `${left} of ${live} live realloc-touched old blocks still on ` +
        `the UCRT heap after the timed phase (HeapWalk, ${late.length} runs)` +
        (withStats.length
          ? `; DLL migrations < old blocks reallocated in ${short.length} of ${withStats.length} runs`
          : "; the DLL's migration counter was not available"),
    });
  } else {
    out.push({
      target: "late injection moves every realloc-touched old block",
      met: null,
      detail: "variant 3 did not run",
    });
  }
  const ws = workloads.map((w) => ({ w, x: workingSetRatio(cells, w) }))
    .filter((x) => x.x !== null);
  out.push({
    target: "late-injected peak working set ≤ 1.15× the plain program's",
    met: ws.length ? ws.every((x) => x.x! <= 1.15) : null,
    detail: ws.length
      ? `variant 3 / variant 1, median peak working set: ${
        ws.map((x) => `${x.w} ${fx(x.x)}`).join(", ")
      }`
      : "variants 1 and 3 did not both run",
  });
  const lat = runs
    .filter((r) => (r.variant === 3 || r.variant === 5) && r.ok)
    .map((r) => r.hooksLiveMs ?? r.injectMs)
    .filter((x): x is number => typeof x === "number");
  if (lat.length) {
    const med = median(lat)!;
    const max = Math.max(...lat);
    out.push({
      target: "injection latency < 100 ms",
      met: med < 100,
      detail: `command → hooks live: median ${med.toFixed(1)} ms, max ${
        max.toFixed(1)
      } ms over ${lat.length} injections`,
    });
  } else {
    out.push({
      target: "injection latency < 100 ms",
      met: null,
      detail: "no injection ran",
    });
  }
  // What each target's numbers come from, where a failed run would hide
  // (the linked targets say it themselves).
  const key = (n: number) =>
    n === (options.threads ?? 4) ? "mt-churn" : `mt-churn@${n}`;
  const scopes: Record<string, [string[], VariantId[]]> = {
    "injected late within 5% of loaded at start": [
      workloads.filter((w) => w !== "migrate"),
      [2, 3],
    ],
    "hooked ≥ 2× the UCRT heap on multi-threaded churn": [
      workloads.filter((w) => w === "mt-churn"),
      [1, 2],
    ],
    "no thread count where heapshift falls behind the UCRT heap": [
      workloads.includes("mt-churn") ? counts.map(key) : [],
      [1, 2, 3, 5, 6, 7, 8, 10, 11, 12],
    ],
    "late injection moves every realloc-touched old block": [workloads, [3]],
    "late-injected peak working set ≤ 1.15× the plain program's": [
      workloads,
      [1, 3],
    ],
    "injection latency < 100 ms": [workloads, [3, 5]],
  };
  return out.map((t) => {
    const scope = scopes[t.target];
    return scope ? mindFailures(t, failedRuns(runs, ...scope)) : t;
  });
}

/** Per-call overhead of the hook: percall ns/call, variant 2 − variant 4. */
export function perCallOverhead(
  cells: Cell[],
): { hooked: number; direct: number; ucrt: number | null } | null {
  const h = cell(cells, "percall", 2)?.nsPerOp ?? null;
  const d = cell(cells, "percall", 4)?.nsPerOp ?? null;
  if (h === null || d === null) return null;
  return {
    hooked: h,
    direct: d,
    ucrt: cell(cells, "percall", 1)?.nsPerOp ?? null,
  };
}

/** A variant's column label, with the mimalloc versions of this report. */
export function variantLabel(
  v: Variant,
  mimalloc?: BenchReport["config"]["mimalloc"],
  withVersion = false,
): string {
  const other = mimalloc?.other ? `mimalloc ${mimalloc.other}` : null;
  if (v.group === "mimalloc" && other) {
    return v.label.replace("other mimalloc", other);
  }
  if (withVersion && mimalloc?.main && (v.id === 2 || v.id === 3)) {
    return `${v.label}, mimalloc ${mimalloc.main}`;
  }
  if (withVersion && mimalloc?.main && v.id === 4) {
    return `4 mimalloc ${mimalloc.main} linked`;
  }
  return v.label;
}

/** Options of {@linkcode renderTimeTable}. */
export interface TimeTableOptions {
  /** Column labels (default: the variants' labels). */
  labels?: string[];
  /** Each cell's peak working set on a third line. */
  workingSet?: boolean;
  /** A last column with the peak working set of variant 3 over variant
   * 1's ({@linkcode workingSetRatio}). */
  lateToPlain?: boolean;
  /** Row labels (default: the series keys). */
  rowLabel?: (series: string) => string;
}

/**
 * A markdown table, one row per series (`rows`: workload names or
 * `mt-churn@N`) and one column per variant: median ± spread, speed
 * relative to the variant's base (×) and to its mimalloc-linked variant
 * (mi), and, optionally, the peak working set. Returns the lines.
 */
export function renderTimeTable(
  cells: Cell[],
  rows: string[],
  variants: readonly Variant[],
  options: TimeTableOptions = {},
): string[] {
  const L: string[] = [];
  const labels = options.labels ?? variants.map((v) => v.label);
  const extra = options.lateToPlain ? ["late ÷ plain working set"] : [];
  L.push(`| workload | ${[...labels, ...extra].join(" | ")} |`);
  L.push(`| --- | ${[...labels, ...extra].map(() => "---:").join(" | ")} |`);
  for (const w of rows) {
    const cols = variants.map((v) => {
      const c = cell(cells, w, v.id);
      if (!c || c.medianMs === null) {
        return c && c.failed ? `FAILED (${c.failed})` : "–";
      }
      const parts = [`${fms(c.medianMs)} ±${c.spreadPct!.toFixed(0)}%`];
      const rel: string[] = [];
      if (v.id !== v.base && c.vsUcrt !== null) rel.push(fx(c.vsUcrt));
      if (v.id !== v.linked && c.vsMimalloc !== null) {
        rel.push(`${fx(c.vsMimalloc)} mi`);
      }
      if (rel.length) parts.push(rel.join(", "));
      if (options.workingSet) parts.push(fmb(c.peakWorkingSetMB));
      if (c.failed) parts.push(`${c.failed} failed`);
      return parts.join("<br>");
    });
    if (options.lateToPlain) cols.push(fx(workingSetRatio(cells, w)));
    L.push(`| ${options.rowLabel?.(w) ?? w} | ${cols.join(" | ")} |`);
  }
  return L;
}

/** Peak working set (MB, median) per series and variant. */
export function renderWorkingSetTable(
  cells: Cell[],
  rows: string[],
  variants: readonly Variant[],
  labels: string[] = variants.map((v) => v.label),
): string[] {
  const L = [`| workload | ${labels.join(" | ")} |`];
  L.push(`| --- | ${labels.map(() => "---:").join(" | ")} |`);
  for (const w of rows) {
    const cols = variants.map((v) => {
      const c = cell(cells, w, v.id);
      return c?.peakWorkingSetMB != null ? c.peakWorkingSetMB.toFixed(1) : "–";
    });
    L.push(`| ${w} | ${cols.join(" | ")} |`);
  }
  return L;
}

/** Variants of `ids` that ran in this report. */
function ran(r: BenchReport, ids: VariantId[]): Variant[] {
  return ids.filter((id) => r.config.variants.includes(id)).map(variantOf);
}

/** mimalloc v2 and v3 side by side: the same DLL at start and late, and
 * the program linked with each. */
function mimallocSection(r: BenchReport, L: string[]): void {
  const vs = ran(r, [2, 7, 3, 8, 4, 9]);
  if (!vs.some((v) => v.group === "mimalloc")) return;
  const m = r.config.mimalloc;
  L.push(
    `## mimalloc ${m?.main ?? "main"} and ${
      m?.other ?? "the other version"
    } side by side`,
    "",
    '"mi" compares each with the program linked against the same mimalloc.',
    "",
  );
  L.push(
    ...renderTimeTable(r.cells, r.config.workloads, vs, {
      labels: vs.map((v) => variantLabel(v, m, true)),
    }),
    "",
  );
  for (const [id, version] of [[2, m?.main], [7, m?.other]] as const) {
    const t = linkedTarget(r.cells, r.runs, id, {
      workloads: r.config.workloads,
      what: "",
      metric: r.config.metric ?? "wall",
    });
    if (t.met !== null) {
      L.push(`- mimalloc ${version}, at start / linked: ${t.detail}.`);
    }
  }
  L.push("");
}

/** _msize exact (main DLL) against usable: time and memory, per call and
 * per block. */
function msizeSection(r: BenchReport, L: string[]): void {
  const vs = ran(r, [2, 6]);
  if (vs.length < 2) return;
  const metric = r.config.metric ?? "wall";
  L.push(
    "## _msize exact or usable (heapshift at start)",
    "",
    "Exact: mimalloc's 8-byte padding records each block's requested size",
    "(`MI_PADDING=1`, the default build); usable: the block's usable size, no",
    "padding (`deno task build-dll --msize usable`).",
    "",
    "| workload | exact | usable | exact ÷ usable time | peak working set exact − usable | per live block (8,000 or more) |",
    "| --- | ---: | ---: | ---: | ---: | ---: |",
  );
  for (const w of r.config.workloads) {
    const e = cell(r.cells, w, 2), u = cell(r.cells, w, 6);
    if (!e?.medianMs || !u?.medianMs) continue;
    const dws = e.peakWorkingSetMB !== null && u.peakWorkingSetMB !== null
      ? e.peakWorkingSetMB - u.peakWorkingSetMB
      : null;
    // per block only where blocks are many: a few hundred live blocks
    // leave the difference in the working set's noise
    const perBlock = dws !== null && e.liveBlocks && e.liveBlocks >= 8000
      ? `${((dws * 2 ** 20) / e.liveBlocks).toFixed(1)} B`
      : "–";
    L.push(
      `| ${w} | ${fms(e.medianMs)}<br>${fmb(e.peakWorkingSetMB)} | ${
        fms(u.medianMs)
      }<br>${fmb(u.peakWorkingSetMB)} | ${
        fx(
          pairedRatio(
            pairable(r.runs, w, 2, metric),
            pairable(r.runs, w, 6, metric),
          )?.median ?? e.medianMs / u.medianMs,
        )
      } | ${dws === null ? "–" : `${dws.toFixed(1)} MB`} | ${perBlock} |`,
    );
  }
  const pe = cell(r.cells, "percall", 2)?.nsPerOp ?? null;
  const pu = cell(r.cells, "percall", 6)?.nsPerOp ?? null;
  if (pe !== null && pu !== null) {
    L.push(
      "",
      `Per call (percall, malloc or free): exact ${pe.toFixed(1)} ns, usable ${
        pu.toFixed(1)
      } ns: exactness costs ${(pe - pu).toFixed(1)} ns per call.`,
    );
  }
  L.push("");
}

/** mt-churn at each thread count, every variant that ran it. */
function scalingSection(r: BenchReport, L: string[]): void {
  const counts = r.config.threadCounts ?? [];
  if (counts.length < 2) return;
  const key = (n: number) =>
    n === r.config.threads ? "mt-churn" : `mt-churn@${n}`;
  const rows = counts.map(key);
  const vs = VARIANTS.filter((v) =>
    r.config.variants.includes(v.id) &&
    rows.some((w) => cell(r.cells, w, v.id)?.medianMs)
  );
  if (!vs.length) return;
  L.push(
    "## Threads: mt-churn at each thread count",
    "",
    "The same 2.4 M operations (× scale) split over the threads; × against the",
    "UCRT heap at the same thread count (x86: the x86 UCRT heap).",
    "",
    ...renderTimeTable(r.cells, rows, vs, {
      labels: vs.map((v) => variantLabel(v, r.config.mimalloc)),
      rowLabel: (w) =>
        `${w === "mt-churn" ? r.config.threads : w.slice(9)} threads`,
    }),
    "",
  );
}

/** The x86 hook DLL's variants. */
function x86Section(r: BenchReport, L: string[]): void {
  const vs = ran(r, [10, 11, 12]);
  if (!vs.length) return;
  L.push(
    "## x86 (32-bit programs, build/heapshift32.dll)",
    "",
    "At start here is `LoadLibrary` first thing in `main`, after the CRT's",
    "start-up (there is no import-patched x86 copy), before any of the",
    "workload's allocations.",
    "",
    ...renderTimeTable(
      r.cells,
      r.config.workloads.filter((w) => X86_WORKLOADS.includes(w)),
      vs,
      { workingSet: true },
    ),
    "",
  );
}

/** The markdown report (what the README quotes). */
export function renderMarkdown(r: BenchReport): string {
  const vs = ran(
    r,
    VARIANTS.filter((v) => v.group === "main").map((v) => v.id),
  );
  const L: string[] = [];
  L.push(`# heapshift bench`);
  L.push("");
  L.push(
    `Measured ${
      r.date.slice(0, 16).replace("T", " ")
    } UTC on ${r.platform}, ${r.cpus} CPUs; ` +
      `${r.config.reps} runs per cell (median ± spread: interquartile range, or max − min under 4 runs, over the median; × is the median over reps of the ratio to the run of the same rep, or the ratio of the medians where fewer than 3 reps have both), ` +
      `${
        r.config.metric === "cpu"
          ? "CPU time (user + kernel, all threads)"
          : "wall-clock time"
      } of the timed phase, ` +
      `scale ${r.config.scale}, ${r.config.threads} threads in mt-churn; ` +
      `took ${r.totalSeconds.toFixed(0)} s${
        r.cpuShare !== null && r.cpuShare < 0.8
          ? ` on a busy machine (single-threaded runs got ${
            (r.cpuShare * 100).toFixed(0)
          }% of a CPU: noisy)`
          : ""
      }. heapshift at start: ${r.config.start ?? "not run"}; late injection: ${
        r.config.injection ?? "not run"
      }${
        r.config.mimalloc?.main
          ? `; mimalloc ${r.config.mimalloc.main}, _msize ${
            r.config.msize ?? "exact"
          }`
          : ""
      }.`,
  );
  L.push("");
  L.push(
    `## ${
      r.config.metric === "cpu" ? "CPU time" : "Time"
    } (lower is better) and peak working set; × = speed relative to UCRT / to mimalloc`,
  );
  L.push("");
  L.push(
    ...renderTimeTable(r.cells, r.config.workloads, vs, {
      workingSet: true,
      lateToPlain: vs.some((v) => v.id === 3) && vs.some((v) => v.id === 1),
    }),
  );
  L.push("");
  if (r.config.metric === "wall" && r.cpuShare !== null && r.cpuShare < 0.8) {
    L.push(
      "## CPU time (user + kernel, all threads): the steadier view on a busy machine",
    );
    L.push("");
    L.push(
      ...renderTimeTable(
        summarize(r.runs, r.config.workloads, r.config.variants, "cpu"),
        r.config.workloads,
        vs,
      ),
    );
    L.push("");
  }
  const pc = perCallOverhead(r.cells);
  if (pc) {
    L.push(
      `**Per call** (percall, malloc or free): hooked ${
        pc.hooked.toFixed(1)
      } ns, ` +
        `mimalloc linked ${pc.direct.toFixed(1)} ns${
          pc.ucrt !== null ? `, UCRT ${pc.ucrt.toFixed(1)} ns` : ""
        }: the hook adds ${(pc.hooked - pc.direct).toFixed(1)} ns per call.`,
    );
    L.push("");
  }
  L.push("## Targets");
  L.push("");
  for (const t of r.targets) {
    const mark = t.met === null ? "not measured" : t.met ? "met" : "NOT met";
    L.push(`- **${t.target}**: ${mark}. ${t.detail}.`);
  }
  L.push("");
  scalingSection(r, L);
  mimallocSection(r, L);
  msizeSection(r, L);
  x86Section(r, L);
  const lateVs = vs.filter((v) => v.id === 3 || v.id === 5);
  if (lateVs.length) {
    L.push("## Late injection: old blocks and latency (medians)");
    L.push("");
    L.push(
      "| workload | variant | old blocks | old reallocated | DLL migrations | realloc-touched live / still on UCRT heap | command → hooks live | hooks seen in target |",
    );
    L.push("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (const w of r.config.workloads) {
      for (const v of lateVs) {
        const c = cell(r.cells, w, v.id);
        if (!c || c.n === 0) continue;
        const i = (x: number | null) => x === null ? "–" : x.toFixed(0);
        L.push(
          `| ${w} | ${v.short} | ${i(c.oldBlocks)} | ${i(c.oldReallocs)} | ${
            i(c.migrations)
          } | ${i(c.lineageLive)} / ${i(c.lineageInUcrtHeap)} | ${
            fms(c.hooksLiveMs ?? c.injectMs)
          } | ${fms(c.hookSeenMs)} |`,
        );
      }
    }
    L.push("");
    const mig = cell(r.cells, "migrate", 3);
    const migRun = r.runs.find((x) =>
      x.workload === "migrate" && x.variant === 3 && x.ok && x.result
    );
    if (mig?.medianMs && migRun?.result) {
      const n = migRun.result.old_reallocs;
      const mb = migRun.result.bytes / 2 ** 20;
      L.push(
        `Migration speed (migrate, variant 3): ${n} old blocks (${
          mb.toFixed(1)
        } MB) reallocated in ${fms(mig.medianMs)}: ${
          (n / mig.medianMs / 1000).toFixed(2)
        } M blocks/s, ${(mb / (mig.medianMs / 1000)).toFixed(0)} MB/s.`,
      );
      L.push("");
    }
  }
  if (r.notes.length) {
    L.push("## Notes");
    L.push("");
    for (const n of r.notes) L.push(`- ${n}`);
    L.push("");
  }
  L.push(
    `Variants: ${
      VARIANTS.filter((v) => r.config.variants.includes(v.id))
        .map((v) => variantLabel(v, r.config.mimalloc)).join("; ")
    }. Workloads: ${
      WORKLOADS.map((w) => `${w.name} (${w.what})`).join("; ")
    }. Every workload checks its own results; a failed check fails the run.`,
  );
  L.push("");
  return L.join("\n");
}

function esc(s: string): string {
  return s.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(
    ">",
    "&gt;",
  );
}

/**
 * The SVG chart: per workload, one bar per variant showing its speed
 * relative to the UCRT heap (the cells' paired ratio; whiskers: its
 * confidence interval, or the interquartile range when not paired).
 */
export function renderSvg(r: BenchReport): string {
  const vs = VARIANTS.filter((v) =>
    v.group === "main" && r.config.variants.includes(v.id)
  );
  const ws = r.config.workloads;
  const barH = 12, gap = 10, left = 110, right = 50, top = 70;
  const plotW = 560;
  const groupH = vs.length * barH + gap;
  const height = top + ws.length * groupH + 40;
  const width = left + plotW + right;
  let maxX = 1;
  const bars: {
    w: string;
    v: typeof vs[number];
    x: number;
    lo: number;
    hi: number;
  }[] = [];
  for (const w of ws) {
    const base = cell(r.cells, w, 1)?.medianMs;
    for (const v of vs) {
      const c = cell(r.cells, w, v.id);
      if (!c?.medianMs || !base || c.vsUcrt === null) continue;
      // the table's ratio; whiskers: its interval when paired
      const x = c.vsUcrt;
      const p = c.vsUcrtPaired;
      const lo = p ? p.lo : c.q3Ms ? base / c.q3Ms : x;
      const hi = p ? p.hi : c.q1Ms ? base / c.q1Ms : x;
      maxX = Math.max(maxX, x);
      bars.push({ w, v, x, lo, hi });
    }
  }
  // The axis follows the medians; whiskers beyond it are clipped.
  maxX = Math.ceil(maxX * 1.15 * 2) / 2;
  const sx = (x: number) => left + (Math.min(x, maxX) / maxX) * plotW;
  const o: string[] = [];
  o.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
  );
  o.push(`<rect width="${width}" height="${height}" fill="#fff"/>`);
  o.push(
    `<text x="${left}" y="16" font-size="13" font-weight="bold">${
      esc(`Speed relative to the UCRT heap (higher is better)`)
    }</text>`,
  );
  o.push(
    `<text x="${left}" y="30" fill="#555">${esc(r.platform)}</text>`,
    `<text x="${left}" y="44" fill="#555">${
      esc(
        `${
          r.config.metric === "cpu" ? "CPU" : "wall-clock"
        } time, ${r.config.reps} runs: median of each rep's ratio; whiskers: its confidence interval`,
      )
    }</text>`,
  );
  // legend
  let lx = left;
  for (const v of vs) {
    o.push(
      `<rect x="${lx}" y="52" width="10" height="10" fill="${v.color}"/>`,
      `<text x="${lx + 13}" y="61">${esc(v.short)}</text>`,
    );
    lx += 22 + v.short.length * 6;
  }
  // grid
  const step = maxX > 12 ? 2 : maxX > 6 ? 1 : 0.5;
  for (let t = 0; t <= maxX + 1e-9; t += step) {
    const x = sx(t).toFixed(1);
    o.push(
      `<line x1="${x}" y1="${top - 4}" x2="${x}" y2="${height - 30}" stroke="${
        Math.abs(t - 1) < 1e-9 ? "#000" : "#ddd"
      }"/>`,
      `<text x="${x}" y="${
        height - 16
      }" text-anchor="middle" fill="#555">${t}×</text>`,
    );
  }
  ws.forEach((w, i) => {
    const y0 = top + i * groupH;
    o.push(
      `<text x="${left - 8}" y="${
        y0 + (vs.length * barH) / 2 + 4
      }" text-anchor="end">${esc(w)}</text>`,
    );
    vs.forEach((v, j) => {
      const b = bars.find((b) => b.w === w && b.v.id === v.id);
      const y = y0 + j * barH;
      if (!b) {
        o.push(
          `<text x="${left + 4}" y="${
            y + barH - 3
          }" fill="#999" font-size="9">${esc(`${v.short}: not run`)}</text>`,
        );
        return;
      }
      o.push(
        `<rect x="${left}" y="${y + 1}" width="${
          (sx(b.x) - left).toFixed(1)
        }" height="${barH - 2}" fill="${v.color}"><title>${
          esc(`${w}, ${v.label}: ${b.x.toFixed(2)}×`)
        }</title></rect>`,
        `<line x1="${sx(b.lo).toFixed(1)}" y1="${y + barH / 2}" x2="${
          sx(b.hi).toFixed(1)
        }" y2="${y + barH / 2}" stroke="#444" stroke-width="1"/>`,
        `<text x="${(sx(b.x) + 4).toFixed(1)}" y="${
          y + barH - 3
        }" font-size="9" stroke="#fff" stroke-width="3" paint-order="stroke">${
          b.x.toFixed(2)
        }×</text>`,
      );
    });
  });
  o.push(`</svg>`);
  return o.join("\n") + "\n";
}

/** The README's markers around a part `deno task bench` writes. */
export function readmeMarkers(part: "results" | "programs"): [string, string] {
  return [
    `<!-- bench-${part}: begin (deno task bench writes this part) -->`,
    `<!-- bench-${part}: end -->`,
  ];
}

/**
 * Whether a report covers everything the README quotes: every workload and
 * variant that could run, at scale 1, wall time, every thread count, and at
 * least 5 reps (fewer, when the budget cut a slow run short, give intervals
 * too wide to quote: with 4, min–max covers the median with 87.5% only).
 */
export function isCompleteRun(r: BenchReport): boolean {
  const c = r.config;
  return c.scale === 1 && c.metric === "wall" && c.reps >= 5 &&
    WORKLOADS.every((w) => c.workloads.includes(w.name)) &&
    ([1, 2, 3, 4, 5, 6, 7, 8, 9] as VariantId[]).every((v) =>
      c.variants.includes(v)
    ) &&
    THREAD_COUNTS.every((n) => (c.threadCounts ?? []).includes(n));
}

/**
 * `readme` with the part between {@linkcode readmeMarkers} (of `part`)
 * replaced by a markdown report of the bench (its title dropped, its
 * headings moved down to the README's fourth level); unchanged if the
 * markers are missing.
 */
export function spliceReadme(
  readme: string,
  md: string,
  options: { part?: "results" | "programs" } = {},
): string {
  const [begin, end] = readmeMarkers(options.part ?? "results");
  const a = readme.indexOf(begin), b = readme.indexOf(end);
  if (a < 0 || b < a) return readme;
  const body = md.replace(/^# [^\n]*\n+/, "")
    .replace(/^## /gm, "#### ").trim();
  return `${readme.slice(0, a + begin.length)}\n\n${body}\n\n${
    readme.slice(b)
  }`;
}
