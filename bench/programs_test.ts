import assert from "node:assert/strict";
import {
  checkOutputs,
  isCompleteProgramsRun,
  type Program,
  type ProgramRun,
  renderPrograms,
  runProgram,
} from "./programs.ts";

function run(
  variant: 1 | 2 | 3 | 4,
  rep: number,
  more: Partial<ProgramRun> = {},
): ProgramRun {
  return {
    program: "lua",
    variant,
    rep,
    ok: true,
    ms: 100 * variant + rep,
    peakWorkingSetMB: 10 + variant,
    output: "same",
    ...more,
  };
}

Deno.test("checkOutputs: a run that printed something else than the plain program fails", () => {
  const runs = [
    run(1, 1),
    run(1, 2),
    run(2, 1),
    run(3, 1, { output: "other" }),
  ];
  checkOutputs(runs);
  assert.deepEqual(runs.map((r) => r.ok), [true, true, true, false]);
  assert.match(runs[3].error!, /output differs from the plain program's/);
});

Deno.test("checkOutputs: with no good plain run there is nothing to compare with, and every run fails", () => {
  const runs = [
    run(1, 1, { ok: false, error: "exit code 3", output: "crashed" }),
    run(2, 1),
    run(3, 1, { output: "other" }),
    run(4, 1),
  ];
  checkOutputs(runs);
  assert.deepEqual(runs.map((r) => r.ok), [false, false, false, false]);
  assert.equal(runs[0].error, "exit code 3");
  for (const r of runs.slice(1)) {
    assert.match(r.error!, /no plain run to compare its output with/);
  }
});

Deno.test("renderPrograms: medians, speed against plain, peak working set, failures", () => {
  const runs = [
    run(1, 1),
    run(1, 2),
    run(3, 1, {
      migrations: 7,
      freesOld: 9,
      trimState: "walk",
      trimResetMB: 2,
    }),
    run(4, 1, { ok: false, error: "exit code 3" }),
  ];
  const md = renderPrograms(runs, ["lua"], "head");
  const row = md.split("\n").find((l) => l.startsWith("| lua |"))!;
  const cells = row.split("|").map((c) => c.trim()).slice(2, 6);
  assert.deepEqual(cells, [
    "102 ms ±1%<br>11.0 MB",
    "–",
    "301 ms ±0%, 0.34×<br>13.0 MB",
    "FAILED",
  ]);
  assert.match(
    md,
    /lua injected late \(medians\): old blocks migrated 7, old blocks freed 9/,
  );
  assert.match(md, /trimmer walk, 2\.0 MB/);
  // a cell whose median leaves a failed run out says so
  const some = renderPrograms(
    [...runs, run(2, 1), run(2, 2, { ok: false, error: "exit code 3" })],
    ["lua"],
    "head",
  );
  const row2 = some.split("\n").find((l) => l.startsWith("| lua |"))!;
  assert.equal(
    row2.split("|")[3].trim(),
    "201 ms ±0%, 0.50×<br>12.0 MB<br>1 FAILED",
  );
});

Deno.test("renderPrograms: × is the median of each rep's paired ratio, not the ratio of the medians", () => {
  // the machine's speed drifts from rep to rep; each rep's runs share it
  const plain = [100, 200, 400], start = [60, 100, 350];
  const runs = [
    ...plain.map((ms, i) => run(1, i + 1, { ms })),
    ...start.map((ms, i) => run(2, i + 1, { ms })),
  ];
  const md = renderPrograms(runs, ["lua"], "head");
  const row = md.split("\n").find((l) => l.startsWith("| lua |"))!;
  // per rep 100/60, 200/100, 400/350: median 1.67 (the medians' ratio is 2.00)
  assert.match(row.split("|")[3], /, 1\.67×/);
  assert.match(md, /median over reps of the plain run's time ÷ this run's/);
});

Deno.test("renderPrograms: the late run's peak working set against the plain program's", () => {
  const runs = [1, 2, 3].flatMap((rep) => [
    run(1, rep, { peakWorkingSetMB: 20 }),
    run(3, rep, { peakWorkingSetMB: 23 }),
  ]);
  const md = renderPrograms(runs, ["lua"], "head");
  assert.match(md, /peak working set 1\.15× the plain program's/);
});

Deno.test("isCompleteProgramsRun: 5 good runs of every variant, or the README keeps its table", () => {
  const full = [1, 2, 3, 4].flatMap((v) =>
    [1, 2, 3, 4, 5].map((rep) => run(v as 1 | 2 | 3 | 4, rep))
  );
  assert.equal(isCompleteProgramsRun(full, ["lua"]), true);
  assert.equal(isCompleteProgramsRun(full, ["lua", "sqlite"]), false);
  assert.equal(isCompleteProgramsRun(full.slice(1), ["lua"]), false);
  const failed = full.map((r, i) => i === 7 ? { ...r, ok: false } : r);
  assert.equal(isCompleteProgramsRun(failed, ["lua"]), false);
  assert.equal(isCompleteProgramsRun([], []), false);
});

Deno.test({
  name:
    "runProgram: a program that stalls after a failed step (here inject, which fails off Windows) is killed, not waited on forever",
  // a shell script stands in for the program
  ignore: Deno.build.os === "windows",
}, async () => {
  const dir = await Deno.makeTempDir();
  try {
    // prints warm, then ignores its stdin (even its end) and hangs, as a
    // program deadlocked by a bad takeover would
    const exe = `${dir}/stall.exe`;
    await Deno.writeTextFile(exe, "#!/bin/sh\necho warm\nexec sleep 600\n");
    await Deno.chmod(exe, 0o755);
    const p: Program = {
      name: "stall",
      about: "",
      exe: "stall.exe",
      args: [],
      warm: "",
      timed: "go\n",
      quit: "quit\n",
    };
    const t0 = performance.now();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const r = await Promise.race([
      runProgram(p, 3, { dir, dll: `${dir}/none.dll` }),
      new Promise<"hung">((ok) => timer = setTimeout(() => ok("hung"), 15_000)),
    ]);
    clearTimeout(timer);
    assert.notEqual(r, "hung", "runProgram still waits for the program");
    if (r === "hung") return;
    assert.equal(r.ok, false);
    assert.match(r.error!, /never printed done/);
    assert.ok(performance.now() - t0 < 15_000);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
