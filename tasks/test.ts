/**
 * `deno task test`: the whole test suite.
 *
 * 1. The environment is provisioned (Linux) and the fixtures and the hook
 *    DLL are built from source.
 * 2. The platform-free unit tests (every `*_test.ts` outside `tests/win/`)
 *    with this Deno; some read the built fixtures as sample PE files.
 * 3. The Windows suite (`tests/win/`) with the Windows Deno: under Wine in
 *    the provisioned environment on Linux, natively on Windows.
 *
 * Both suites always run; the Windows one is never skipped. Arguments:
 * `--unit` or `--win` runs one suite only; other arguments are test files
 * or `--filter` patterns handed to `deno test`.
 *
 * @module
 */

import { buildDll } from "./build_dll.ts";
import { buildFixtures } from "./fixtures.ts";
import { isWindows, provision, repoRoot, runInEnv } from "./winenv.ts";

const WIN_DIR = "tests/win";
const RESULTS = "build/test-results";

interface Counts {
  suite: string;
  passed: number;
  failed: number;
  code: number;
}

/** Reads the pass/fail counts from a JUnit report written by `deno test`. */
function readJunit(path: string): { passed: number; failed: number } {
  let xml: string;
  try {
    xml = Deno.readTextFileSync(path);
  } catch {
    return { passed: 0, failed: 0 };
  }
  const m = xml.match(
    /<testsuites[^>]*\btests="(\d+)"[^>]*\bfailures="(\d+)"[^>]*\berrors="(\d+)"/,
  );
  if (!m) return { passed: 0, failed: 0 };
  const [tests, failures, errors] = m.slice(1).map(Number);
  const ignored = (xml.match(/<skipped/g) ?? []).length;
  return {
    passed: tests - failures - errors - ignored,
    failed: failures + errors,
  };
}

function winTestFiles(): string[] {
  return [...Deno.readDirSync(`${repoRoot()}/${WIN_DIR}`)]
    .filter((e) => e.isFile && e.name.endsWith("_test.ts"))
    .map((e) => `${WIN_DIR}/${e.name}`)
    .sort();
}

async function runUnit(extra: string[]): Promise<Counts> {
  const junit = `${RESULTS}/unit.xml`;
  const args = [
    "test",
    "-A",
    `--junit-path=${junit}`,
    ...(isWindows ? [] : [`--ignore=${WIN_DIR}`]),
    ...extra,
  ];
  console.error(`\n[test] unit suite: deno ${args.join(" ")}`);
  const { code } = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: repoRoot(),
  }).spawn().status;
  return { suite: "unit", ...readJunit(`${repoRoot()}/${junit}`), code };
}

async function buildAll(): Promise<void> {
  console.error("[test] building fixtures and the hook DLL…");
  await buildFixtures();
  await buildDll();
}

async function runWin(extra: string[]): Promise<Counts> {
  const files = extra.some((a) => a.endsWith(".ts")) ? [] : winTestFiles();
  if (files.length === 0 && !extra.some((a) => a.endsWith(".ts"))) {
    throw new Error(`No Windows tests found in ${WIN_DIR}/`);
  }
  const junit = `${RESULTS}/win.xml`;
  const args = ["test", "-A", `--junit-path=${junit}`, ...files, ...extra];
  console.error(
    `\n[test] Windows suite (${isWindows ? "native" : "Wine"}): deno ${
      args.join(" ")
    }`,
  );
  // The CLI's npm packages are fetched once up front: tests start many
  // `deno run cli.ts` at once, and they must not all download them.
  const warm = ["cache", "--quiet", "cli.ts", "mod.ts"];
  let code: number;
  if (isWindows) {
    code = await runInEnv(["windeno", ...warm], { cwd: repoRoot() });
    if (code === 0) {
      code = await runInEnv(["windeno", ...args], { cwd: repoRoot() });
    }
  } else {
    code = await runInEnv([
      "sh",
      "-c",
      `windeno ${warm.join(" ")} && exec windeno "$@"`,
      "sh",
      ...args,
    ], { cwd: repoRoot() });
  }
  return { suite: "windows", ...readJunit(`${repoRoot()}/${junit}`), code };
}

async function main(args: string[]): Promise<number> {
  const only = args.includes("--unit")
    ? "unit"
    : args.includes("--win")
    ? "win"
    : "";
  const rest = args.filter((a) => a !== "--unit" && a !== "--win");
  await Deno.mkdir(`${repoRoot()}/${RESULTS}`, { recursive: true });
  for (const f of ["unit.xml", "win.xml"]) {
    await Deno.remove(`${repoRoot()}/${RESULTS}/${f}`).catch(() => {});
  }
  const results: Counts[] = [];
  if (only !== "unit") {
    // First, so the unit tests that read real PE files (the fixtures, the
    // Windows deno.exe) find them on a fresh machine too.
    if (!isWindows) await provision();
    await buildAll();
  }
  if (only !== "win") results.push(await runUnit(only ? rest : []));
  if (only !== "unit") results.push(await runWin(only ? rest : []));
  console.log("");
  let ok = true;
  for (const r of results) {
    // A suite that ran nothing failed: a skipped Windows suite is no pass.
    const good = r.code === 0 && r.failed === 0 && r.passed > 0;
    ok &&= good;
    console.log(
      `${r.suite}: ${r.passed} passed, ${r.failed} failed${
        good ? "" : `  (exit ${r.code})`
      }`,
    );
  }
  const passed = results.reduce((n, r) => n + r.passed, 0);
  const failed = results.reduce((n, r) => n + r.failed, 0);
  console.log(`total: ${passed} passed, ${failed} failed`);
  return ok ? 0 : 1;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
