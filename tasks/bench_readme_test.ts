import assert from "node:assert/strict";
import { PROGRAM_VARIANTS, type ProgramRun } from "../bench/programs.ts";
import { type BenchReport, readmeMarkers, WORKLOADS } from "../bench/report.ts";
import { readmeUpdate } from "./bench_readme.ts";

const [begin, end] = readmeMarkers("results");
const [pBegin, pEnd] = readmeMarkers("programs");
const README = `# x\n\n${begin}\nold\n${end}\n\n${pBegin}\nold\n${pEnd}\n`;

/** A harness report of `workloads` × `variants` (only its config counts). */
function report(
  workloads: string[],
  variants: BenchReport["config"]["variants"],
): BenchReport {
  return {
    config: {
      scale: 1,
      metric: "wall",
      reps: 11,
      workloads,
      variants,
      threadCounts: [1, 2, 4, 8, 16, 64],
    },
  } as BenchReport;
}

/** Five good runs of each variant of `program`. */
function programRuns(program: string): ProgramRun[] {
  return PROGRAM_VARIANTS.flatMap((v) =>
    [1, 2, 3, 4, 5].map((rep) => ({ program, variant: v.id, rep, ok: true }))
  );
}

// Seen: `deno task bench --workloads percall --variants 1` said "a partial
// run: README.md keeps its results", then "README.md: results updated",
// which was the programs table.
Deno.test("readmeUpdate: a partial harness run keeps its table, a complete programs run updates its own, and each message says which table", () => {
  const u = readmeUpdate(README, {
    report: report(["percall"], [1]),
    reportMd: "# bench\n\n| workload |\n",
    programs: { runs: programRuns("lua") },
    programsMd: "# Real programs\n\n| lua |\n",
    programNames: ["lua"],
  });
  assert.equal(
    u.readme,
    `# x\n\n${begin}\nold\n${end}\n\n${pBegin}\n\n| lua |\n\n${pEnd}\n`,
  );
  assert.deepEqual(u.kept, [
    "a partial harness run: README.md keeps its workload results (Latest results)",
  ]);
  assert.equal(
    u.updated,
    "README.md: the real programs' table (Real programs) updated from bench/results/programs.md",
  );
});

Deno.test("readmeUpdate: both runs complete update both tables, named; neither keeps both, named", () => {
  const complete = readmeUpdate(README, {
    report: report(WORKLOADS.map((w) => w.name), [1, 2, 3, 4, 5, 6, 7, 8, 9]),
    reportMd: "# bench\n\n| workload |\n",
    programs: { runs: programRuns("lua") },
    programsMd: "# Real programs\n\n| lua |\n",
    programNames: ["lua"],
  });
  assert.deepEqual(complete.kept, []);
  assert.equal(
    complete.updated,
    "README.md: the workload results (Latest results) and the real programs' table (Real programs) updated from bench/results/",
  );
  const none = readmeUpdate(README, {
    report: null,
    reportMd: null,
    programs: { runs: [] },
    programsMd: "# Real programs\n",
    programNames: ["lua"],
  });
  assert.equal(none.readme, README);
  assert.deepEqual(none.kept, [
    "a partial harness run: README.md keeps its workload results (Latest results)",
    "a partial programs run: README.md keeps its real programs' table (Real programs)",
  ]);
  assert.equal(none.updated, null);
  // a complete report without its markdown: kept, saying what is missing
  const noMd = readmeUpdate(README, {
    report: report(WORKLOADS.map((w) => w.name), [1, 2, 3, 4, 5, 6, 7, 8, 9]),
    reportMd: null,
    programs: null,
    programsMd: null,
    programNames: ["lua"],
  });
  assert.equal(noMd.readme, README);
  assert.equal(
    noMd.kept[0],
    "README.md keeps its workload results (Latest results): bench/results/bench.md is missing",
  );
});
