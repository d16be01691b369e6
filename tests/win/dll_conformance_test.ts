// The hook DLL's conformance: tests/fixtures/dll_conformance.c run without
// the DLL (plain UCRT), with it loaded first, loaded mid-run from a second
// thread, and injected by a remote thread while thousands of old blocks are
// live. Results must agree; see the fixture's header for the line classes.
import { assert, assertEquals } from "./assert.ts";
import { fixture, hookDll, runFixture, test } from "./harness.ts";

const CONFORMANCE = fixture("dll_conformance.exe");

interface Run {
  mode: string;
  lines: string[];
  code: number;
}

async function runConformance(
  mode: string,
  env: Record<string, string> = {},
): Promise<Run> {
  const run = await runFixture(
    CONFORMANCE,
    mode === "none" ? [mode] : [mode, hookDll()],
    { env },
  );
  return { mode, ...run };
}

/** Lines every mode must agree on. */
function common(run: Run): string[] {
  return run.lines.filter((l) =>
    !l.startsWith("#") && !l.startsWith("+") && !l.startsWith("ready ") &&
    l !== "inject-now"
  );
}

/** Lines every DLL mode must agree on. */
function dllOnly(run: Run): string[] {
  return run.lines.filter((l) => l.startsWith("+ "));
}

function stats(run: Run): Record<string, number> {
  const line = run.lines.find((l) => l.startsWith("# stats magic="));
  assert(line, `${run.mode}: no stats line`);
  const out: Record<string, number> = {};
  for (const m of line.matchAll(/(\w+)=(\w+)/g)) {
    out[m[1]] = m[1] === "magic" ? parseInt(m[2], 16) : Number(m[2]);
  }
  return out;
}

function info(run: Run, key: string): number {
  const line = run.lines.find((l) => l.startsWith(`# ${key}=`));
  assert(line, `${run.mode}: no '${key}' line`);
  return Number(line.split("=")[1]);
}

function assertClean(run: Run): void {
  const fails = run.lines.filter((l) => l.includes("FAIL"));
  assertEquals(fails, [], `${run.mode}: failures`);
  assertEquals(run.code, 0, `${run.mode}: exit code ${run.code}`);
  assertEquals(run.lines.at(-1), "done", `${run.mode}: did not finish`);
}

let reference: Run | undefined;
async function plain(): Promise<Run> {
  reference ??= await runConformance("none");
  return reference;
}

test("conformance: plain UCRT reference run", async () => {
  const ref = await plain();
  assertClean(ref);
  assert(common(ref).length > 50, "too few result lines");
});

let firstRun: Run | undefined;
test("conformance: DLL loaded first matches plain UCRT", async () => {
  const ref = await plain();
  const run = firstRun = await runConformance("first");
  assertClean(run);
  assertEquals(common(run), common(ref));
  assert(run.lines.includes("+ dll.live=1"));
  assert(run.lines.includes("+ malloc_is_mimalloc=1"));
  assert(run.lines.includes("+ freelibrary.still_loaded=1"));
  const s = stats(run);
  assertEquals(s.magic, 0x54534853);
  assertEquals(s.layout, 1);
  assertEquals(s.state, 1);
  assert(s.names >= 24, `hooked names: ${s.names}`);
  assert(s.allocs > 10_000 && s.frees > 10_000, JSON.stringify(s));
});

for (const mode of ["midrun", "inject"]) {
  test(`conformance: DLL ${mode} with live old blocks`, async () => {
    const ref = await plain();
    const run = await runConformance(mode);
    assertClean(run);
    assertEquals(common(run), common(ref));
    if (firstRun) assertEquals(dllOnly(run), dllOnly(firstRun));
    assert(run.lines.includes("+ dll.live=1"));
    assertEquals(info(run, "old_block_is_mimalloc"), 0);
    const s = stats(run);
    assertEquals(s.state, 1);
    const oldReallocs = info(run, "old_reallocs");
    assert(oldReallocs >= 8000, `old reallocs: ${oldReallocs}`);
    // Every old block that went through a realloc kind was migrated, and
    // every old block was released through the old heap.
    assert(
      s.migrations >= oldReallocs,
      `migrations ${s.migrations} < ${oldReallocs}`,
    );
    assertEquals(info(run, "old_reallocs_owned"), oldReallocs);
    assert(s.frees_old >= 10_000, `frees_old ${s.frees_old}`);
    assert(s.migrated_bytes > 0);
    assert(s.expand_rejects >= 1);
    assert(s.live_ms > 1_600_000_000_000, `live_ms ${s.live_ms}`);
  });
}

test("conformance: HEAPSHIFT_NO_MIGRATE=1 resizes old blocks on the old heap", async () => {
  const ref = await plain();
  const run = await runConformance("midrun", { HEAPSHIFT_NO_MIGRATE: "1" });
  assertClean(run);
  // Same results as plain UCRT: every old block's data survived its
  // realloc / _recalloc / _aligned_realloc / _aligned_offset_realloc with
  // the exact new size, alignment and offset.
  assertEquals(common(run), common(ref));
  if (firstRun) assertEquals(dllOnly(run), dllOnly(firstRun));
  assert(run.lines.includes("+ dll.live=1"));
  assert(run.lines.includes("+ malloc_is_mimalloc=1"));
  const oldReallocs = info(run, "old_reallocs");
  assert(oldReallocs >= 8000, `old reallocs: ${oldReallocs}`);
  // ...and none of the results is a mimalloc block.
  assertEquals(info(run, "old_reallocs_owned"), 0);
  const s = stats(run);
  assertEquals(s.state, 1);
  assertEquals(s.migrations, 0);
  assertEquals(s.migrated_bytes, 0);
  assert(s.frees_old >= 10_000, `frees_old ${s.frees_old}`);
});

test("conformance: HEAPSHIFT_DISABLE=1 loads without patching", async () => {
  const run = await runConformance("first", { HEAPSHIFT_DISABLE: "1" });
  assertEquals(run.code, 0);
  assert(run.lines.includes("# dll state=2"), run.lines.join("\n"));
  assert(run.lines.includes("+ malloc_is_mimalloc=0"));
});

test("HEAPSHIFT_VERBOSE=1 logs each step next to the target, injected install stays shallow", async () => {
  const run = await runConformance("inject", { HEAPSHIFT_VERBOSE: "1" });
  assertClean(run);
  const pid = Number(/^ready (\d+)/.exec(run.lines[0])?.[1]);
  const log = fixture(`heapshift-${pid}.log`);
  const text = await Deno.readTextFile(log);
  await Deno.remove(log);
  for (
    const step of [
      "loading (version",
      "stats: shared memory",
      "mimalloc initialised",
      "threads suspended",
      "hooks live:",
    ]
  ) {
    assert(text.includes(step), `log lacks '${step}':\n${text}`);
  }
  // The injected thread is a foreign one: the whole installation (mimalloc
  // init included) must fit in a small part of any thread's stack.
  const kb = Number(/installation used (\d+) KB of stack/.exec(text)?.[1]);
  assert(kb > 0 && kb < 64, `installation used ${kb} KB of stack`);
});
