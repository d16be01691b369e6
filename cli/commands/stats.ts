/**
 * `heapshift stats <pid>`: the hook DLL's counters, once or live.
 *
 * @module
 */

import { explainReason } from "../takeover.ts";
import type { Command } from "@commander-js/extra-typings";
import { InvalidArgumentError } from "@commander-js/extra-typings";
import { countUpTo, example, parsePid, type SetCode } from "../args.ts";
import {
  parseProcessArg,
  PID_HELP,
  PROCESS_HELP,
  targetPid,
} from "../process_arg.ts";
import {
  c,
  cErr,
  count,
  printJson,
  shown,
  stripAnsi,
  toJson,
  UsageError,
  useColour,
} from "../output.ts";
import type { Stats } from "../api.ts";
import { bridgeOptions, onWindows } from "../windows_side.ts";
import { wrappedRows } from "../text_width.ts";

const COUNTERS: [keyof Stats["counters"], string][] = [
  ["allocs", "allocations"],
  ["frees", "frees"],
  ["freesOld", "frees of old blocks"],
  ["migrations", "migrations"],
  ["migratedBytes", "bytes migrated"],
  ["expandRejects", "_expand rejections"],
];

/** The old heap's trimmer: what it does, and what it gave back. */
function trimLine(t: Stats["trim"]): string {
  const done = t.state === "walk"
    ? `: ${(t.resetBytes / 2 ** 20).toFixed(1)} MiB of free pages reset, ${
      count(t.passes)
    } passes`
    : t.state === "free-reset"
    ? `: ${(t.resetBytes / 2 ** 20).toFixed(1)} MiB of old blocks' pages reset`
    : t.state === "optimize"
    ? `: ${count(t.passes)} passes`
    : "";
  return `  ${"old heap trimmer".padEnd(20)} ${t.state}${done}`;
}

/** Renders a stats snapshot (with per-second rates when `prev` is given). */
export function renderStats(
  s: Stats,
  prev?: { stats: Stats; at: number },
  at: number = performance.now(),
): string {
  // (explainReason names the error itself where it tells the reason's
  // cause: protect's)
  const reason = s.reason ? explainReason(s.reason, s.error) : "";
  const why = [
    reason,
    s.error && !reason.includes(`error ${s.error})`)
      ? `Win32 error ${s.error}`
      : "",
  ]
    .filter(Boolean).join(", ");
  const state = s.state === "live"
    ? c.green("live") + (why ? c.yellow(` (but: ${why})`) : "")
    : s.state === "failed"
    ? c.red(`failed (${why || "no reason given"})`)
    : c.yellow(s.state);
  const since = s.liveSince
    ? ` since ${s.liveSince.toISOString().replace("T", " ").slice(0, 19)} UTC`
    : "";
  // read from the program's memory: escaped
  const hooked = s.hooked.map(shown);
  const names = hooked.length > 6
    ? `${hooked.slice(0, 6).join(" ")} …`
    : hooked.join(" ");
  const lines = [
    `${c.bold(`heapshift ${s.dllVersion}`)} in pid ${s.pid}: ${state}${since}`,
    `  ${"mimalloc".padEnd(20)} ${s.mimallocVersion}`,
    `  ${"hooked".padEnd(20)} ${
      s.hooked.length === 0
        ? "nothing"
        : `${s.hooked.length} functions at ${s.patchSites} sites (${names})`
    }`,
  ];
  const secs = prev ? (at - prev.at) / 1000 : 0;
  for (const [key, label] of COUNTERS) {
    const v = s.counters[key];
    let rate = "";
    if (prev && secs > 0) {
      const d = v - prev.stats.counters[key];
      if (d !== 0) rate = c.dim(`  ${d > 0 ? "+" : ""}${count(d / secs)}/s`);
    }
    lines.push(`  ${label.padEnd(20)} ${count(v).padStart(15)}${rate}`);
  }
  lines.push(trimLine(s.trim));
  return lines.join("\n");
}

/**
 * What moves the cursor back to the first row of `text` as drawn on a
 * terminal `columns` wide, and clears from there: a line wider than the
 * terminal wraps onto more rows (the hooked names do at 80 columns), and
 * going back over too few would leave a stale line at each redraw.
 */
export function redrawFrom(text: string, columns: number | undefined): string {
  let rows = 0;
  for (const line of text.split("\n")) {
    rows += columns ? wrappedRows(stripAnsi(line), columns) : 1;
  }
  return `\x1b[${rows}F\x1b[J`;
}

/** The terminal's width, if stdout is one that says. */
function terminalColumns(): number | undefined {
  try {
    return Deno.consoleSize().columns || undefined;
  } catch {
    return undefined;
  }
}

/** The longest interval a timer takes (2^31 - 1 ms), in seconds. */
const MAX_INTERVAL = Math.floor((2 ** 31 - 1) / 1000);

export function parseInterval(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0.05 || n > MAX_INTERVAL) {
    throw new InvalidArgumentError(
      `expected seconds (at least 0.05, at most ${MAX_INTERVAL})`,
    );
  }
  return n;
}

/** Registers `stats`. */
export function statsCommand(program: Command, setCode: SetCode): void {
  const command = program.command("stats")
    .description(
      "Show the hook DLL's counters in a process: allocations served by mimalloc, frees of old blocks, migrations.",
    )
    .argument("<process>", PROCESS_HELP, parseProcessArg)
    .option("--pid <pid>", PID_HELP, parsePid)
    .option(
      "-w, --watch",
      "redraw every interval until the process ends or Ctrl+C",
    )
    .option(
      "--interval <seconds>",
      "refresh interval with --watch",
      parseInterval,
      1,
    )
    .option(
      "-n, --count <n>",
      "with --watch: stop after N samples",
      countUpTo(Number.MAX_SAFE_INTEGER),
    )
    .option(
      "--json",
      "machine-readable output (one JSON object per sample with --watch)",
    );
  bridgeOptions(command).addHelpText(
    "after",
    example(
      "deno run -A cli.ts stats 1234",
      "deno run -A cli.ts stats game.exe --watch",
      "deno run -A cli.ts stats 1234 --json",
    ),
  ).action(async (target, opts) => {
    const given = (o: string) => command.getOptionValueSource(o) === "cli";
    if (!opts.watch && (given("count") || given("interval"))) {
      throw new UsageError(
        `${
          given("count") ? "--count" : "--interval"
        } applies with --watch: add --watch, or leave it out for one sample`,
      );
    }
    setCode(await onWindows(opts, () => showStats(target, opts)));
  });
}

/** Options of `stats`. */
interface StatsOptions {
  pid?: number;
  watch?: boolean;
  interval: number;
  count?: number;
  json?: boolean;
}

/**
 * Whether `next` is still the process `first` came from: the same pid may
 * name a new process once the watched one has ended. A block that records
 * no start (an older heapshift's) cannot tell, and counts as the same.
 */
export function sameProcess(first: Stats, next: Stats): boolean {
  if (first.pid !== next.pid) return false;
  const [a, b] = [first.processStarted, next.processStarted];
  return a === null || b === null || a.getTime() === b.getTime();
}

async function showStats(target: string, opts: StatsOptions): Promise<number> {
  const api = await import("../api.ts");
  const pid = await targetPid(target, opts.pid);
  if (!opts.watch) {
    const s = await api.stats(pid);
    if (opts.json) printJson(s);
    else console.log(renderStats(s));
    return 0;
  }
  const ended = () => {
    if (!opts.json) console.error(cErr.dim(`process ${pid} has ended`));
    return 0;
  };
  let prev: { stats: Stats; at: number } | undefined;
  let drawn = "";
  const enc = new TextEncoder();
  for (let i = 0; opts.count === undefined || i < opts.count; i++) {
    if (i > 0) {
      await new Promise((r) => setTimeout(r, opts.interval * 1000));
    }
    let s: Stats;
    try {
      s = await api.stats(pid);
    } catch (e) {
      // heapshift, once in, stays: a pid without it now is another process
      if (
        i > 0 && (!api.processes().some((p) => p.pid === pid) ||
          (e instanceof api.HeapshiftError &&
            (e.kind === "no-heapshift" || e.kind === "not-found")))
      ) {
        return ended();
      }
      throw e;
    }
    if (prev && !sameProcess(prev.stats, s)) return ended();
    const at = performance.now();
    if (opts.json) {
      console.log(toJson(s).replace(/\n\s*/g, " "));
    } else {
      const text = renderStats(s, prev, at);
      if (useColour() && drawn) {
        Deno.stdout.writeSync(
          enc.encode(redrawFrom(drawn, terminalColumns())),
        );
      } else if (drawn) console.log("");
      console.log(text);
      drawn = text;
    }
    prev = { stats: s, at };
  }
  return 0;
}
