/**
 * `deno task test`: the whole test suite.
 *
 * 1. The environment is provisioned (Linux) and the fixtures and the hook
 *    DLL are built from source.
 * 2. The platform-free unit tests (every `*_test.ts` outside `tests/win/`)
 *    with this Deno; some read the built fixtures as sample PE files. On
 *    Linux, again with the Windows Deno under Wine, as they run natively
 *    on Windows ({@linkcode linuxOnlyIgnores}: what it may leave out).
 * 3. The Windows suite (`tests/win/`) with the Windows Deno: under Wine in
 *    the provisioned environment on Linux, natively on Windows.
 *
 * 4. The hook DLL's own tests (`tests/win/dll_*_test.ts`) again, against
 *    the DLL built with the other mimalloc version (build/mimalloc<N>/):
 *    both are supported (`deno task build-dll --mimalloc-version 2|3`), so
 *    both are tested, from the checkout's trees (third_party/), or
 *    `HEAPSHIFT_MIMALLOC_OTHER` naming another.
 * 5. Under Wine, the Windows tests that exercise the CRT's side
 *    ({@linkcode MS_UCRT_FILES}) again, for x64, on Microsoft's own
 *    ucrtbase.dll (provisioned with the environment: tasks/winenv.ts's
 *    `MS_UCRT`) instead of Wine's reimplementation: the fixtures are
 *    copied beside it into build/fixtures-msucrt/ and Wine is told to
 *    load the DLL it finds there. {@linkcode MS_UCRT_ENV} names another
 *    x64 build; {@linkcode MS_UCRT32_ENV} adds x86 on a 32-bit one
 *    (build/fixtures-msucrt32/). On Windows the main pass ran on
 *    Microsoft's already.
 *
 * Every suite always runs; the Windows one is never skipped. Arguments:
 * `--unit` or `--win` runs one suite only (`--unit`: with this Deno only;
 * `--win`: with the other passes of the Windows tests, unless files or
 * filters are named), `--unit-win` only the unit suite's pass with the
 * Windows Deno, `--ms-ucrt` only the pass on Microsoft's ucrtbase; other
 * arguments are test files or `--filter` patterns handed to `deno test`
 * (test files without a flag pick their suite: {@linkcode parseTestArgs}). Either way the environment
 * is provisioned and the fixtures built first: no test finds a
 * prerequisite missing.
 *
 * Each suite's passed, failed and ignored tests are printed; under CI
 * (`CI=true`) an ignored test fails the run. The Windows suite runs with
 * Wine's heap reports on (`HEAP_WINEDEBUG`): each test fails on a report
 * made while it ran (tests/win/harness.ts), and any report at all fails
 * the run, since on Windows each is a crash; so does a program's death of
 * an exception nothing handled (`CRASH_REPORT`), unless the test it fell
 * in said it meant it (`test({ crashes })`).
 *
 * @module
 */

import {
  buildDll,
  MIMALLOC_DEFAULT,
  type MimallocVersion,
  parseMimallocVersion,
} from "./build_dll.ts";
import { buildFixtures } from "./fixtures.ts";
import { buildUnixTools, unixToolsPath } from "./unix_tools.ts";
import { buildPrograms, ProgramSourcesError } from "./bench_programs.ts";
import { programs, programTestName } from "../bench/programs.ts";
import { unexpectedCrashes } from "./heap_reports.ts";
import { CompileError } from "./toolchain.ts";
import { bytesSource } from "../pe/source.ts";
import { readFileHeader } from "../pe/headers.ts";
import { type Arch, archName, archOf } from "../src/arch.ts";
import { relative, resolve } from "node:path";
import { userCwd } from "../src/_paths.ts";
import {
  parseTaskArgs,
  runTask,
  TaskArgsError,
  type TaskOptions,
} from "./task_args.ts";
import {
  checkMsUcrt,
  heapReports,
  isWindows,
  msUcrtPath,
  provision,
  repoRoot,
  runInEnv,
  WinEnvError,
} from "./winenv.ts";

const WIN_DIR = "tests/win";
const RESULTS = "build/test-results";

export interface Counts {
  suite: string;
  passed: number;
  failed: number;
  ignored: number;
  /** Names of the ignored tests. */
  ignoredNames: string[];
  /** Names of the tests that ran, passed or failed ({@linkcode ranNames}). */
  ran?: string[];
  code: number;
  /** Why the suite failed beyond its tests (heap reports). */
  problems: string[];
  /**
   * How many of the ignored tests are Linux's only, and ran in the Linux
   * Deno's unit pass: the Windows Deno's leaves them out by design
   * ({@linkcode linuxOnlyIgnores}); `ignoredNames` names the others.
   */
  linuxOnly?: number;
  /** The same for the Linux Deno's pass: Windows' only ({@linkcode
   * windowsOnlyIgnores}). */
  windowsOnly?: number;
}

function unescapeXml(s: string): string {
  const named: Record<string, string> = {
    quot: '"',
    apos: "'",
    lt: "<",
    gt: ">",
    amp: "&",
  };
  return s.replace(/&(quot|apos|lt|gt|amp);/g, (_, n) => named[n]);
}

/**
 * A test as "its name (its file)", from a testcase's attributes: two files
 * may each have a test of one name (a name alone would let one stand for
 * the other in {@linkcode linuxOnlyIgnores}).
 */
function testId(attributes: string): string {
  const attr = (a: string) =>
    unescapeXml(new RegExp(`\\b${a}="([^"]*)"`).exec(attributes)?.[1] ?? "");
  const file = attr("classname");
  return file ? `${attr("name")} (${file})` : attr("name");
}

/** Reads the counts from a JUnit report written by `deno test`; the
 * ignored tests are named with their file. */
export function readJunit(
  xml: string,
): Pick<Counts, "passed" | "failed" | "ignored" | "ignoredNames"> {
  const m = xml.match(
    /<testsuites[^>]*\btests="(\d+)"[^>]*\bfailures="(\d+)"[^>]*\berrors="(\d+)"/,
  );
  if (!m) return { passed: 0, failed: 0, ignored: 0, ignoredNames: [] };
  const [tests, failures, errors] = m.slice(1).map(Number);
  const ignoredNames = [
    ...xml.matchAll(/<testcase (name="[^"]*"[^>]*)>\s*<skipped/g),
  ].map((t) => testId(t[1]));
  const ignored = (xml.match(/<skipped/g) ?? []).length;
  return {
    passed: tests - failures - errors - ignored,
    failed: failures + errors,
    ignored,
    ignoredNames,
  };
}

/** The tests a JUnit report says ran (passed or failed, not skipped),
 * named as {@linkcode readJunit} names the ignored. */
export function ranNames(xml: string): string[] {
  return [
    ...xml.matchAll(/<testcase (name="[^"]*"[^>]*)>([\s\S]*?)<\/testcase>/g),
  ]
    .filter((t) => !t[2].includes("<skipped")).map((t) => testId(t[1]));
}

/**
 * The Windows Deno's unit pass `win` with its ignored tests that the Linux
 * Deno's pass ran (`linuxRan`, null when it did not run) counted as
 * Linux's only: tests of the Linux CLI's bridge to Wine, of POSIX file
 * modes, links and signals, ignored on Windows with a comment saying why.
 * Any other ignored test stays named, and so fails the run under CI.
 */
export function linuxOnlyIgnores(
  win: Counts,
  linuxRan: string[] | null,
): Counts {
  const counted = ranThere(win, linuxRan);
  if (!counted) return win;
  return { ...win, ignoredNames: counted.others, linuxOnly: counted.n };
}

/**
 * The Linux Deno's unit pass `linux` with its ignored tests that the
 * Windows Deno's pass ran (`winRan`, null when it did not run) counted as
 * Windows' only: tests of Windows' own paths (`\\?\`, long paths) that
 * call kernel32. As in {@linkcode linuxOnlyIgnores}, any other stays
 * named.
 */
export function windowsOnlyIgnores(
  linux: Counts,
  winRan: string[] | null,
): Counts {
  const counted = ranThere(linux, winRan);
  if (!counted) return linux;
  return { ...linux, ignoredNames: counted.others, windowsOnly: counted.n };
}

/** `r`'s ignored tests the other pass did not run, and how many it did. */
function ranThere(
  r: Counts,
  ran: string[] | null,
): { others: string[]; n: number } | null {
  if (ran === null) return null;
  const there = new Set(ran);
  const others = r.ignoredNames.filter((n) => !there.has(n));
  return { others, n: r.ignoredNames.length - others.length };
}

/**
 * Whether suite `r` passed: it ran something, and nothing failed. Under CI
 * nothing may be ignored either (a missing prerequisite is a failure) but
 * the Windows Deno's tests that the Linux pass ran ({@linkcode
 * linuxOnlyIgnores}), and the other way round ({@linkcode
 * windowsOnlyIgnores}): a test ignored in both passes fails the run in each.
 */
export function suitePassed(r: Counts, options: { ci: boolean }): boolean {
  // A suite that ran nothing failed: a skipped Windows suite is no pass.
  return r.code === 0 && r.failed === 0 && r.passed > 0 &&
    r.problems.length === 0 &&
    !(options.ci &&
      r.ignored > (r.linuxOnly ?? 0) + (r.windowsOnly ?? 0));
}

function readJunitFile(
  path: string,
): ReturnType<typeof readJunit> & Pick<Counts, "ran"> {
  try {
    const xml = Deno.readTextFileSync(path);
    return { ...readJunit(xml), ran: ranNames(xml) };
  } catch {
    return { passed: 0, failed: 0, ignored: 0, ignoredNames: [], ran: [] };
  }
}

function winTestFiles(): string[] {
  return [...Deno.readDirSync(`${repoRoot()}/${WIN_DIR}`)]
    .filter((e) => e.isFile && e.name.endsWith("_test.ts"))
    .map((e) => `${WIN_DIR}/${e.name}`)
    .sort();
}

/**
 * `deno`'s arguments for the unit suite, `extra` the user's; its JUnit
 * report goes to `options.junit` (`build/test-results/unit.xml`).
 */
export function unitSuiteArgs(
  extra: string[],
  options: { junit?: string } = {},
): string[] {
  return [
    "test",
    "-A",
    `--junit-path=${options.junit ?? `${RESULTS}/unit.xml`}`,
    // (on Windows too: tests/win/ is the Windows suite's, run next)
    `--ignore=${WIN_DIR}`,
    ...extra,
  ];
}

async function runUnit(extra: string[]): Promise<Counts> {
  const junit = `${RESULTS}/unit.xml`;
  const args = unitSuiteArgs(extra);
  console.error(`\n[test] unit suite: deno ${args.join(" ")}`);
  const { code } = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: repoRoot(),
  }).spawn().status;
  return {
    suite: "unit",
    ...readJunitFile(`${repoRoot()}/${junit}`),
    code,
    problems: [],
  };
}

/**
 * The unit suite with the Windows Deno under Wine, as it runs natively on
 * Windows (the README promises the same tests pass there), its heap
 * reports watched as the Windows suite's. Its tests find mingw-w64's gcc
 * and objdump on PATH as on Windows: tasks/unix_tools.ts's stand-ins for
 * the environment's own. `linux` is the Linux Deno's pass of the same run,
 * if it ran: {@linkcode linuxOnlyIgnores}.
 */
async function runUnitUnderWine(
  extra: string[],
  linux?: Counts,
): Promise<Counts> {
  const win = await runWin(extra, {
    suite: "unit, Windows Deno",
    unit: true,
    env: { WINEPATH: unixToolsPath() },
  });
  return linuxOnlyIgnores(win, linux?.ran ?? null);
}

async function buildAll(options: { programs: boolean }): Promise<void> {
  console.error("[test] building fixtures and the hook DLL…");
  await buildFixtures();
  await buildDll();
  // the mingw-w64 tools the Windows Deno finds on PATH under Wine
  if (!isWindows) await buildUnixTools();
  // the real programs of tests/win/programs_test.ts (after the DLL: their
  // import-table copies take it), only the plain builds
  if (!options.programs) return;
  try {
    await buildPrograms({ mimalloc: null, arches: ["x64", "x86"] });
  } catch (e) {
    throw programsBuildError(e);
  }
}

/**
 * What a failed build of the real programs reports: a download that
 * failed or did not match its hash says which test needs it (the message
 * names the file); anything else (a compile, copying the DLL beside the
 * import-table copies) is no network matter and is itself.
 */
export function programsBuildError(e: unknown): unknown {
  if (!(e instanceof ProgramSourcesError)) return e;
  return new WinEnvError(
    `Cannot fetch the real programs' sources for tests/win/programs_test.ts: ${e.message}. Check the network (deb.debian.org and the npm registry), then rerun.`,
  );
}

/** The mimalloc version the default build does not use. */
function otherMimalloc(): MimallocVersion {
  const env = Deno.env.get("HEAPSHIFT_MIMALLOC_VERSION");
  const main = env ? parseMimallocVersion(env) : MIMALLOC_DEFAULT;
  return main === 3 ? 2 : 3;
}

/**
 * Builds the hook DLLs with the other mimalloc into build/mimalloc<N>/;
 * returns that directory, or null when there is no such tree
 * (HEAPSHIFT_MIMALLOC naming the main one, without
 * HEAPSHIFT_MIMALLOC_OTHER).
 */
async function buildOtherDll(): Promise<string | null> {
  const v = otherMimalloc();
  const dir = `build/mimalloc${v}`;
  const other = Deno.env.get("HEAPSHIFT_MIMALLOC_OTHER");
  if (!other && Deno.env.get("HEAPSHIFT_MIMALLOC")) return null;
  await buildDll({
    ...(other ? { mimalloc: other } : { mimallocVersion: v }),
    outDir: `${repoRoot()}/${dir}`,
  });
  return dir;
}

/**
 * The other mimalloc's pass when it cannot run (`HEAPSHIFT_MIMALLOC` names a
 * tree, `HEAPSHIFT_MIMALLOC_OTHER` none): under CI a failed suite saying
 * so, since nothing may be skipped there; elsewhere nothing (a note).
 */
export function otherPassSkipped(options: { ci: boolean }): Counts | null {
  if (!options.ci) return null;
  return {
    suite: `windows, mimalloc ${otherMimalloc()}`,
    passed: 0,
    failed: 0,
    ignored: 0,
    ignoredNames: [],
    code: 1,
    problems: [
      "HEAPSHIFT_MIMALLOC names the main mimalloc tree and HEAPSHIFT_MIMALLOC_OTHER no other: under CI the DLL tests must run with both; set it, or unset HEAPSHIFT_MIMALLOC",
    ],
  };
}

/**
 * The Windows tests that run again on Microsoft's ucrtbase (under Wine):
 * those whose fixtures exercise what the CRT does around the heap and what
 * heapshift finds in it (the patch sites, its wrappers, errno and the
 * new-handler, exit() and its locks, threads and their CRT data, old
 * blocks), and the harness's own (a fixture's output reaches its pipes on
 * that CRT too). The others test heapshift's own parts (the injector, the
 * PE tools, the CLI) or Wine's ucrtbase or heap as such: the hook DLL's
 * ({@linkcode NOT_ON_MS_UCRT}) say why.
 */
export const MS_UCRT_FILES = [
  "dll_churn_test.ts",
  "dll_conformance_test.ts",
  "dll_counters_test.ts",
  "dll_exit_armed_test.ts",
  "dll_exit_inject_test.ts",
  "dll_exit_test.ts",
  "dll_fls_test.ts",
  "dll_huge_test.ts",
  "dll_inject_api_test.ts",
  "dll_mainheap_test.ts",
  "dll_misalign_test.ts",
  "dll_oom_test.ts",
  "dll_oldsize_test.ts",
  "dll_overrun_test.ts",
  "dll_owns_test.ts",
  "dll_stale_test.ts",
  "dll_stress_test.ts",
  "dll_terminate_test.ts",
  "dll_threads_test.ts",
  "dll_tls_late_test.ts",
  "dll_trim_test.ts",
  "dll_va_reserve_test.ts",
  "dll_vafull_test.ts",
  "harness_test.ts",
  "programs_test.ts",
].map((f) => `${WIN_DIR}/${f}`);

/**
 * The hook DLL's tests (`dll_*_test.ts`) that {@linkcode MS_UCRT_FILES}
 * leaves out, and why: each is in one list or the other, so a new one is
 * left out on purpose only (tasks/test_test.ts checks).
 */
export const NOT_ON_MS_UCRT: Readonly<Record<string, string>> = {
  "dll_branches_test.ts":
    "plans patch sites on the fixture's own code, not the CRT's",
  "dll_footprint_test.ts": "the modules heapshift.dll itself brings in",
  "dll_heapcalls_test.ts":
    "the installer's check on a fixture DLL's code, not the CRT's",
  "dll_install_test.ts":
    "parks threads at the first instruction of Wine's malloc",
  "dll_lasterror_test.ts": "compares against Wine's plain run",
  "dll_regwrap_test.ts":
    "writes Microsoft's x86 register wrappers itself and calls the adapters",
  "dll_sites_test.ts":
    "parks threads at the first instruction of Wine's malloc",
  "dll_stack_test.ts": "what heapshift's own threads leave of their stacks",
  "dll_stats_sd_test.ts":
    "who may open the stats block: Wine's object security, not the CRT",
  "dll_trim_noserialize_test.ts":
    "the trimmer against Wine's heap lock and HeapWalk, not the CRT",
  "dll_trim_tail_test.ts": "the trimmer against a quirk of Wine's HeapWalk",
};

/**
 * Another Microsoft x64 ucrtbase.dll to run that pass on (a host path)
 * instead of the pinned one.
 */
export const MS_UCRT_ENV = "HEAPSHIFT_MS_UCRT";

/**
 * A Microsoft x86 ucrtbase.dll (a host path): that pass then runs its
 * files for x86 too. None is provisioned: no package this project can
 * reach carries one.
 */
export const MS_UCRT32_ENV = "HEAPSHIFT_MS_UCRT32";

/** Refuses a DLL the variable `name` names unless it is a PE file for
 * `arch`. */
async function checkNamed(name: string, path: string, arch: Arch) {
  let machine: number;
  try {
    machine = readFileHeader(bytesSource(await Deno.readFile(path))).machine;
  } catch (e) {
    throw new Error(
      `${name}=${path} cannot be read as a PE file: ${
        e instanceof Error ? e.message : e
      }`,
    );
  }
  if (archOf(machine) !== arch) {
    throw new Error(
      `${name}=${path} is not an ${arch} DLL (machine 0x${
        machine.toString(16)
      }): name a ${archName(arch)} ucrtbase.dll`,
    );
  }
}

/**
 * The ucrtbase.dll for that pass: the one {@linkcode MS_UCRT_ENV} names,
 * which must be an x64 PE file, else the pinned one, which must still be
 * that. Throws, saying which and why, otherwise.
 */
export async function msUcrtToRun(): Promise<string> {
  const named = Deno.env.get(MS_UCRT_ENV);
  if (!named) {
    const dll = msUcrtPath();
    await checkMsUcrt(dll);
    return dll;
  }
  await checkNamed(MS_UCRT_ENV, named, "x64");
  return named;
}

/** The x86 ucrtbase.dll {@linkcode MS_UCRT32_ENV} names, checked, or null. */
export async function msUcrt32ToRun(): Promise<string | null> {
  const named = Deno.env.get(MS_UCRT32_ENV);
  if (!named) return null;
  await checkNamed(MS_UCRT32_ENV, named, "x86");
  return named;
}

/**
 * build/fixtures-msucrt/ (and, for x86, build/fixtures-msucrt32/): the
 * fixtures beside Microsoft's ucrtbase.dll, for {@linkcode MS_UCRT_FILES}'s
 * pass (tests/win/harness.ts's `fixture()` takes them from there). Returns
 * the architectures the pass runs for.
 */
async function placeMsUcrtFixtures(): Promise<Arch[]> {
  const dlls: [Arch, string | null][] = [
    ["x64", await msUcrtToRun()],
    ["x86", await msUcrt32ToRun()],
  ];
  const from = `${repoRoot()}/build/fixtures`;
  const arches: Arch[] = [];
  for (const [arch, dll] of dlls) {
    const dir = `${repoRoot()}/build/fixtures-msucrt${
      arch === "x86" ? "32" : ""
    }`;
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    if (dll === null) continue;
    await Deno.mkdir(dir, { recursive: true });
    for await (const e of Deno.readDir(from)) {
      if (e.isFile) {
        await Deno.copyFile(`${from}/${e.name}`, `${dir}/${e.name}`);
      }
    }
    await Deno.copyFile(dll, `${dir}/ucrtbase.dll`);
    arches.push(arch);
  }
  return arches;
}

/** The task's options, for `node:util`'s `parseArgs` (files are operands). */
const OPTIONS = {
  unit: { type: "boolean" },
  "unit-win": { type: "boolean" },
  win: { type: "boolean" },
  "ms-ucrt": { type: "boolean" },
  filter: { type: "string", multiple: true },
} as const satisfies TaskOptions;

/** What `deno task test` runs: every suite (""), or one. */
export type Suites = "" | "unit" | "unit-win" | "win" | "ms-ucrt";

/** Raised for arguments `deno task test` cannot run as given. */
export class TestArgsError extends TaskArgsError {
  override name = "TestArgsError";
}

/**
 * `deno task test`'s arguments: the suite, and what goes to `deno test`.
 * Files and filters need a suite: without a flag, files (and folders) all
 * in tests/win/ are the Windows suite's and files all outside it (folders
 * that do not hold it either) the unit suite's;
 * anything else is refused, saying what to add (they used to be dropped,
 * and every suite ran, for 20 minutes). So is an option other than the
 * suite flags and `--filter` (it reached `deno test` only after the
 * provisioning and the builds).
 */
export function parseTestArgs(
  given: string[],
  options: { cwd?: string } = {},
): { only: Suites; rest: string[] } {
  let read;
  try {
    // an unknown option is refused now, not by `deno test` after the
    // provisioning and the builds
    read = readArgs(given);
  } catch (e) {
    if (e instanceof TaskArgsError) throw new TestArgsError(e.message);
    throw e;
  }
  const { suites, operands } = read;
  const cwd = options.cwd ?? userCwd();
  // deno test would say so only after the builds and the provisioning
  const missing = operands.map((i) => given[i]).filter((a) =>
    !/[*?[{]/.test(a) && !existsAt(cwd, a)
  );
  if (missing.length > 0) {
    throw new TestArgsError(
      `No test file or folder ${
        missing.join(", ")
      } in ${cwd}: name one that exists from there, or pick tests by name with --filter`,
    );
  }
  if (suites.size > 1) {
    throw new TestArgsError(
      `Give one of --unit, --unit-win, --win and --ms-ucrt, not ${
        [...suites.values()].join(" and ")
      }`,
    );
  }
  // each test file or folder named from the checkout's root, where `deno
  // task` runs us: the user named it from `cwd`
  const rest = given.flatMap((a, i) =>
    suites.has(i)
      ? []
      : operands.includes(i) && (a.endsWith(".ts") || isFolder(a, cwd))
      ? [fromRootPath(a, cwd) || "."]
      : [a]
  );
  const [flag] = suites.values();
  if (flag) return { only: flag.slice(2) as Suites, rest };
  if (rest.length === 0) return { only: "", rest };
  const inWin = (f: string) => `${fromRootPath(f)}/`.startsWith(`${WIN_DIR}/`);
  // (the checkout's root, tests: a folder that holds both suites' files)
  const holdsWin = (f: string) => {
    const p = fromRootPath(f);
    return p === "" || WIN_DIR.startsWith(`${p}/`);
  };
  const named = [
    ...testFiles(rest),
    ...readArgs(rest).operands.map((i) => rest[i]).filter((a) =>
      !a.endsWith(".ts") && isFolder(a, repoRoot())
    ),
  ];
  if (named.length > 0 && named.every(inWin)) return { only: "win", rest };
  if (named.length > 0 && !named.some((f) => inWin(f) || holdsWin(f))) {
    return { only: "unit", rest };
  }
  throw new TestArgsError(
    `${rest.join(" ")}: name the suite: --unit, --unit-win, --win or --ms-ucrt`,
  );
}

/**
 * What each of `args` is, from their one parse ({@linkcode parseTaskArgs}:
 * throws its refusals): the suite flags (by index, as given), the operands
 * (indexes: no option, nor an option's value, nor after a `--`, which
 * `deno test` hands to the tests) and the `--filter` values.
 */
function readArgs(
  args: string[],
): { suites: Map<number, string>; operands: number[]; filters: string[] } {
  const { tokens } = parseTaskArgs(args, {
    options: OPTIONS,
    positionals: true,
  });
  const suites = new Map<number, string>();
  const operands: number[] = [];
  const filters: string[] = [];
  const end = tokens.find((t) => t.kind === "option-terminator")?.index ??
    args.length;
  for (const t of tokens) {
    if (t.kind === "positional" && t.index < end) operands.push(t.index);
    else if (t.kind !== "option") continue;
    else if (t.name === "filter") filters.push(t.value!);
    else suites.set(t.index, t.rawName);
  }
  return { suites, operands, filters };
}

/** `path` (named from `cwd`) from the checkout's root, with `/`. */
function fromRootPath(path: string, cwd = Deno.cwd()): string {
  return relative(repoRoot(), resolve(cwd, path)).replaceAll("\\", "/");
}

/** Whether `path`, named from `cwd`, exists. */
function existsAt(cwd: string, path: string): boolean {
  try {
    Deno.statSync(resolve(cwd, path));
    return true;
  } catch {
    return false;
  }
}

/** Whether `path` (named from `cwd`) is a folder (`deno test tests/win`). */
function isFolder(path: string, cwd: string): boolean {
  try {
    return Deno.statSync(resolve(cwd, path)).isDirectory;
  } catch {
    return false;
  }
}

/**
 * The test files `args` name: operands ending in `.ts` (neither
 * `--filter x.ts` nor `--filter=x.ts` names one).
 */
function testFiles(args: string[]): string[] {
  const { operands } = readArgs(args);
  return operands.map((i) => args[i]).filter((a) => a.endsWith(".ts"));
}

/**
 * Whether the run takes Lua and SQLite's builds (fetched and compiled on
 * first use): a run of programs_test.ts, every Windows file or that one
 * named, unless a `--filter` selects none of its tests. Any other Windows
 * test must run without them (offline too).
 */
export function needsPrograms(
  args: { only: Suites; rest: string[] },
): boolean {
  if (args.only === "unit" || args.only === "unit-win") return false;
  const files = testFiles(args.rest);
  const named = files.length === 0 ||
    files.some((f) =>
      fromRootPath(f) ===
        `${WIN_DIR}/programs_test.ts`
    );
  const { filters } = readArgs(args.rest);
  if (!named || filters.length === 0) return named;
  const names = programs().flatMap((p) =>
    (["x64", "x86"] as const).map((a) => programTestName(p.name, a))
  );
  return filters.some((f) => names.some((n) => filterSelects(f, n)));
}

/**
 * Whether `deno test --filter filter` runs the test `name`: `/RE/` is a
 * pattern, anything else a part of the name. A pattern JavaScript cannot
 * read counts as selecting it (so the programs are there if it does).
 */
function filterSelects(filter: string, name: string): boolean {
  if (filter.length < 2 || !filter.startsWith("/") || !filter.endsWith("/")) {
    return name.includes(filter);
  }
  try {
    return new RegExp(filter.slice(1, -1)).test(name);
  } catch {
    return true;
  }
}

async function runWin(
  extra: string[],
  options: {
    suite?: string;
    dllDir?: string;
    files?: string[];
    env?: Record<string, string>;
    /** The unit suite instead of tests/win/ (under Wine). */
    unit?: boolean;
  } = {},
): Promise<Counts> {
  const named = testFiles(extra).length > 0;
  const files = named || options.unit ? [] : options.files ?? winTestFiles();
  if (files.length === 0 && !named && !options.unit) {
    throw new Error(`No Windows tests found in ${WIN_DIR}/`);
  }
  const suite = options.suite ?? "windows";
  const junit = `${RESULTS}/${suite.replace(/\W+/g, "-")}.xml`;
  // tests/win/harness.ts's hookDll() takes the DLLs from there.
  // (Always set: one exported in the caller's shell would pass through.)
  const env = {
    HEAPSHIFT_TEST_DLL_DIR: options.dllDir ?? "build",
    HEAPSHIFT_TEST_UCRT: "",
    HEAPSHIFT_TEST_ARCHES: "",
    ...options.env,
  };
  const args = options.unit
    ? unitSuiteArgs(extra, { junit })
    : ["test", "-A", `--junit-path=${junit}`, ...files, ...extra];
  console.error(
    `\n[test] ${suite} suite (${isWindows ? "native" : "Wine"}): deno ${
      args.join(" ")
    }`,
  );
  // The CLI's npm packages are fetched once up front: tests start many
  // `deno run cli.ts` at once, and they must not all download them.
  // (tasks/winenv.ts: env_test runs it there, and it needs dax)
  const warm = ["cache", "--quiet", "cli.ts", "mod.ts", "tasks/winenv.ts"];
  const heapLog = `${Deno.realPathSync(repoRoot())}/${RESULTS}/wine-heap.log`;
  await Deno.remove(heapLog).catch(() => {});
  let code: number;
  if (isWindows) {
    code = await runInEnv(["windeno", ...warm], { cwd: repoRoot() });
    if (code === 0) {
      code = await runInEnv(["windeno", ...args], { cwd: repoRoot(), env });
    }
  } else {
    code = await runInEnv([
      "sh",
      "-c",
      `windeno ${warm.join(" ")} && exec windeno "$@"`,
      "sh",
      ...args,
    ], { cwd: repoRoot(), heapLog, env });
  }
  const reports = heapReports(heapLog);
  const crashes = unexpectedCrashes(
    await Deno.readTextFile(heapLog).catch(() => ""),
  );
  return {
    suite,
    ...readJunitFile(`${repoRoot()}/${junit}`),
    code,
    problems: [
      ...(reports.length === 0 ? [] : [
        `Wine reported ${reports.length} invalid heap call(s), each a crash on Windows:`,
        ...reports.slice(0, 20).map((l) => `  ${l}`),
      ]),
      ...(crashes.length === 0 ? [] : [
        `${crashes.length} program(s) died of an exception nothing handled, in no test that meant it:`,
        ...crashes.slice(0, 20).map((l) => `  ${l}`),
      ]),
    ],
  };
}

async function main(args: string[]): Promise<number> {
  const { only, rest } = parseTestArgs(args);
  await Deno.mkdir(`${repoRoot()}/${RESULTS}`, { recursive: true });
  // One run per checkout at a time: runs share build/ (fixtures, the DLL)
  // and the result files, and a second run would replace the first one's
  // heap report log under it.
  using lock = await Deno.open(`${repoRoot()}/${RESULTS}/.lock`, {
    create: true,
    write: true,
  });
  if (!(await lock.tryLock(true))) {
    console.error(
      "[test] another `deno task test` runs in this checkout: waiting for it…",
    );
    await lock.lock(true);
  }
  for (const e of Deno.readDirSync(`${repoRoot()}/${RESULTS}`)) {
    if (e.name.endsWith(".xml")) {
      await Deno.remove(`${repoRoot()}/${RESULTS}/${e.name}`);
    }
  }
  const results: Counts[] = [];
  // First, so the unit tests that read real PE files (the fixtures, the
  // Windows deno.exe, objdump) find them on a fresh machine too.
  if (!isWindows) await provision();
  await buildAll({ programs: needsPrograms({ only, rest }) });
  // (natively the unit suite runs with the Windows Deno already)
  if (only === "" || only === "unit" || (isWindows && only === "unit-win")) {
    results.push(await runUnit(only ? rest : []));
  }
  if (!isWindows && (only === "" || only === "unit-win")) {
    const win = await runUnitUnderWine(only ? rest : [], results[0]);
    if (results[0]?.suite === "unit") {
      results[0] = windowsOnlyIgnores(results[0], win.ran ?? null);
    }
    results.push(win);
  }
  if (only === "" || only === "win") {
    results.push(await runWin(only ? rest : []));
  }
  // The other mimalloc: in a whole run, or `--win` without files/filters.
  if (only === "" || (only === "win" && rest.length === 0)) {
    const dllDir = await buildOtherDll();
    if (dllDir) {
      results.push(
        await runWin([], {
          suite: `windows, mimalloc ${otherMimalloc()}`,
          dllDir,
          files: winTestFiles().filter((f) => f.includes("/dll_")),
        }),
      );
    } else {
      const skipped = otherPassSkipped({ ci: Deno.env.get("CI") === "true" });
      if (skipped) results.push(skipped);
      else {
        console.error(
          "[test] no second mimalloc tree (HEAPSHIFT_MIMALLOC_OTHER): the DLL tests ran with one mimalloc only",
        );
      }
    }
  }
  // Microsoft's ucrtbase: in a whole run, `--win` without files/filters,
  // or `--ms-ucrt` (with any). Natively the main pass ran on it already;
  // asked for, its files run again there.
  if (
    only === "ms-ucrt" ||
    (!isWindows && (only === "" || (only === "win" && rest.length === 0)))
  ) {
    const arches = isWindows ? [] : await placeMsUcrtFixtures();
    results.push(
      await runWin(only === "ms-ucrt" ? rest : [], {
        suite: `windows, Microsoft ucrtbase${
          arches.length > 1 ? ` (${arches.join(", ")})` : ""
        }`,
        files: MS_UCRT_FILES,
        env: isWindows ? {} : {
          HEAPSHIFT_TEST_UCRT: "microsoft",
          HEAPSHIFT_TEST_ARCHES: arches.join(","),
          // native first: the ucrtbase.dll beside the program, if any
          WINEDLLOVERRIDES: "mscoree,mshtml=;ucrtbase=n,b",
        },
      }),
    );
  }
  console.log("");
  const ci = Deno.env.get("CI") === "true";
  let ok = true;
  for (const r of results) {
    const good = suitePassed(r, { ci });
    ok &&= good;
    console.log(
      `${r.suite}: ${r.passed} passed, ${r.failed} failed, ${r.ignored} ignored${
        r.linuxOnly
          ? ` (${r.linuxOnly} Linux's only, run by the unit pass)`
          : r.windowsOnly
          ? ` (${r.windowsOnly} Windows' only, run by the Windows Deno's)`
          : ""
      }${good ? "" : `  (exit ${r.code})`}`,
    );
    // (A --filter leaves the rest out as ignored: no names then.)
    if (readArgs(rest).filters.length === 0) {
      for (const name of r.ignoredNames) {
        console.log(`  ignored${ci ? " (not allowed under CI)" : ""}: ${name}`);
      }
    }
    for (const p of r.problems) console.log(p);
  }
  const sum = (k: "passed" | "failed" | "ignored") =>
    results.reduce((n, r) => n + r[k], 0);
  console.log(
    `total: ${sum("passed")} passed, ${sum("failed")} failed, ${
      sum("ignored")
    } ignored`,
  );
  return ok ? 0 : 1;
}

const USAGE =
  `usage: deno task test [--unit | --unit-win | --win | --ms-ucrt] [FILE...] [--filter PATTERN]
  every suite without a flag: the unit tests with this Deno (and on Linux
  with the Windows Deno under Wine), the Windows suite, its run against the
  other mimalloc and against Microsoft's ucrtbase. A flag runs one suite;
  test files and --filter go to \`deno test\` (files alone pick their suite).
  The Wine environment is provisioned and the fixtures built first.`;

if (import.meta.main) {
  // arguments it cannot run as given (TestArgsError): a usage error, exit 2
  await runTask("test", async (args) => {
    try {
      return await main(args);
    } catch (e) {
      // The environment could not be provisioned, or a DLL or fixture did
      // not compile: the message says what to do (or shows the compiler's
      // errors), and a stack trace would bury it.
      if (!(e instanceof WinEnvError || e instanceof CompileError)) throw e;
      console.error(`error: ${e.message}`);
      return 1;
    }
  }, { usage: USAGE });
}
