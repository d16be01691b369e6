/**
 * `heapshift stats <pid>`: the hook DLL's counters, once or live.
 *
 * @module
 */

import type { Command } from "@commander-js/extra-typings";
import { InvalidArgumentError } from "@commander-js/extra-typings";
import { forward, parsePid, PREFIX_HELP, WINE_ENV_HELP } from "./common.ts";
import { c, count, printJson, toJson, useColour } from "./output.ts";
import type { Stats } from "./api.ts";

/** A flat list of the numeric counters of a stats object, in order. */
export function numericFields(s: Stats, prefix = ""): [string, number][] {
  const out: [string, number][] = [];
  for (const [k, v] of Object.entries(s)) {
    if (typeof v === "number") out.push([prefix + k, v]);
    else if (typeof v === "bigint") out.push([prefix + k, Number(v)]);
    else if (
      v && typeof v === "object" && !Array.isArray(v) && !(v instanceof Date)
    ) {
      out.push(...numericFields(v as Stats, `${prefix}${k}.`));
    }
  }
  return out;
}

/** Other (text, list, date) fields of a stats object. */
export function otherFields(s: Stats): [string, string][] {
  const out: [string, string][] = [];
  for (const [k, v] of Object.entries(s)) {
    if (typeof v === "string") out.push([k, v]);
    else if (v instanceof Date) out.push([k, v.toISOString()]);
    else if (Array.isArray(v)) {
      out.push([
        k,
        v.length > 8
          ? `${v.slice(0, 8).join(" ")} … (${v.length})`
          : v.join(" "),
      ]);
    }
  }
  return out;
}

function label(key: string): string {
  return key.replace(/([a-z])([A-Z])/g, "$1 $2").toLowerCase();
}

/** Renders a stats snapshot (with per-second rates when `prev` is given). */
export function renderStats(
  pid: number,
  s: Stats,
  prev?: { stats: Stats; at: number },
  at = performance.now(),
): string {
  const lines = [c.bold(`heapshift in pid ${pid}`)];
  for (const [k, v] of otherFields(s)) {
    lines.push(`  ${label(k).padEnd(22)} ${v}`);
  }
  const before = prev ? new Map(numericFields(prev.stats)) : undefined;
  const secs = prev ? (at - prev.at) / 1000 : 0;
  for (const [k, v] of numericFields(s)) {
    let rate = "";
    if (before && secs > 0) {
      const d = v - (before.get(k) ?? v);
      if (d !== 0) rate = c.dim(`  ${d > 0 ? "+" : ""}${count(d / secs)}/s`);
    }
    lines.push(`  ${label(k).padEnd(22)} ${count(v).padStart(15)}${rate}`);
  }
  return lines.join("\n");
}

function parseInterval(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0.05) {
    throw new InvalidArgumentError("expected seconds (at least 0.05)");
  }
  return n;
}

function parseCount(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1) {
    throw new InvalidArgumentError("expected a positive integer");
  }
  return Number(value);
}

/** Registers `stats`. */
export function statsCommand(
  program: Command,
  setCode: (code: number) => void,
): void {
  program.command("stats")
    .description(
      "Show the hook DLL's counters in a process: allocations served by mimalloc, frees of old blocks, migrations.",
    )
    .argument("<pid>", "process id", parsePid)
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
    .option("-n, --count <n>", "with --watch: stop after N samples", parseCount)
    .option(
      "--json",
      "machine-readable output (one JSON object per sample with --watch)",
    )
    .option("--prefix <dir>", PREFIX_HELP)
    .option("--wine-env <name>", WINE_ENV_HELP).addHelpText(
      "after",
      "\nExamples:\n  $ deno run -A cli.ts stats 1234\n  $ deno run -A cli.ts stats 1234 --watch\n  $ deno run -A cli.ts stats 1234 --json\n",
    ).action(async (pid, opts) => {
      const fwd = await forward(opts);
      if (fwd !== undefined) return setCode(fwd);
      const api = await import("./api.ts");
      if (!opts.watch) {
        const s = await api.stats(pid);
        if (opts.json) printJson(s);
        else console.log(renderStats(pid, s));
        return setCode(0);
      }
      let prev: { stats: Stats; at: number } | undefined;
      let drawn = 0;
      const enc = new TextEncoder();
      for (let i = 0; opts.count === undefined || i < opts.count; i++) {
        if (i > 0) {
          await new Promise((r) => setTimeout(r, opts.interval * 1000));
        }
        let s: Stats;
        try {
          s = await api.stats(pid);
        } catch (e) {
          if (i > 0 && !api.processes().some((p) => p.pid === pid)) {
            if (!opts.json) console.error(c.dim(`process ${pid} has ended`));
            return setCode(0);
          }
          throw e;
        }
        const at = performance.now();
        if (opts.json) {
          console.log(toJson(s).replace(/\n\s*/g, " "));
        } else {
          const text = renderStats(pid, s, prev, at);
          if (useColour() && drawn > 0) {
            Deno.stdout.writeSync(enc.encode(`\x1b[${drawn}F\x1b[J`));
          } else if (drawn > 0) console.log("");
          console.log(text);
          drawn = text.split("\n").length;
        }
        prev = { stats: s, at };
      }
      setCode(0);
    });
}
