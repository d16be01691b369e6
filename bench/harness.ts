/**
 * The Windows half of `deno task bench`: runs every workload in every
 * variant, repeatedly, and writes `bench/results/bench.{json,md,svg}`.
 * Runs on a Windows Deno (natively, or `windeno` under Wine); the host
 * task `tasks/bench.ts` builds the workloads and starts it.
 *
 *   deno run -A bench/harness.ts [--reps N] [--scale F] [--threads N]
 *     [--thread-counts 1,2,4,8,16,64|none] [--workloads a,b]
 *     [--variants 1,2,…,12] [--dll PATH] [--no-migrate-env NAME=VALUE]
 *     [--budget SECONDS] [--self-load] [--quick] [--metric wall|cpu]
 *     [--start auto|import-table|loadlibrary] [--main-msize exact|usable]
 *     [--out DIR]
 *   deno run -A bench/harness.ts --render bench/results/bench.json
 *     [--metric wall|cpu] [--out DIR]     (re-renders, on any OS)
 *
 * What each variant runs is `files()` below (bench/README.md lists them):
 * the at-start variants (2, 6, 7) run a copy of the program whose import
 * table lists heapshift.dll first (written by tasks/bench.ts with pe/), so
 * the DLL loads before the CRT initialises, or, without one, the workload
 * calls LoadLibrary as the first thing in `main`; x86 loads with
 * LoadLibrary.
 *
 * Each run is one process that prints `warm <pid>` after its warm-up and
 * waits; for the late variants (3, 5, 8, 12) the DLL is injected then, with
 * mod.ts `inject` (a remote LoadLibraryW) — or, with `--self-load`, by the
 * workload itself (`--late-load`). After the timed phase it prints `done`
 * and waits again while the DLL's stats are read (mod.ts `stats`).
 *
 * @module
 */

import { checkOutputPath } from "../cli/output_path.ts";
import { type HeapshiftStats, inject, stats } from "../mod.ts";
import { wineInfo } from "../ffi/mod.ts";
import { readLines } from "../src/_lines.ts";
import { isFile } from "../src/_paths.ts";
import { repoPath } from "../src/_repo.ts";
import {
  type BenchReport,
  checkTargets,
  median,
  type Metric,
  renderMarkdown,
  renderSvg,
  type RunRecord,
  runsWorkload,
  seriesOf,
  statOf,
  summarize,
  THREAD_COUNTS,
  type VariantId,
  VARIANTS,
  type WorkloadResult,
  WORKLOADS,
} from "./report.ts";

/** What the harness runs: {@linkcode parseArgs}'s result. */
export interface Options {
  reps: number;
  scale: number;
  threads: number;
  workloads: string[];
  variants: VariantId[];
  dll: string;
  /** what the report names as the DLL, when `dll` is a staged copy */
  dllAs?: string;
  noMigrate: [string, string];
  budget: number;
  selfLoad: boolean;
  out: string;
  timeoutMs: number;
  metric: Metric;
  start: "auto" | "import-table" | "loadlibrary";
  /** mt-churn's thread counts for the scaling table. */
  threadCounts: number[];
  /** _msize of the main DLL (tasks/bench.ts knows how it was built). */
  msize: string;
  /** Re-render an earlier bench.json instead of running. */
  render?: string;
}

function log(msg: string): void {
  console.error(`[bench] ${msg}`);
}

/**
 * The harness's options from `args`; throws, saying which argument is
 * wrong, before anything runs (tasks/bench.ts checks its arguments so).
 */
export function parseArgs(args: string[]): Options {
  const o: Options = {
    reps: 11,
    scale: 1,
    threads: 4,
    workloads: WORKLOADS.map((w) => w.name),
    variants: VARIANTS.map((v) => v.id),
    dll: repoPath("build/heapshift.dll"),
    noMigrate: ["HEAPSHIFT_NO_MIGRATE", "1"],
    budget: 900,
    selfLoad: false,
    out: repoPath("bench/results"),
    timeoutMs: 60_000,
    metric: "wall",
    start: "auto",
    threadCounts: THREAD_COUNTS,
    msize: "exact",
  };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const name = a.split("=")[0];
    const val = () => {
      const inline = a.includes("=");
      const v = inline ? a.slice(a.indexOf("=") + 1) : args[++i];
      // (an empty one too: --dll= would run a bench without its DLL)
      if (v === undefined || v === "") throw new Error(`${name} needs a value`);
      // the next option is no value (one starting with - goes after =), as
      // the deno tasks' parseArgs says it
      if (!inline && v.startsWith("-")) {
        throw new Error(
          `${name} needs a value (one starting with - as ${name}=VALUE)`,
        );
      }
      return v;
    };
    // a value that is no number would run a bench of NaN (no reps, no
    // time limit) to the end
    const count = () => {
      const v = val();
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1 || v.trim() === "") {
        throw new Error(
          `${name} must be a whole number of at least 1, not '${v}'`,
        );
      }
      return n;
    };
    const over0 = (unit: string) => {
      const v = val();
      const n = Number(v);
      if (!(n > 0) || !Number.isFinite(n)) {
        throw new Error(
          `${name} must be a number of ${unit} over 0, not '${v}'`,
        );
      }
      return n;
    };
    // a switch's value would be dropped and the switch taken anyway
    // (--self-load=no turned self-load on)
    const flag = () => {
      if (a.includes("=")) {
        throw new Error(
          `${name} takes no value, not '${a.slice(a.indexOf("=") + 1)}'`,
        );
      }
    };
    // an empty list would run a bench of no cell
    const some = <T>(list: T[], all: readonly unknown[]) => {
      if (list.length === 0) {
        throw new Error(`${name} names none (${all.join(", ")})`);
      }
      return list;
    };
    switch (name) {
      case "--reps":
        o.reps = count();
        break;
      case "--scale":
        o.scale = Number(val());
        break;
      case "--threads":
        o.threads = count();
        break;
      case "--workloads":
        o.workloads = some(
          val().split(",").filter(Boolean),
          WORKLOADS.map((x) => x.name),
        );
        for (const w of o.workloads) {
          if (!WORKLOADS.some((x) => x.name === w)) {
            throw new Error(
              `unknown workload ${w} (${
                WORKLOADS.map((x) => x.name).join(", ")
              })`,
            );
          }
        }
        break;
      case "--variants":
        o.variants = some(
          val().split(",").filter(Boolean),
          VARIANTS.map((x) => x.id),
        ).map((v) => {
          const id = VARIANTS.find((x) => String(x.id) === v.trim())?.id;
          if (id === undefined) {
            throw new Error(
              `unknown variant ${v} (${VARIANTS.map((x) => x.id).join(", ")})`,
            );
          }
          return id;
        });
        break;
      case "--dll":
        o.dll = val();
        break;
      case "--dll-as": // what config.dll records (tasks/bench.ts: a staged copy)
        o.dllAs = val();
        break;
      case "--no-migrate-env": {
        const [k, v] = val().split("=");
        o.noMigrate = [k, v ?? "1"];
        break;
      }
      case "--budget":
        o.budget = over0("seconds");
        break;
      case "--metric": {
        const m = val();
        if (m !== "wall" && m !== "cpu") throw new Error("--metric wall|cpu");
        o.metric = m;
        break;
      }
      case "--start": {
        const m = val();
        if (m !== "auto" && m !== "import-table" && m !== "loadlibrary") {
          throw new Error("--start auto|import-table|loadlibrary");
        }
        o.start = m;
        break;
      }
      case "--thread-counts":
        {
          const counts = val();
          o.threadCounts = counts === "none"
            ? []
            : counts.split(",").map(Number);
          if (
            counts !== "none" &&
            !o.threadCounts.every((n) => Number.isInteger(n) && n >= 1)
          ) {
            throw new Error(
              `--thread-counts must be whole numbers of at least 1 (1,4,16) or none, not '${counts}'`,
            );
          }
        }
        break;
      case "--main-msize":
        o.msize = val();
        break;
      case "--render":
        o.render = val();
        break;
      case "--quick":
        flag();
        o.reps = 2;
        o.scale = 0.5;
        o.threadCounts = [1, 4, 16];
        break;
      case "--self-load":
        flag();
        o.selfLoad = true;
        break;
      case "--out":
        o.out = val();
        checkOutputPath(o.out, "--out");
        break;
      case "--timeout-ms":
        o.timeoutMs = over0("milliseconds");
        break;
      default:
        throw new Error(`unknown option ${a}`);
    }
  }
  // (an endless scale sizes the workloads past every timeout)
  if (!(o.scale > 0 && Number.isFinite(o.scale)) || !(o.threads >= 1)) {
    throw new Error("--scale must be > 0 and --threads ≥ 1");
  }
  return o;
}

/** What the machine is: Wine (with its version and host) or Windows. */
function platform(): string {
  if (Deno.build.os !== "windows") return `${Deno.build.os} (not Windows)`;
  const wine = wineInfo();
  return wine
    ? `Wine ${wine.version} on ${wine.host ?? "?"} (not native Windows)`
    : `Windows ${Deno.osRelease()} (native)`;
}

interface Plan {
  exe: string;
  args: string[];
  env: Record<string, string>;
  /** Inject remotely at `warm`. */
  inject: boolean;
  /** What to inject. */
  injectDll?: string;
  /** Read the DLL's stats at `done`. */
  dll: boolean;
}

/** What each variant runs: the program, the DLL, how the DLL gets in. */
interface VariantFiles {
  exe: string;
  /** The DLL to load or inject (none: the plain or linked program). */
  dll?: string;
  /** The import-patched copy of the program (at-start variants). */
  imports?: string;
  how: "plain" | "start" | "late";
  noMigrate?: boolean;
}

function files(o: Options, v: VariantId): VariantFiles {
  const b = (p: string) => repoPath(`build/bench/${p}`);
  const ucrt = b("workload-ucrt.exe");
  const ucrt32 = b("workload-ucrt32.exe");
  const own = o.dll === repoPath("build/heapshift.dll");
  const usable = b("dll-usable/heapshift.dll");
  const other = b("dll-other/heapshift.dll");
  const dll32 = repoPath("build/heapshift32.dll");
  switch (v) {
    case 1:
      return { exe: ucrt, how: "plain" };
    case 2:
      return {
        exe: ucrt,
        dll: o.dll,
        // the patched copy carries build/heapshift.dll, not a --dll of choice
        imports: own ? b("imports/workload-ucrt.exe") : undefined,
        how: "start",
      };
    case 3:
      return { exe: ucrt, dll: o.dll, how: "late" };
    case 4:
      return { exe: b("workload-mimalloc.exe"), how: "plain" };
    case 5:
      return { exe: ucrt, dll: o.dll, how: "late", noMigrate: true };
    case 6:
      return {
        exe: ucrt,
        dll: usable,
        imports: b("imports-usable/workload-ucrt.exe"),
        how: "start",
      };
    case 7:
      return {
        exe: ucrt,
        dll: other,
        imports: b("imports-other/workload-ucrt.exe"),
        how: "start",
      };
    case 8:
      return { exe: ucrt, dll: other, how: "late" };
    case 9:
      return { exe: b("workload-mimalloc-other.exe"), how: "plain" };
    case 10:
      return { exe: ucrt32, how: "plain" };
    case 11:
      return { exe: ucrt32, dll: dll32, how: "start" };
    case 12:
      return { exe: ucrt32, dll: dll32, how: "late" };
  }
}

/** Why variant `v` cannot run here (its files are missing), or null. */
function missing(o: Options, v: VariantId): string | null {
  const f = files(o, v);
  if (!isFile(f.exe)) return `${f.exe} was not built`;
  if (f.dll && !isFile(f.dll)) return `${f.dll} was not built`;
  return null;
}

/** The import-patched copy of variant `v`'s program, if it was made. */
function importsExe(f: VariantFiles): string | null {
  const dll = f.imports?.replace(/workload-ucrt\.exe$/, "heapshift.dll");
  return f.imports && isFile(f.imports) && dll && isFile(dll)
    ? f.imports
    : null;
}

function startMode(o: Options): "import-table" | "loadlibrary" {
  if (o.start !== "auto") return o.start;
  return importsExe(files(o, 2)) ? "import-table" : "loadlibrary";
}

/**
 * Whether variant `v`'s `_msize` of a mimalloc block must be the size asked
 * for: the main DLL's, when it was built so (7, 8, 11 and 12 use DLLs built
 * elsewhere; they, and every other block, are held to "at least").
 */
function exactMsize(o: Options, v: VariantId): boolean {
  return o.msize === "exact" && (v === 2 || v === 3 || v === 5);
}

function plan(
  o: Options,
  run: { workload: string; threads: number },
  v: VariantId,
  remote: boolean,
): Plan {
  const f = files(o, v);
  const base = [
    run.workload,
    "--wait",
    "--scale",
    String(o.scale),
    "--threads",
    String(run.threads),
    ...(exactMsize(o, v) ? ["--msize-exact"] : []),
  ];
  const env: Record<string, string> = f.noMigrate
    ? { [o.noMigrate[0]]: o.noMigrate[1] }
    : {};
  if (f.how === "plain" || !f.dll) {
    return { exe: f.exe, args: base, env, inject: false, dll: false };
  }
  if (f.how === "start") {
    const patched = startMode(o) === "import-table" ? importsExe(f) : null;
    return patched
      ? { exe: patched, args: base, env, inject: false, dll: true }
      : {
        exe: f.exe,
        args: [...base, "--load", f.dll],
        env,
        inject: false,
        dll: true,
      };
  }
  return {
    exe: f.exe,
    args: remote ? base : [...base, "--late-load", f.dll],
    env,
    inject: remote,
    injectDll: f.dll,
    dll: true,
  };
}

/** mod.ts `stats()` flattened to the report's keys. */
function flatten(s: HeapshiftStats): Record<string, unknown> {
  const c = s.counters;
  const live = s.liveSince;
  return {
    state: s.state,
    reason: s.reason,
    error: s.error,
    mimalloc_version: s.mimallocVersion,
    dll_version: s.dllVersion,
    hooked_count: s.hooked.length,
    patch_sites: s.patchSites,
    hooks_live_unix_ms: live instanceof Date ? live.getTime() : 0,
    allocs: c.allocs,
    frees: c.frees,
    frees_old: c.freesOld,
    migrations: c.migrations,
    migrated_bytes: c.migratedBytes,
    expand_rejects: c.expandRejects,
    hooked: s.hooked,
  };
}

function readStats(pid: number): Record<string, unknown> | undefined {
  try {
    return flatten(stats(pid));
  } catch {
    return undefined; // not published (yet), or no heapshift in it
  }
}

/** One run to make: a workload (at a thread count) in a variant. */
interface Job {
  workload: string;
  threads: number;
  /** Set for the scaling table's thread counts other than o.threads. */
  scaling: boolean;
  variant: VariantId;
}

async function runOne(o: Options, job: Job, rep: number): Promise<RunRecord> {
  const { workload, variant } = job;
  const remote = !o.selfLoad;
  const p = plan(o, job, variant, remote);
  const rec: RunRecord = { workload, variant, rep, ok: false, wallMs: 0 };
  if (job.scaling) rec.threads = job.threads;
  const how = files(o, variant).how;
  if (how === "late") {
    rec.injection = remote ? "remote" : "self-load";
  } else if (how === "start") {
    // how this variant's DLL got in: the patched copy or LoadLibrary in
    // main (x86 always; 6 and 7 when their copy is missing)
    rec.injection = p.args.includes("--load") ? "loadlibrary" : "import-table";
  }
  const t0 = performance.now();
  const child = new Deno.Command(p.exe, {
    args: p.args,
    env: p.env,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const writer = child.stdin.getWriter();
  let killed = false;
  const timer = setTimeout(() => {
    killed = true;
    try {
      child.kill();
    } catch { /* gone */ }
  }, o.timeoutMs);
  const errors: string[] = [];
  try {
    for await (const line of readLines(child.stdout)) {
      if (line.startsWith("warm ")) {
        const pid = Number(line.split(" ")[1]);
        if (p.inject) {
          const s = performance.now(), wall = Date.now();
          try {
            await inject(pid, p.injectDll!, { timeout: 20_000 });
            rec.injectMs = Math.round((performance.now() - s) * 10) / 10;
            // hooks live: the DLL stamps the moment in its stats block
            // (wall clock, ms); wait for it briefly if it is not there yet
            while (performance.now() - s < 5000) {
              const st = readStats(pid);
              const at = st?.hooks_live_unix_ms;
              if (st?.state === "live" && typeof at === "number" && at > 0) {
                rec.hooksLiveMs = Math.max(0, at - wall);
                break;
              }
              if (!st || st.state === "failed" || st.state === "disabled") {
                break;
              }
              await new Promise((r) => setTimeout(r, 1));
            }
          } catch (e) {
            errors.push(`inject: ${(e as Error).message}`);
            try {
              child.kill();
            } catch { /* gone */ }
            break;
          }
        }
        await writer.write(new TextEncoder().encode("go\n"));
      } else if (line === "done") {
        if (p.dll) rec.dllStats = readStats(child.pid);
        await writer.write(new TextEncoder().encode("quit\n"));
      } else if (line.startsWith("module ") || line.startsWith("phase ")) {
        // HEAPSHIFT_BENCH_MODULES=1: where a profiler finds the modules
        log(
          `${workload} variant ${variant} rep ${rep} pid ${child.pid}: ${line}`,
        );
      } else if (line.startsWith("result ")) {
        rec.result = JSON.parse(line.slice(7)) as WorkloadResult;
      }
    }
  } catch (e) {
    errors.push((e as Error).message);
  }
  clearTimeout(timer);
  try {
    await writer.close();
  } catch { /* closed */ }
  const status = await child.status;
  rec.wallMs = Math.round(performance.now() - t0);
  const err = (await stderr).trim();
  if (killed) errors.push(`timed out after ${o.timeoutMs} ms`);
  if (status.code !== 0) {
    errors.push(
      `exit code ${status.code}${status.signal ? ` (${status.signal})` : ""}`,
    );
  }
  if (err) errors.push(err.split("\n").slice(-3).join(" / "));
  if (p.dll && rec.dllStats && rec.dllStats.state !== "live") {
    errors.push(
      `the DLL's hooks are not live (state ${rec.dllStats.state}, reason ${rec.dllStats.reason}, error ${rec.dllStats.error})`,
    );
  }
  if (!rec.result && !errors.length) errors.push("no result line");

  rec.ok = errors.length === 0 && !!rec.result?.ok;
  if (!rec.ok) rec.error = errors.join("; ");
  return rec;
}

/** The variants without heapshift (the plain and the linked programs). */
const PLAIN: VariantId[] = [1, 4, 9, 10];
/** The programs linked with mimalloc. */
const LINKED: VariantId[] = [4, 9];
/** heapshift loaded before the workload's first allocation. */
const AT_START: VariantId[] = [2, 6, 7, 11];
/** heapshift injected after the warm-up. */
const LATE: VariantId[] = [3, 5, 8, 12];

/** Fails run `r` with `why`. */
function fail(r: RunRecord, why: string): void {
  r.ok = false;
  r.error = why;
}

/**
 * Whether each run measured what its variant's name says, from what the
 * workload saw inside: a late run saw ucrtbase's malloc, free or realloc
 * change while it waited after its warm-up (so the hooks were not there
 * before, and were there before the timed phase); an at-start run, and a
 * mimalloc-linked one, left no block of its own on the UCRT heap (the warm-
 * up's included); a run of variant 5 moved no old block. These hold
 * whether or not the DLL's stats can be read.
 */
export function checkVariants(runs: RunRecord[]): void {
  for (const r of runs) {
    const res = r.result;
    if (!r.ok || !res) continue;
    const onUcrt = res.heapwalk_ok && res.live_in_ucrt_heap > 0;
    if (LATE.includes(r.variant) && !(res.hook_seen_ms >= 0)) {
      fail(
        r,
        "the workload did not see ucrtbase's malloc, free or realloc change between its warm-up and its timed phase: this run did not measure a late injection",
      );
    } else if (AT_START.includes(r.variant) && onUcrt) {
      fail(
        r,
        `${res.live_in_ucrt_heap} of ${res.live} live blocks are on the UCRT heap: heapshift was not in before the warm-up, so this run did not measure it at start`,
      );
    } else if (
      r.variant === 5 &&
      ((res.heapwalk_ok && res.lineage_in_ucrt_heap < res.lineage_live) ||
        (statOf(r.dllStats, "migrations") ?? 0) > 0)
    ) {
      fail(
        r,
        `old blocks were moved into mimalloc (${
          res.lineage_live - res.lineage_in_ucrt_heap
        } of ${res.lineage_live} realloc-touched ones off the UCRT heap, ${
          statOf(r.dllStats, "migrations") ?? "?"
        } migrations): the DLL ignored the migration-off switch, so this run measured variant 3`,
      );
    } else if (
      LINKED.includes(r.variant) &&
      (res.allocator !== "mimalloc-direct" || onUcrt)
    ) {
      fail(
        r,
        `allocator ${res.allocator}, ${res.live_in_ucrt_heap} of ${res.live} live blocks on the UCRT heap: this program is not the one linked with mimalloc`,
      );
    }
  }
}

/** Cross-run checks the workloads cannot make alone. */
function crossCheck(runs: RunRecord[], notes: string[]): void {
  checkVariants(runs);
  // Single-threaded workloads are deterministic: every variant must end
  // with the same checksum as the plain UCRT run.
  for (const w of new Set(runs.map((r) => r.workload))) {
    if (w === "mt-churn") continue;
    const ok = runs.filter((r) => r.workload === w && r.ok && r.result);
    const ref = ok.find((r) => r.variant === 1)?.result?.check ??
      ok[0]?.result?.check;
    for (const r of ok) {
      if (r.result!.check !== ref) {
        r.ok = false;
        r.error = `checksum ${
          r.result!.check
        } differs from the UCRT run's ${ref}`;
      }
    }
  }
  // Once heapshift is in, every block the timed phase allocates must come
  // from mimalloc: one found on the UCRT heap is an allocation the hooks
  // missed.
  for (const r of runs) {
    if (PLAIN.includes(r.variant) || !r.ok || !r.result) continue;
    const n = r.result.new_in_ucrt_heap ?? 0;
    if (n > 0 && r.result.heapwalk_ok) {
      r.ok = false;
      r.error =
        `${n} of ${r.result.new_live} blocks allocated after the takeover are on the UCRT heap: the hooks missed them`;
    }
  }
  const v1 = runs.filter((r) => r.variant === 1 && r.ok && r.result);
  if (v1.some((r) => r.result!.live_in_ucrt_heap !== r.result!.live)) {
    notes.push(
      "HeapWalk did not find every UCRT block in variant 1: the old-heap check is unreliable on this system",
    );
  }
  const dllRuns = runs.filter((r) => !PLAIN.includes(r.variant));
  if (dllRuns.length && !dllRuns.some((r) => r.dllStats)) {
    notes.push(
      "the DLL's stats block (Local\\heapshift-<pid>) could not be read: no migration counters, and injection latency is the inject() call's duration",
    );
  }
}

function fmtCell(r: RunRecord, metric: Metric): string {
  if (!r.ok) return `${r.variant}:FAIL`;
  const t = metric === "cpu" ? r.result!.cpu_ms : r.result!.ms;
  return `${r.variant}:${t.toFixed(0)}ms`;
}

async function writeReport(o: Options, report: BenchReport): Promise<void> {
  await Deno.mkdir(o.out, { recursive: true });
  const sep = Deno.build.os === "windows" ? "\\" : "/";
  await Deno.writeTextFile(`${o.out}${sep}bench.json`, toJson(report));
  const md = renderMarkdown(report);
  await Deno.writeTextFile(`${o.out}${sep}bench.md`, md);
  await Deno.writeTextFile(`${o.out}${sep}bench.svg`, renderSvg(report));
  console.log(md);
  log(`wrote ${o.out}${sep}bench.{json,md,svg}`);
}

/** The report as JSON: readable summaries, then one line per run. */
export function toJson(report: BenchReport): string {
  const { runs, ...rest } = report;
  const head = JSON.stringify({ ...rest, runs: [] }, null, 2);
  const lines = runs.map((r) => {
    if (!r.dllStats) return JSON.stringify(r);
    // the hooked names are the same in every run: kept once, in `hooked`
    const { hooked: _h, ...stats } = r.dllStats;
    return JSON.stringify({ ...r, dllStats: stats });
  });
  return head.replace(
    /"runs": \[\]\n\}$/,
    `"runs": [\n    ${lines.join(",\n    ")}\n  ]\n}\n`,
  );
}

/** Recomputes an earlier report's summaries (another metric, say). */
async function rerender(o: Options, file: string): Promise<number> {
  const old = JSON.parse(await Deno.readTextFile(file)) as BenchReport;
  const { workloads, variants } = old.config;
  const series = [...new Set(old.runs.map(seriesOf))];
  const cells = summarize(old.runs, series, variants, o.metric);
  await writeReport(o, {
    ...old,
    config: { ...old.config, metric: o.metric },
    cells,
    targets: checkTargets(cells, old.runs, workloads, {
      threadCounts: old.config.threadCounts,
      threads: old.config.threads,
      metric: o.metric,
    }),
  });
  return 0;
}

/**
 * What a rep runs, one list per series (a row of a table), each run of a
 * series in every variant that runs its workload: every workload at
 * o.threads, then mt-churn at the other thread counts of the scaling
 * table.
 */
function planJobs(o: Options): Job[][] {
  const jobs: Job[][] = [];
  const series = (workload: string, threads: number, scaling: boolean) => {
    const vs = o.variants.filter((v) => runsWorkload(v, workload));
    if (vs.length) {
      jobs.push(vs.map((variant) => ({ workload, threads, scaling, variant })));
    }
  };
  for (const w of o.workloads) series(w, o.threads, false);
  if (o.workloads.includes("mt-churn")) {
    for (const n of o.threadCounts) {
      if (n !== o.threads) series("mt-churn", n, true);
    }
  }
  return jobs;
}

/** Runs the bench and writes the results; returns the process exit code. */
export async function main(args: string[]): Promise<number> {
  let o: Options;
  try {
    o = parseArgs(args);
  } catch (e) {
    log(`error: ${(e as Error).message}`);
    return 2;
  }
  if (o.render) return await rerender(o, o.render);
  const notes: string[] = [];
  const started = performance.now();
  const ucrtExe = repoPath("build/bench/workload-ucrt.exe");
  if (!isFile(ucrtExe)) {
    log(`error: ${ucrtExe} is missing: run deno task bench (it builds it)`);
    return 2;
  }
  const skipped = o.variants
    .map((v) => ({ v, why: missing(o, v) }))
    .filter((x) => x.why !== null);
  o.variants = o.variants.filter((v) => !skipped.some((x) => x.v === v));
  for (const x of skipped) {
    notes.push(`variant ${x.v} skipped: ${x.why}`);
  }
  const haveDll = isFile(o.dll);
  const lateVariants = o.variants.some((v) => v === 3 || v === 5);
  if (lateVariants && o.selfLoad) {
    notes.push(
      "late variants used self-injection (the workload calls LoadLibrary on the harness's signal), not remote injection: --self-load was given",
    );
  }
  const plat = platform();
  log(
    `${plat}; workloads ${o.workloads.join(",")}; variants ${
      o.variants.join(",")
    }; up to ${o.reps} reps; budget ${o.budget} s`,
  );

  const jobs = planJobs(o);
  const runs: RunRecord[] = [];
  let reps = o.reps;
  for (let rep = 1; rep <= reps; rep++) {
    const repStart = performance.now();
    for (const series of jobs) {
      const row: RunRecord[] = [];
      // Rotate the variant order each rep so no variant always runs first.
      const order = series.map((_, i, a) => a[(i + rep - 1) % a.length]);
      for (const job of order) {
        const r = await runOne(o, job, rep);
        runs.push(r);
        row.push(r);
        if (!r.ok) {
          log(
            `  ${
              seriesOf(r)
            } variant ${job.variant} rep ${rep} FAILED: ${r.error}`,
          );
        }
      }
      row.sort((a, b) => a.variant - b.variant);
      log(
        `rep ${rep}/${reps} ${seriesOf(row[0]).padEnd(8)} ${
          row.map((r) => fmtCell(r, o.metric)).join("  ")
        }`,
      );
    }
    const elapsed = (performance.now() - started) / 1000;
    const perRep = (performance.now() - repStart) / 1000;
    const fit = rep + Math.floor((o.budget - elapsed) / perRep);
    if (fit < reps) {
      reps = Math.max(rep, fit);
      if (reps === rep && rep < o.reps) {
        notes.push(
          `stopped after ${rep} of ${o.reps} reps to stay within the ${o.budget} s budget (${
            perRep.toFixed(0)
          } s per rep here)`,
        );
      } else {
        log(
          `a rep takes ${
            perRep.toFixed(0)
          } s: ${reps} reps fit in the ${o.budget} s budget`,
        );
      }
    }
  }
  if (reps < o.reps && !notes.some((n) => n.startsWith("stopped"))) {
    notes.push(
      `${reps} of ${o.reps} reps ran, to stay within the ${o.budget} s budget`,
    );
  }

  crossCheck(runs, notes);
  const single = runs.filter((r) =>
    r.ok && r.result && r.workload !== "mt-churn" && r.result.cpu_ms > 0 &&
    r.result.ms >= 50
  );
  const cpuShare = median(single.map((r) => r.result!.cpu_ms / r.result!.ms));
  if (cpuShare !== null && cpuShare < 0.8) {
    notes.push(
      `the machine was busy: single-threaded runs got ${
        (cpuShare * 100).toFixed(0)
      }% of a CPU (CPU time / wall time, median), so wall times are noisy; rerun on a quiet machine, or compare with --metric cpu (10–16 ms granularity)`,
    );
  }
  const series = [...new Set(runs.map(seriesOf))];
  const cells = summarize(runs, series, o.variants, o.metric);
  const version = (v: VariantId) =>
    runs.find((r) => r.variant === v && r.dllStats?.mimalloc_version)
      ?.dllStats?.mimalloc_version as string | undefined ?? null;
  const report: BenchReport = {
    schema: 1,
    date: new Date().toISOString(),
    platform: plat,
    cpus: navigator.hardwareConcurrency,
    config: {
      reps,
      scale: o.scale,
      threads: o.threads,
      workloads: o.workloads,
      variants: o.variants,
      dll: haveDll ? o.dllAs ?? o.dll : null,
      injection: lateVariants ? (o.selfLoad ? "self-load" : "remote") : null,
      noMigrateSwitch: `${o.noMigrate[0]}=${o.noMigrate[1]}`,
      start: o.variants.includes(2) ? startMode(o) : null,
      metric: o.metric,
      mimalloc: {
        main: version(2) ?? version(3),
        other: version(7) ?? version(8),
      },
      msize: o.msize,
      threadCounts: o.threadCounts,
    },
    totalSeconds: (performance.now() - started) / 1000,
    cpuShare,
    hooked: (runs.find((r) => Array.isArray(r.dllStats?.hooked))?.dllStats
      ?.hooked as string[] | undefined) ?? [],
    cells,
    targets: checkTargets(cells, runs, o.workloads, {
      threadCounts: o.threadCounts,
      threads: o.threads,
      metric: o.metric,
    }),
    notes,
    runs,
  };
  await writeReport(o, report);
  const failed = runs.filter((r) => !r.ok).length;
  if (failed) log(`${failed} of ${runs.length} runs FAILED`);
  return failed ? 1 : 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
