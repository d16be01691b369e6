// Two real programs nobody here wrote, built from their own sources by
// `deno task test` (Lua 5.4.7 and SQLite 3.44.2's shell: tasks/
// bench_programs.ts), run their bench workloads (bench/programs/) plain,
// with heapshift first in their import table, and injected late after a
// warm-up whose blocks stay live on the UCRT heap. Their output must be the
// plain run's byte for byte, heapshift must be live, the late takeover must
// have freed or moved old blocks, and Wine must report no invalid heap call
// (the harness's watch: on Windows each kills the process). On Microsoft's
// ucrtbase pass they run beside that ucrtbase.dll. x64 and x86 builds.
import {
  checkOutputs,
  type ProgramRun,
  programs,
  programsOut,
  programTestName,
  runProgram,
} from "../../bench/programs.ts";
import {
  type Arch,
  ARCHES,
  fixtureDirFile,
  hookDll,
  repoPath,
  test,
  UCRT_UNDER_TEST,
  UNDER_WINE,
} from "./harness.ts";
import { assert, assertEquals } from "./assert.ts";

/** What a late takeover of each program's warm-up must have done at least:
 * Lua reallocates and frees its warm-up's records (the bench: ~60,000
 * migrations), SQLite's shell frees some of its warm-up's blocks. */
const LATE: Record<string, { migrations: number; freesOld: number }> = {
  lua: { migrations: 10_000, freesOld: 10_000 },
  sqlite: { migrations: 0, freesOld: 1 },
};

/**
 * The builds' directory of `arch` for this pass: build/programs (x86:
 * its x86/), or (on Microsoft's ucrtbase under Wine) a copy of it with
 * that ucrtbase.dll beside each program, which Wine then loads instead of
 * its own.
 */
async function programsDir(
  arch: Arch,
): Promise<{ dir: string } & AsyncDisposable> {
  const built = repoPath(programsOut(arch));
  if (!(UNDER_WINE && UCRT_UNDER_TEST === "microsoft")) {
    return { dir: built, async [Symbol.asyncDispose]() {} };
  }
  const dir = await Deno.makeTempDir({ prefix: "hs-programs-" });
  const ucrt = fixtureDirFile("ucrtbase.dll", arch);
  await Deno.mkdir(`${dir}/start`);
  for (const sub of ["", "/start"]) {
    for (const e of Deno.readDirSync(`${built}${sub}`)) {
      if (e.isFile && e.name.endsWith(".exe") || e.name === "heapshift.dll") {
        await Deno.copyFile(
          `${built}${sub}/${e.name}`,
          `${dir}${sub}/${e.name}`,
        );
      }
    }
    await Deno.copyFile(ucrt, `${dir}${sub}/ucrtbase.dll`);
  }
  return {
    dir,
    async [Symbol.asyncDispose]() {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}

function describe(r: ProgramRun): string {
  return `${r.program} variant ${r.variant}: ${r.ok ? "ok" : r.error}`;
}

for (const arch of ARCHES) {
  for (const p of programs()) {
    test(programTestName(p.name, arch), async () => {
      await using place = await programsDir(arch);
      const runs: ProgramRun[] = [];
      for (const v of [1, 2, 3] as const) {
        runs.push(
          await runProgram(p, v, { dir: place.dir, dll: hookDll(arch) }),
        );
      }
      checkOutputs(runs);
      assertEquals(runs.filter((r) => !r.ok).map(describe), []);
      const late = runs[2];
      const want = LATE[p.name];
      assert(
        (late.migrations ?? 0) >= want.migrations &&
          (late.freesOld ?? 0) >= want.freesOld,
        `${p.name} injected late: ${late.migrations} migrations, ${late.freesOld} old blocks freed; want at least ${want.migrations} and ${want.freesOld}`,
      );
    });
  }
}
