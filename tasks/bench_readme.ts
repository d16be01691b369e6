/**
 * What `deno task bench` writes into README.md from bench/results/: the
 * harness's workload results ("Latest results") and the real programs'
 * table ("Real programs"), each only from a complete run of its own, so a
 * run may update one and keep the other.
 *
 * @module
 */

import { isCompleteProgramsRun, type ProgramRun } from "../bench/programs.ts";
import {
  type BenchReport,
  isCompleteRun,
  spliceReadme,
} from "../bench/report.ts";

/** bench/results/'s files the README quotes (null: not there). */
export interface BenchResults {
  /** The harness's report, bench.json. */
  report: BenchReport | null;
  /** Its markdown, bench.md. */
  reportMd: string | null;
  /** The real programs' runs, programs.json. */
  programs: { runs: ProgramRun[] } | null;
  /** Their markdown, programs.md. */
  programsMd: string | null;
  /** The programs a complete programs run covers. */
  programNames: string[];
}

/** README.md's next text, and what to say of each of its tables. */
export interface ReadmeUpdate {
  /** The README with the complete runs' tables spliced in. */
  readme: string;
  /** For each table a partial run leaves as it was: which, and why. */
  kept: string[];
  /** What to say once the README is written, if it changed. */
  updated: string | null;
}

/** `readme` with the tables of `results`' complete runs in it. */
export function readmeUpdate(
  readme: string,
  results: BenchResults,
): ReadmeUpdate {
  const { report, programs } = results;
  const parts = [{
    part: "results",
    table: "workload results (Latest results)",
    run: "harness",
    file: "bench.md",
    md: results.reportMd,
    complete: report !== null && isCompleteRun(report),
  }, {
    part: "programs",
    table: "real programs' table (Real programs)",
    run: "programs",
    file: "programs.md",
    md: results.programsMd,
    complete: programs !== null &&
      isCompleteProgramsRun(programs.runs, results.programNames),
  }] as const;
  let next = readme;
  const kept: string[] = [];
  const done: (typeof parts)[number][] = [];
  for (const p of parts) {
    if (!p.complete) {
      kept.push(`a partial ${p.run} run: README.md keeps its ${p.table}`);
    } else if (p.md === null) {
      kept.push(
        `README.md keeps its ${p.table}: bench/results/${p.file} is missing`,
      );
    } else {
      const spliced = spliceReadme(next, p.md, { part: p.part });
      if (spliced !== next) done.push(p);
      next = spliced;
    }
  }
  // Each table by name: a partial harness run may still update the
  // programs table, which was said as "results updated".
  const from = done.length === 1 ? done[0].file : "";
  return {
    readme: next,
    kept,
    updated: done.length === 0
      ? null
      : `README.md: ${
        done.map((p) => `the ${p.table}`).join(" and ")
      } updated from bench/results/${from}`,
  };
}
