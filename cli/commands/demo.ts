/**
 * The demo's Windows half (`cli.ts demo`, run by `deno task demo`): starts
 * the bundled sample program (demo/sample.c), lets it run on the plain
 * UCRT heap, injects heapshift while it runs, and shows its throughput and
 * the old-heap blocks draining, then a summary.
 *
 * @module
 */

import { type Command, Option } from "@commander-js/extra-typings";
import {
  countUpTo,
  currentArgs,
  example,
  parsePath,
  parsePositive,
  type SetCode,
} from "../args.ts";
import { type Arch, builtDll } from "../dll.ts";
import {
  c,
  CliError,
  count,
  printJson,
  shown,
  table,
  warn,
} from "../output.ts";
import { readLines } from "../../src/_lines.ts";
import { isWindows } from "../../ffi/mod.ts";
import { repoPath } from "../../src/_repo.ts";
import { absoluteOptionPaths, baseName } from "../../src/_paths.ts";
import { runTask } from "../run_task.ts";
import type { Stats } from "../api.ts";
import { bridgeOptions, checkSeenByEnv, onWindows } from "../windows_side.ts";
import { checkTakeover } from "../takeover.ts";
import { ignoringInterrupts } from "../interrupts.ts";
import { DEFAULT_SYMBOL, isHeapshiftDll } from "../../pe/mod.ts";
import { crashStatus } from "../../src/_exit_status.ts";

/** demo/sample.c's MAX_THREADS: it runs at most this many workers. */
const SAMPLE_MAX_THREADS = 16;

/** One `tick` line of the sample program. */
export interface Tick {
  /** Milliseconds since the sample started. */
  t: number;
  /** Operations in this interval. */
  ops: number;
  /** Operations per second in this interval. */
  rate: number;
  /** Live blocks. */
  live: number;
  /** Live blocks allocated before heapshift was loaded. */
  old: number;
  /** Whether heapshift.dll was loaded. */
  hooked: boolean;
  /** Blocks whose contents were found damaged (must stay 0). */
  corrupt: number;
}

/** Parses a sample output line (`tick k=v …`); undefined for other lines. */
export function parseTick(line: string): Tick | undefined {
  const m = /^tick\s+(.*)$/.exec(line.trim());
  if (!m) return undefined;
  const kv: Record<string, number> = {};
  for (const part of m[1].split(/\s+/)) {
    const [k, v] = part.split("=");
    if (k && v !== undefined && Number.isFinite(Number(v))) kv[k] = Number(v);
  }
  if (kv.t === undefined || kv.rate === undefined) return undefined;
  return {
    t: kv.t,
    ops: kv.ops ?? 0,
    rate: kv.rate,
    live: kv.live ?? 0,
    old: kv.old ?? 0,
    hooked: kv.hooked === 1,
    corrupt: kv.corrupt ?? 0,
  };
}

/** The median of `xs` (0 for none). */
export function median(xs: number[]): number {
  if (!xs.length) return 0;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** What the demo measured. */
export interface DemoSummary {
  pid: number;
  injected: boolean;
  /** Why the "after" half did not run, if it did not. */
  skipped?: string;
  injectMs?: number;
  before: { rate: number; old: number; ticks: number };
  after?: {
    rate: number;
    old: number;
    ticks: number;
    migrations?: number;
    migratedBytes?: number;
    oldFrees?: number;
    mimallocAllocs?: number;
  };
  speedup?: number;
  drained?: number;
  corrupt: number;
}

/**
 * Summarises ticks: the first tick of each half is left out (start-up and
 * the injection itself fall in it).
 */
export function summarise(
  pid: number,
  ticks: Tick[],
  injectedAt: number | undefined,
  stats?: Stats,
): DemoSummary {
  const beforeTicks = ticks.filter((t) =>
    injectedAt === undefined || t.t <= injectedAt
  );
  const afterTicks = injectedAt === undefined
    ? []
    : ticks.filter((t) => t.t > injectedAt);
  const steady = (ts: Tick[]) => ts.length > 2 ? ts.slice(1) : ts;
  const last = ticks.at(-1);
  const lastBefore = beforeTicks.at(-1);
  const s: DemoSummary = {
    pid,
    injected: injectedAt !== undefined,
    before: {
      rate: median(steady(beforeTicks).map((t) => t.rate)),
      old: lastBefore?.old ?? 0,
      ticks: beforeTicks.length,
    },
    corrupt: last?.corrupt ?? 0,
  };
  if (afterTicks.length) {
    s.after = {
      rate: median(steady(afterTicks).map((t) => t.rate)),
      old: afterTicks.at(-1)!.old,
      ticks: afterTicks.length,
      migrations: stats?.counters.migrations,
      migratedBytes: stats?.counters.migratedBytes,
      oldFrees: stats?.counters.freesOld,
      mimallocAllocs: stats?.counters.allocs,
    };
    if (s.before.rate > 0) s.speedup = s.after.rate / s.before.rate;
    if (s.before.old > 0) s.drained = 1 - s.after.old / s.before.old;
  }
  return s;
}

/** A bar of `width` cells where `full` ops/s fills them all. */
export function bar(value: number, full: number, width = 24): string {
  const n = full > 0
    ? Math.max(0, Math.min(width, Math.round(value / full * width)))
    : 0;
  return "█".repeat(n) + " ".repeat(width - n);
}

/** The smallest of 1, 2, 2.5, 5 × 10^k that is at least `x`. */
function roundUp(x: number): number {
  const p = 10 ** Math.floor(Math.log10(x));
  return [1, 2, 2.5, 5, 10].map((m) => m * p).find((v) => v >= x)!;
}

/**
 * The rate a full bar stands for, over a run: 4× the UCRT reference
 * (`ref`, so that it is a quarter bar), grown to a round number with
 * headroom when a `rate` would overflow it. It never shrinks, so bars
 * stay comparable until the demo says it grew.
 */
export function barScale(
  full: number,
  seen: { ref?: number; rate?: number },
): number {
  let next = Math.max(full, (seen.ref ?? 0) * 4);
  if (seen.rate !== undefined && seen.rate > next) {
    next = roundUp(seen.rate * 1.25);
  }
  return next;
}

/**
 * A share as a percentage with one decimal, rounded down: a few blocks
 * left must not read as 100.0%.
 */
function percentDown(share: number): string {
  return (Math.floor(share * 1000 + 1e-9) / 10).toFixed(1);
}

/** The summary table (text). */
export function summaryTable(s: DemoSummary): string {
  const rows: string[][] = [
    [
      "throughput (median)",
      `${count(s.before.rate)} ops/s`,
      s.after ? `${count(s.after.rate)} ops/s` : "—",
      s.speedup ? `${s.speedup.toFixed(2)}×` : "",
    ],
    [
      "old-heap blocks live",
      count(s.before.old),
      s.after ? count(s.after.old) : "—",
      s.drained !== undefined ? `${percentDown(s.drained)}% drained` : "",
    ],
  ];
  if (s.after?.migrations !== undefined) {
    rows.push(["migrations (realloc)", "", count(s.after.migrations), ""]);
  }
  if (s.after?.migratedBytes !== undefined) {
    rows.push(["bytes migrated", "", count(s.after.migratedBytes), ""]);
  }
  if (s.after?.oldFrees !== undefined) {
    rows.push(["frees of old blocks", "", count(s.after.oldFrees), ""]);
  }
  rows.push([
    "damaged blocks",
    "0",
    String(s.corrupt),
    s.corrupt ? c.red("CORRUPTION") : c.green("none"),
  ]);
  return table(
    [
      { header: "" },
      { header: "UCRT heap", align: "right" },
      { header: "heapshift", align: "right" },
      { header: "" },
    ],
    rows,
  );
}

/** The sample program each architecture's demo runs (tasks/demo.ts builds it). */
export const SAMPLE: Readonly<Record<Arch, string>> = {
  x64: "build/demo/sample.exe",
  x86: "build/demo/sample32.exe",
};

/** Options of the demo. */
export interface DemoOptions {
  /** The sample's architecture: which sample and DLL are the defaults. */
  arch?: Arch;
  sample?: string;
  dll?: string;
  before: number;
  after: number;
  threads: number;
  json?: boolean;
}

/** Runs the demo; returns the exit code. */
export async function runDemo(opts: DemoOptions): Promise<number> {
  const api = await import("../api.ts");
  const arch = opts.arch ?? "x64";
  const sample = opts.sample ?? repoPath(SAMPLE[arch]);
  try {
    Deno.statSync(sample);
  } catch {
    throw new CliError(
      opts.sample
        ? `No sample program at ${sample} (--sample): give the path of a built demo/sample.c, or leave --sample out for the one deno task demo builds`
        : `The sample program is not built (${sample}): run \`deno task demo\`, which builds it`,
    );
  }
  let dll: string | undefined = opts.dll ?? builtDll(arch);
  let skipped: string | undefined;
  try {
    Deno.statSync(dll);
  } catch {
    if (opts.dll) throw new CliError(`No DLL at ${opts.dll}`);
    skipped = `the hook DLL is not built (${dll}): run \`deno task build-dll\``;
    dll = undefined;
  }
  // Any other DLL would load and take nothing over: the demo would show
  // the UCRT heap's run as mimalloc's.
  if (dll && !isHeapshiftDll(dll)) {
    throw new CliError(
      `${dll} is not heapshift's hook DLL (it does not export ${DEFAULT_SYMBOL}): the demo shows heapshift's takeover; leave out --dll, or give heapshift.dll (x86: heapshift32.dll)`,
    );
  }
  const log = (s: string) => {
    if (!opts.json) console.log(s);
  };
  const total = opts.before + (dll ? opts.after : 0);
  const child = new Deno.Command(sample, {
    args: [
      "--threads",
      String(opts.threads),
      "--seconds",
      // Past the demo's end by more than the injection and the takeover
      // may take (20 s each), so that it never ends first on its own.
      String(Math.ceil(total) + 60),
      "--interval",
      "500",
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const it = readLines(child.stdout);
  try {
    const first = await it.next();
    const ready = first.done ? null : /^ready (\d+)/.exec(first.value);
    if (!ready) {
      throw new CliError(
        `The sample program printed ${
          JSON.stringify(first.value ?? "")
        } instead of its ready line`,
      );
    }
    const pid = child.pid;
    log(
      `${
        c.bold("heapshift demo")
      }: ${opts.threads} threads of malloc/calloc/realloc/free in ${
        c.bold(baseName(sample))
      } (pid ${pid})`,
    );
    log(c.dim(
      `  ${opts.before} s on the plain UCRT heap, then heapshift is injected while it runs${
        dll ? ` and it goes on for ${opts.after} s` : ""
      }`,
    ));
    log("");
    log(c.bold(
      `  ${"time".padStart(6)}  ${"heap".padEnd(9)} ${
        "throughput".padStart(14)
      }  ${"".padEnd(24)} ${"old-heap blocks".padStart(15)}  ${
        "migrations".padStart(10)
      }`,
    ));
    const ticks: Tick[] = [];
    let injectedAt: number | undefined;
    let injectMs: number | undefined;
    let stats: Stats | undefined;
    let full = 0;
    // The sample runs past the demo's end: its output ending first means
    // it died (a crash, perhaps heapshift's doing).
    let died = false;
    for (;;) {
      const next = await it.next();
      if (next.done) {
        died = true;
        break;
      }
      const tick = parseTick(next.value);
      if (!tick) continue;
      ticks.push(tick);
      if (injectedAt !== undefined) {
        try {
          stats = await api.stats(pid);
        } catch { /* not ready yet */ }
      }
      // Before the injection a full bar is 4× the UCRT median so far
      // (start-up tick left out); it grows when a rate would overflow it.
      const ref = injectedAt === undefined
        ? median(ticks.slice(ticks.length > 1 ? 1 : 0).map((t) => t.rate))
        : undefined;
      const grown = barScale(injectedAt === undefined ? 0 : full, {
        ref,
        rate: tick.rate,
      });
      if (injectedAt !== undefined && grown !== full) {
        log(c.dim(`  (bars rescaled: a full bar is now ${count(grown)}/s)`));
      }
      full = grown;
      const heap = injectedAt === undefined ? "UCRT" : c.green("mimalloc");
      const mig = stats ? count(stats.counters.migrations) : "";
      log(
        `  ${(tick.t / 1000).toFixed(1).padStart(5)}s  ${heap}${
          " ".repeat(9 - (injectedAt === undefined ? 4 : 8))
        } ${`${count(tick.rate)}/s`.padStart(14)}  ${
          injectedAt === undefined
            ? c.yellow(bar(tick.rate, full))
            : c.green(bar(tick.rate, full))
        } ${count(tick.old).padStart(15)}  ${mig.padStart(10)}`,
      );
      if (injectedAt === undefined && tick.t >= opts.before * 1000) {
        if (!dll) break;
        log(c.cyan(`  >>> injecting ${shown(dll)} into pid ${pid}…`));
        const t0 = performance.now();
        const mod = await api.inject(pid, dll, { timeout: 20_000 });
        // Loaded is not taken over: heapshift may refuse to patch (or be
        // disabled), and the sample then runs on the UCRT heap as before.
        const takeover = await checkTakeover(
          { pid, name: baseName(sample), dll, explicitDll: !!opts.dll },
          {
            timeoutMs: 20_000,
            stats: api.stats,
            again: "the demo has stopped the sample; run the demo again",
          },
        );
        if (takeover.warning) warn(takeover.warning);
        injectMs = performance.now() - t0;
        injectedAt = tick.t;
        // (ended meanwhile: the end of its output says how, below)
        if (takeover.state !== "ended") {
          log(c.cyan(
            `  >>> ${shown(mod.name)} loaded at 0x${mod.base.toString(16)} in ${
              injectMs.toFixed(0)
            } ms: malloc now goes to mimalloc; old blocks drain as they are freed or reallocated`,
          ));
        }
      } else if (
        injectedAt !== undefined && tick.t >= (opts.before + opts.after) * 1000
      ) {
        break;
      }
    }
    const status = died ? await child.status : undefined;
    const ending = status ? sampleEnding(status) : "";
    if (ticks.length === 0) {
      throw new CliError(
        `The sample program ended without reporting${ending && `: ${ending}`}`,
      );
    }
    const summary = summarise(pid, ticks, injectedAt, stats);
    summary.injectMs = injectMs;
    if (skipped) summary.skipped = skipped;
    if (opts.json) {
      printJson({ summary, ticks, stats });
    } else {
      console.log("");
      console.log(summaryTable(summary));
      if (skipped) {
        console.log("");
        console.log(c.yellow(`note: ${skipped}`));
      }
    }
    if (summary.corrupt > 0) {
      throw new CliError(
        `${summary.corrupt} blocks of the sample were damaged`,
      );
    }
    if (status) {
      const when = injectedAt === undefined
        ? "before heapshift was injected"
        : status.code === 0
        ? "after heapshift was injected"
        : "after heapshift was injected: heapshift must never end a program, please report this with the output above";
      throw new CliError(
        `The sample program (pid ${pid}) ${ending} after ${
          ((ticks.at(-1)?.t ?? 0) / 1000).toFixed(1)
        } s, before the demo's end, ${when}`,
      );
    }
    return 0;
  } finally {
    try {
      child.kill();
    } catch { /* already ended */ }
    await child.status;
    // Drain the rest of the output so the pipe is released.
    while (!(await it.next()).done) { /* discard */ }
  }
}

/** How the sample ended, for a message: its exit code, and any crash's name. */
function sampleEnding(status: Deno.CommandStatus): string {
  const crash = crashStatus(status.code);
  return crash
    ? `crashed (${crash})`
    : status.signal
    ? `was killed (${status.signal})`
    : `ended with exit code ${status.code}`;
}

/** Registers the `demo` command (what `deno task demo` runs). */
export function demoCommand(program: Command, setCode: SetCode): void {
  const command = program.command("demo")
    .description(
      "Inject heapshift into the bundled sample program and show the takeover (deno task demo builds everything first).",
    )
    .option(
      "--sample <exe>",
      "the sample program (default build/demo/sample.exe, x86: sample32.exe)",
      parsePath,
    )
    .option(
      "--dll <path>",
      "the hook DLL (default build/heapshift.dll, x86: heapshift32.dll)",
      parsePath,
    )
    .addOption(
      new Option(
        "--arch <arch>",
        "x64, or x86 for the 32-bit sample with heapshift32.dll",
      ).choices(["x64", "x86"] as const).default("x64" as const),
    )
    .option(
      "--before <seconds>",
      "time on the plain UCRT heap",
      parsePositive,
      4,
    )
    .option("--after <seconds>", "time after the injection", parsePositive, 6)
    .option(
      "--threads <n>",
      `worker threads of the sample (1 to ${SAMPLE_MAX_THREADS})`,
      countUpTo(SAMPLE_MAX_THREADS),
      2,
    )
    .option("--json", "machine-readable output");
  bridgeOptions(command, {
    prefixHelp:
      "on Linux: run in this Wine/Proton prefix (without it or --wine-env: in the project's Wine environment, as `deno task demo`)",
  }).addHelpText(
    "after",
    example(
      "deno task demo",
      "deno run -A cli.ts demo --before 3 --after 10",
    ),
  )
    .action(async (opts) => {
      if (
        !isWindows && opts.prefix === undefined && opts.wineEnv === undefined
      ) {
        // On Linux the demo runs in the project's Wine environment, built
        // and provisioned first: exactly `deno task demo`, which the task
        // layer runs (the CLI imports nothing of tasks/).
        for (const f of [opts.sample, opts.dll]) if (f) checkSeenByEnv(f);
        // The task runs from the checkout's root: our relative paths are
        // made absolute first.
        const args = currentArgs();
        const demoArgs = absoluteOptionPaths(
          args.slice(args.indexOf("demo") + 1),
          { names: ["--sample", "--dll"], base: Deno.cwd() },
        );
        // Ctrl+C reaches the task too, which cleans up once the demo
        // has ended: the prompt comes back after that, not before.
        return setCode(
          await ignoringInterrupts(() => runTask("demo.ts", demoArgs)),
        );
      }
      setCode(
        await onWindows(opts, () => runDemo(opts), {
          files: [opts.sample, opts.dll],
        }),
      );
    });
}
