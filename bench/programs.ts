/**
 * The real programs of `deno task bench` (the Windows half): the Lua 5.4
 * interpreter and SQLite's shell, built from their own sources by
 * tasks/bench_programs.ts, each with a workload of its own
 * (bench/programs/), run four ways:
 *
 *   plain              the program as built
 *   heapshift at start a copy with heapshift.dll first in its import table
 *   injected late      the program warms up (its warm-up blocks stay live on
 *                      the UCRT heap), heapshift is injected (mod.ts
 *                      `inject`), then the timed phase runs
 *   mimalloc linked    the program compiled against mimalloc itself
 *
 * Every run's output must be the plain run's, byte for byte; a run with
 * heapshift must find its hooks live. Writes `programs.{json,md}` to the
 * results directory and prints the table.
 *
 *   deno run -A bench/programs.ts [--reps N] [--quick] [--out DIR]
 *     [--programs lua,sqlite]
 *
 * @module
 */

import { checkOutputPath } from "../cli/output_path.ts";
import { inject, stats } from "../mod.ts";
import { openProcess, PROCESS, processMemory, wineInfo } from "../ffi/mod.ts";
import type { Arch } from "../src/arch.ts";
import { readLines } from "../src/_lines.ts";
import { isFile } from "../src/_paths.ts";
import { repoPath } from "../src/_repo.ts";
import { pairedRatio } from "./paired.ts";
import { median, spreadPct } from "./report.ts";

/** Where tasks/bench_programs.ts puts the builds. */
export const PROGRAMS_DIR = "build/programs";

/** The builds' directory of `arch` in the checkout: the x86 ones (built for
 * the tests only) in its `x86/`. */
export function programsOut(arch: Arch): string {
  return arch === "x86" ? `${PROGRAMS_DIR}/x86` : PROGRAMS_DIR;
}

/** A program and its workload. */
export interface Program {
  name: string;
  /** What it is, and why it is here (the README's table). */
  about: string;
  /** Its executable's file name in {@linkcode PROGRAMS_DIR}. */
  exe: string;
  args: string[];
  /** Written to stdin first; the program prints `warm` when it is done. */
  warm: string;
  /** Written after the takeover: the timed phase, which ends with `done`. */
  timed: string;
  /** Written once the peak working set was read: the program ends. */
  quit: string;
}

const LUA_SCRIPT = "bench/programs/workload.lua";

/** The programs, by name. */
export function programs(): Program[] {
  const sql = (f: string) =>
    Deno.readTextFileSync(repoPath(`bench/programs/${f}`));
  return [
    {
      name: "lua",
      about:
        "Lua 5.4.7 (Debian's source), binary trees, string building, gsub, tables: GC-heavy",
      exe: "lua.exe",
      args: [repoPath(LUA_SCRIPT), "1"],
      warm: "",
      timed: "go\n",
      quit: "quit\n",
    },
    {
      name: "sqlite",
      about:
        "SQLite 3.44.2's shell (the amalgamation from npm's sqlite3 5.1.7), an in-memory database: inserts, indexes, joins, window functions, VACUUM",
      exe: "sqlite3.exe",
      args: [],
      warm: sql("warm.sql"),
      timed: sql("timed.sql"),
      quit: ".quit\n",
    },
  ];
}

/**
 * The name of tests/win/programs_test.ts's test of `program` on `arch`
 * (tasks/test.ts reads a `--filter` against it).
 */
export function programTestName(program: string, arch: Arch): string {
  return `${program} [${arch}]: plain, at start and injected late print the same, and late moved old blocks`;
}

/** The four ways a program runs. */
export const PROGRAM_VARIANTS = [
  { id: 1, label: "plain" },
  { id: 2, label: "heapshift at start" },
  { id: 3, label: "heapshift injected late" },
  { id: 4, label: "mimalloc linked" },
] as const;

/** A variant's id. */
export type ProgramVariant = (typeof PROGRAM_VARIANTS)[number]["id"];

/** One run. */
export interface ProgramRun {
  program: string;
  variant: ProgramVariant;
  rep: number;
  ok: boolean;
  error?: string;
  /** Wall time of the timed phase (input written → `done` read), ms. */
  ms?: number;
  peakWorkingSetMB?: number;
  /** SHA-256 of everything it printed but `warm` and `done`. */
  output?: string;
  /** heapshift's counters, when it ran. */
  migrations?: number;
  freesOld?: number;
  trimState?: string;
  trimResetMB?: number;
}

/** Where {@linkcode programExe} and {@linkcode runProgram} look. */
export interface ProgramPlace {
  /** The builds' directory (default: {@linkcode PROGRAMS_DIR} in the
   * checkout); "heapshift at start" is its `start/`. */
  dir?: string;
}

/** The executable of a program in a variant, or null if it was not built. */
export function programExe(
  p: Program,
  v: ProgramVariant,
  options: ProgramPlace = {},
): string | null {
  const dir = options.dir ?? repoPath(PROGRAMS_DIR);
  const exe = v === 2
    ? `${dir}/start/${p.exe}`
    : v === 4
    ? `${dir}/${p.exe.replace(/\.exe$/, "-mimalloc.exe")}`
    : `${dir}/${p.exe}`;
  return isFile(exe) ? exe : null;
}

async function sha256(text: string): Promise<string> {
  const d = await crypto.subtle.digest(
    "SHA-256",
    new TextEncoder().encode(text),
  );
  return [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, "0"))
    .join("");
}

function peakWorkingSetMB(pid: number): number | undefined {
  try {
    using h = openProcess(
      pid,
      PROCESS.QUERY_LIMITED_INFORMATION | PROCESS.VM_READ,
    );
    return processMemory(h).peakWorkingSet / 2 ** 20;
  } catch {
    return undefined;
  }
}

/** Runs a program once in a variant: rep `rep` (default 1), injected late
 * with `dll` (default build/heapshift.dll). */
export async function runProgram(
  p: Program,
  v: ProgramVariant,
  options: ProgramPlace & { rep?: number; dll?: string } = {},
): Promise<ProgramRun> {
  const rep = options.rep ?? 1;
  const rec: ProgramRun = { program: p.name, variant: v, rep, ok: false };
  const exe = programExe(p, v, options);
  if (!exe) return { ...rec, error: "not built" };
  const dll = options.dll ?? repoPath("build/heapshift.dll");
  const child = new Deno.Command(exe, {
    args: p.args,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const input = child.stdin.getWriter();
  const write = (s: string) => input.write(new TextEncoder().encode(s));
  const timer = setTimeout(() => {
    try {
      child.kill();
    } catch { /* gone */ }
  }, 120_000);
  const printed: string[] = [];
  const errors: string[] = [];
  let t0 = 0;
  try {
    if (p.warm) await write(p.warm);
    for await (const line of readLines(child.stdout)) {
      if (line === "warm") {
        if (v === 3) await inject(child.pid, dll, { timeout: 20_000 });
        t0 = performance.now();
        await write(p.timed);
      } else if (line === "done") {
        rec.ms = Math.round((performance.now() - t0) * 10) / 10;
        rec.peakWorkingSetMB = peakWorkingSetMB(child.pid);
        if (v === 2 || v === 3) {
          const s = stats(child.pid);
          if (s.state !== "live") errors.push(`heapshift is ${s.state}`);
          rec.migrations = s.counters.migrations;
          rec.freesOld = s.counters.freesOld;
          rec.trimState = s.trim.state;
          rec.trimResetMB = s.trim.resetBytes / 2 ** 20;
        }
        await write(p.quit);
      } else {
        printed.push(line);
      }
    }
  } catch (e) {
    errors.push((e as Error).message);
    // The run failed: a program stalled by it (an inject that timed out
    // into a deadlocked one) would never exit on its own.
    try {
      child.kill();
    } catch { /* gone */ }
  }
  await input.close().catch(() => {});
  // the limit holds until it has exited
  const status = await child.status;
  clearTimeout(timer);
  const err = (await stderr).trim();
  if (status.code !== 0) errors.push(`exit code ${status.code}`);
  if (err) errors.push(err.split("\n").slice(-3).join(" / "));
  if (rec.ms === undefined) errors.push("it never printed done");
  rec.output = await sha256(printed.join("\n"));
  rec.ok = errors.length === 0;
  if (!rec.ok) rec.error = errors.join("; ");
  return rec;
}

/** Every run's output must be the plain runs' (all of them alike); with no
 * good plain run, no run's output is known to be right, and each fails. */
export function checkOutputs(runs: ProgramRun[]): void {
  for (const name of new Set(runs.map((r) => r.program))) {
    const mine = runs.filter((r) => r.program === name);
    const ref = mine.find((r) => r.variant === 1 && r.ok && r.output)?.output;
    for (const r of mine) {
      if (!r.ok) continue;
      if (ref === undefined) {
        r.ok = false;
        r.error = "no plain run to compare its output with (none passed)";
      } else if (r.output !== ref) {
        r.ok = false;
        r.error = `its output differs from the plain program's`;
      }
    }
  }
}

/**
 * Whether `runs` are what the README quotes: every program in every
 * variant it can run, 5 or more good runs each (the default, not --quick).
 */
export function isCompleteProgramsRun(
  runs: ProgramRun[],
  names: string[],
): boolean {
  return names.length > 0 &&
    names.every((name) =>
      PROGRAM_VARIANTS.every((v) =>
        runs.filter((r) => r.program === name && r.variant === v.id && r.ok)
          .length >= 5
      )
    );
}

/** The ok runs of `name` in variant `v`. */
function okRuns(runs: ProgramRun[], name: string, v: ProgramVariant) {
  return runs.filter((r) => r.program === name && r.variant === v && r.ok);
}

/** Variant `v`'s speed against the plain program: paired by rep
 * (bench/paired.ts), else the ratio of the medians; null without both. */
function speedOf(
  runs: ProgramRun[],
  name: string,
  v: ProgramVariant,
): number | null {
  const pairable = (rs: ProgramRun[]) =>
    rs.map((r) => ({ rep: r.rep, ms: r.ms ?? null }));
  const mine = okRuns(runs, name, v), plain = okRuns(runs, name, 1);
  const paired = pairedRatio(pairable(plain), pairable(mine));
  if (paired) return paired.median;
  const a = median(plain.map((r) => r.ms!)), b = median(mine.map((r) => r.ms!));
  return a && b ? a / b : null;
}

/** "; peak working set N× the plain program's" for the late runs (the
 * target: at most 1.15×), or "" without both. */
function workingSetVsPlain(runs: ProgramRun[], name: string): string {
  const ws = (v: ProgramVariant) =>
    median(
      okRuns(runs, name, v).map((r) => r.peakWorkingSetMB ?? NaN)
        .filter(Number.isFinite),
    );
  const late = ws(3), plain = ws(1);
  return late && plain
    ? `; peak working set ${(late / plain).toFixed(2)}× the plain program's`
    : "";
}

/** The results as a markdown table: time, speed, peak working set. */
export function renderPrograms(
  runs: ProgramRun[],
  names: string[],
  head: string,
): string {
  const cell = (name: string, v: ProgramVariant) => {
    const ok = okRuns(runs, name, v);
    if (!ok.length) {
      const any = runs.some((r) => r.program === name && r.variant === v);
      return any ? "FAILED" : "–";
    }
    const ms = median(ok.map((r) => r.ms!))!;
    const ws = median(ok.map((r) => r.peakWorkingSetMB ?? NaN));
    const s = v === 1 ? null : speedOf(runs, name, v);
    const speed = s ? `, ${s.toFixed(2)}×` : "";
    // the median leaves failed runs out: the cell says so
    const failed =
      runs.filter((r) => r.program === name && r.variant === v && !r.ok).length;
    return `${ms.toFixed(0)} ms ±${
      spreadPct(ok.map((r) => r.ms!))
        ?.toFixed(0)
    }%${speed}<br>${ws?.toFixed(1) ?? "?"} MB${
      failed ? `<br>${failed} FAILED` : ""
    }`;
  };
  const L = [head, ""];
  L.push(
    `| program | ${
      PROGRAM_VARIANTS.map((v) => `${v.id} ${v.label}`).join(" | ")
    } |`,
  );
  L.push(`| --- |${PROGRAM_VARIANTS.map(() => " ---: |").join("")}`);
  for (const name of names) {
    L.push(
      `| ${name} | ${
        PROGRAM_VARIANTS.map((v) => cell(name, v.id)).join(" | ")
      } |`,
    );
  }
  L.push("");
  L.push(
    "Median wall time of the timed phase ± spread (interquartile range, or max − min under 4 runs, over the median), × = speed relative to the plain program: the median over reps of the plain run's time ÷ this run's in the same rep (the variants of a rep run back to back, so the machine's drift between reps cancels), or the ratio of the medians where fewer than 3 reps have both; below it the median peak working set. Each run's output is compared with the plain program's: a difference fails the run (FAILED).",
  );
  const late = runs.filter((r) => r.variant === 3 && r.ok);
  if (late.length) L.push("");
  for (const name of names) {
    const mine = late.filter((r) => r.program === name);
    if (!mine.length) continue;
    L.push(
      `- ${name} injected late (medians): old blocks migrated ${
        median(mine.map((r) => r.migrations ?? 0))
      }, old blocks freed ${
        median(mine.map((r) => r.freesOld ?? 0))
      }; trimmer ${mine[0].trimState}, ${
        median(mine.map((r) => r.trimResetMB ?? 0))?.toFixed(1)
      } MB of the old heap's pages reset${workingSetVsPlain(runs, name)}.`,
    );
  }
  return L.join("\n") + "\n";
}

interface Options {
  reps: number;
  out: string;
  names: string[];
}

function parseArgs(args: string[]): Options {
  const o: Options = {
    reps: 5,
    out: repoPath("bench/results"),
    names: programs().map((p) => p.name),
  };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "--reps") o.reps = Math.max(1, Number(args[++i]));
    else if (a === "--quick") o.reps = 2;
    else if (a === "--out") {
      o.out = args[++i];
      checkOutputPath(o.out, "--out");
    } else if (a === "--programs") o.names = args[++i].split(",");
    else throw new Error(`unknown argument ${a}`);
  }
  return o;
}

function platform(): string {
  const wine = wineInfo();
  return wine
    ? `Wine ${wine.version} on ${wine.host ?? "?"} (not native Windows)`
    : `Windows ${Deno.osRelease()} (native)`;
}

/** Runs every program in every variant; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  let o: Options;
  try {
    o = parseArgs(args);
  } catch (e) {
    console.error(`error: ${(e as Error).message}`);
    return 2;
  }
  const chosen = programs().filter((p) => o.names.includes(p.name));
  const runs: ProgramRun[] = [];
  const started = performance.now();
  for (let rep = 1; rep <= o.reps; rep++) {
    for (const p of chosen) {
      // Rotate the variants each rep so none always runs first.
      const order = PROGRAM_VARIANTS.map((_, i, a) =>
        a[(i + rep - 1) % a.length].id
      );
      for (const v of order) {
        if (!programExe(p, v)) continue;
        const r = await runProgram(p, v, { rep });
        runs.push(r);
        console.error(
          `[programs] rep ${rep}/${o.reps} ${p.name} variant ${v}: ${
            r.ok
              ? `${r.ms} ms, ${r.peakWorkingSetMB?.toFixed(1)} MB`
              : `FAILED: ${r.error}`
          }`,
        );
      }
    }
  }
  checkOutputs(runs);
  const head = `Measured ${
    new Date().toISOString().slice(0, 16).replace("T", " ")
  } UTC on ${platform()}, ${navigator.hardwareConcurrency} CPUs; ${o.reps} runs per cell; took ${
    ((performance.now() - started) / 1000).toFixed(0)
  } s.`;
  const md = renderPrograms(runs, chosen.map((p) => p.name), head);
  await Deno.mkdir(o.out, { recursive: true });
  await Deno.writeTextFile(`${o.out}/programs.md`, `# Real programs\n\n${md}`);
  await Deno.writeTextFile(
    `${o.out}/programs.json`,
    JSON.stringify(
      { date: new Date().toISOString(), platform: platform(), runs },
      null,
      1,
    ) + "\n",
  );
  console.log(`## Real programs\n\n${md}`);
  const failed = runs.filter((r) => !r.ok);
  for (const r of failed) {
    console.error(
      `[programs] ${r.program} variant ${r.variant} rep ${r.rep} FAILED: ${r.error}`,
    );
  }
  return failed.length ? 1 : 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
