import assert from "node:assert/strict";
import {
  linuxOnlyIgnores,
  MS_UCRT32_ENV,
  MS_UCRT_ENV,
  MS_UCRT_FILES,
  msUcrt32ToRun,
  msUcrtToRun,
  needsPrograms,
  NOT_ON_MS_UCRT,
  otherPassSkipped,
  parseTestArgs,
  programsBuildError,
  ranNames,
  readJunit,
  suitePassed,
  windowsOnlyIgnores,
} from "./test.ts";
import { ProgramSourcesError } from "./bench_programs.ts";
import { repoRoot, WinEnvError } from "./winenv.ts";
import { craftPe, exportsBody } from "../pe/_test_crafted.ts";
import { withVar } from "../pe/_test_dir.ts";
import { runScript } from "./_test_utils.ts";

// A report as `deno test --junit-path` writes it (Deno 2.9).
const XML = `<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="deno test" tests="3" failures="1" errors="0" time="0.007">
    <testsuite name="./a_test.ts" tests="3" disabled="1" errors="0" failures="1">
        <testcase name="one" classname="./a_test.ts" time="0.000" line="1" col="6">
        </testcase>
        <testcase name="two &quot;q&quot;" classname="./a_test.ts" time="0.000" line="2" col="6">
            <skipped/>
        </testcase>
        <testcase name="three" classname="./a_test.ts" time="0.000" line="3" col="6">
            <failure message="Uncaught Error: x">Error: x</failure>
        </testcase>
    </testsuite>
</testsuites>`;

Deno.test("readJunit() counts passed, failed and ignored tests, naming the ignored", () => {
  assert.deepEqual(readJunit(XML), {
    passed: 1,
    failed: 1,
    ignored: 1,
    ignoredNames: ['two "q" (./a_test.ts)'],
  });
});

Deno.test("ranNames() names the tests that ran, failed ones too, not the skipped, each with its file", () => {
  assert.deepEqual(ranNames(XML), ["one (./a_test.ts)", "three (./a_test.ts)"]);
});

Deno.test("linuxOnlyIgnores: the Windows Deno's ignored tests that the Linux pass ran are Linux's only, any other stays named", () => {
  const win = {
    suite: "unit, Windows Deno",
    passed: 5,
    failed: 0,
    ignored: 3,
    ignoredNames: ["posix modes", "signals", "needs objdump"],
    code: 0,
    problems: [],
  };
  assert.deepEqual(
    linuxOnlyIgnores(win, ["posix modes", "signals", "other"]),
    { ...win, ignoredNames: ["needs objdump"], linuxOnly: 2 },
  );
  // no Linux pass in this run (--unit-win): nothing is explained
  assert.deepEqual(linuxOnlyIgnores(win, null), win);
});

Deno.test("windowsOnlyIgnores: the Linux pass's ignored tests that the Windows Deno's pass ran are Windows' only, and pass under CI; any other stays named and fails", () => {
  const linux = {
    suite: "unit",
    passed: 5,
    failed: 0,
    ignored: 2,
    ignoredNames: ["a \\\\?\\ path (Windows)", "needs objdump"],
    code: 0,
    problems: [],
  };
  const counted = windowsOnlyIgnores(linux, ["a \\\\?\\ path (Windows)"]);
  assert.deepEqual(counted, {
    ...linux,
    ignoredNames: ["needs objdump"],
    windowsOnly: 1,
  });
  assert.equal(suitePassed(counted, { ci: true }), false);
  const both = windowsOnlyIgnores(linux, [
    "a \\\\?\\ path (Windows)",
    "needs objdump",
  ]);
  assert.equal(suitePassed(both, { ci: true }), true);
  // no Windows Deno pass in this run (--unit): nothing is explained
  assert.deepEqual(windowsOnlyIgnores(linux, null), linux);
  assert.equal(suitePassed(linux, { ci: true }), false);
});

Deno.test("linuxOnlyIgnores: a test is Linux's only when the Linux pass ran it in the same file, not another file's test of its name", () => {
  const report = (cases: string) =>
    `<testsuites name="deno test" tests="2" failures="0" errors="0">${cases}</testsuites>`;
  const linux = report(`
        <testcase name="parses" classname="./a_test.ts" time="0.000">
        </testcase>
        <testcase name="parses" classname="./b_test.ts" time="0.000">
            <skipped/>
        </testcase>`);
  const windows = report(`
        <testcase name="parses" classname="./a_test.ts" time="0.000">
        </testcase>
        <testcase name="parses" classname="./b_test.ts" time="0.000">
            <skipped/>
        </testcase>`);
  const win = {
    suite: "unit, Windows Deno",
    ...readJunit(windows),
    code: 0,
    problems: [],
  };
  // b_test's "parses" is ignored on Linux too: nothing explains it
  const counted = linuxOnlyIgnores(win, ranNames(linux));
  assert.equal(counted.linuxOnly, 0);
  assert.equal(counted.ignoredNames.length, 1);
  assert.match(counted.ignoredNames[0], /b_test\.ts/);
});

Deno.test("suitePassed: under CI a unit test ignored by the Windows Deno for another reason than Linux's only fails the run, in both passes if the Linux one ignored it too", () => {
  const report = (cases: string) =>
    `<testsuites name="deno test" tests="3" failures="0" errors="0">${cases}</testsuites>`;
  const ran = (name: string) =>
    `<testcase name="${name}" classname="./a_test.ts" time="0.000">\n</testcase>`;
  const skipped = (name: string) =>
    `<testcase name="${name}" classname="./a_test.ts" time="0.000">\n<skipped/>\n</testcase>`;
  const counts = (suite: string, xml: string) => ({
    suite,
    ...readJunit(xml),
    ran: ranNames(xml),
    code: 0,
    problems: [],
  });
  // "posix" is Linux's only; "needs objdump" was ignored in both passes
  const linux = counts(
    "unit",
    report(ran("plain") + ran("posix") + skipped("needs objdump")),
  );
  const win = linuxOnlyIgnores(
    counts(
      "unit, Windows Deno",
      report(ran("plain") + skipped("posix") + skipped("needs objdump")),
    ),
    linux.ran,
  );
  assert.deepEqual(win.ignoredNames, ["needs objdump (./a_test.ts)"]);
  assert.equal(suitePassed(linux, { ci: true }), false);
  assert.equal(suitePassed(win, { ci: true }), false);
  // outside CI an ignored test is reported, not failed
  assert.equal(suitePassed(win, { ci: false }), true);
  // ignored on Windows alone, as Linux's only: passes under CI
  const linuxAll = counts(
    "unit",
    report(ran("plain") + ran("posix") + ran("needs objdump")),
  );
  const winPosix = linuxOnlyIgnores(
    counts(
      "unit, Windows Deno",
      report(ran("plain") + skipped("posix") + ran("needs objdump")),
    ),
    linuxAll.ran,
  );
  assert.equal(suitePassed(linuxAll, { ci: true }), true);
  assert.equal(suitePassed(winPosix, { ci: true }), true);
});

Deno.test("readJunit() of a report without a summary counts nothing", () => {
  assert.deepEqual(readJunit("<testsuites/>"), {
    passed: 0,
    failed: 0,
    ignored: 0,
    ignoredNames: [],
  });
});

/** A tiny DLL for `machine` (0x14c x86, 0x8664 x64) at `path`. */
async function writeDll(path: string, machine: number): Promise<string> {
  await Deno.writeFile(
    path,
    craftPe({ body: exportsBody({ count: 1, nameLength: 6 }), machine }),
  );
  return path;
}

Deno.test("msUcrtToRun: HEAPSHIFT_MS_UCRT naming no file or no x64 DLL is refused, saying which", async () => {
  await withVar(MS_UCRT_ENV, async (dir) => {
    Deno.env.set(MS_UCRT_ENV, `${dir}/missing.dll`);
    await assert.rejects(msUcrtToRun(), (e: Error) => {
      assert.match(
        e.message,
        /^HEAPSHIFT_MS_UCRT=.*missing\.dll cannot be read as a PE file: /,
      );
      return true;
    });
    Deno.env.set(MS_UCRT_ENV, await writeDll(`${dir}/ucrtbase32.dll`, 0x14c));
    await assert.rejects(msUcrtToRun(), (e: Error) => {
      assert.match(
        e.message,
        /ucrtbase32\.dll is not an x64 DLL \(machine 0x14c\): name a 64-bit \(x64\) ucrtbase\.dll$/,
      );
      return true;
    });
    const x64 = await writeDll(`${dir}/ucrtbase.dll`, 0x8664);
    Deno.env.set(MS_UCRT_ENV, x64);
    assert.equal(await msUcrtToRun(), x64);
  });
});

Deno.test("msUcrt32ToRun: HEAPSHIFT_MS_UCRT32 is optional and must name an x86 DLL", async () => {
  await withVar(MS_UCRT32_ENV, async (dir) => {
    Deno.env.delete(MS_UCRT32_ENV);
    assert.equal(await msUcrt32ToRun(), null);
    Deno.env.set(MS_UCRT32_ENV, await writeDll(`${dir}/ucrtbase.dll`, 0x8664));
    await assert.rejects(msUcrt32ToRun(), (e: Error) => {
      assert.match(
        e.message,
        /^HEAPSHIFT_MS_UCRT32=.*ucrtbase\.dll is not an x86 DLL \(machine 0x8664\): name a 32-bit \(x86\) ucrtbase\.dll$/,
      );
      return true;
    });
    const x86 = await writeDll(`${dir}/ucrtbase32.dll`, 0x14c);
    Deno.env.set(MS_UCRT32_ENV, x86);
    assert.equal(await msUcrt32ToRun(), x86);
  });
});

Deno.test("every hook DLL test runs again on Microsoft's ucrtbase, or says why not", () => {
  const dir = new URL("../tests/win/", import.meta.url);
  const dllTests = [...Deno.readDirSync(dir)].map((e) => e.name)
    .filter((n) => /^dll_.*_test\.ts$/.test(n)).sort();
  const onMs = MS_UCRT_FILES.map((f) => f.replace(/^.*\//, ""));
  assert.deepEqual(
    dllTests.filter((n) => !onMs.includes(n) && !(n in NOT_ON_MS_UCRT)),
    [],
    "in neither MS_UCRT_FILES nor NOT_ON_MS_UCRT",
  );
  assert.deepEqual(onMs.filter((n) => n in NOT_ON_MS_UCRT), [], "in both");
  for (const f of [...onMs, ...Object.keys(NOT_ON_MS_UCRT)]) {
    assert.ok(
      Deno.statSync(new URL(f, dir)).isFile,
      `tests/win/${f} is listed but missing`,
    );
  }
});

Deno.test("parseTestArgs: files or filters go to the suite they name, never dropped for a whole run", () => {
  assert.deepEqual(parseTestArgs([]), { only: "", rest: [] });
  assert.deepEqual(parseTestArgs(["--win", "--filter", "/x/"]), {
    only: "win",
    rest: ["--filter", "/x/"],
  });
  // without a suite flag, the files say which suite
  const win = "tests/win/harness_test.ts";
  assert.deepEqual(parseTestArgs([win, "--filter", "/x/"]), {
    only: "win",
    rest: [win, "--filter", "/x/"],
  });
  assert.deepEqual(parseTestArgs(["./tasks/test_test.ts"]), {
    only: "unit",
    rest: ["tasks/test_test.ts"],
  });
  // the unit suite with the Windows Deno under Wine only
  assert.deepEqual(parseTestArgs(["--unit-win", "pe/patch_test.ts"]), {
    only: "unit-win",
    rest: ["pe/patch_test.ts"],
  });
  for (
    const [args, why] of [
      [
        ["--filter", "/x/"],
        /--filter \/x\/: name the suite: --unit, --unit-win, --win or --ms-ucrt/,
      ],
      [[win, "tasks/test_test.ts"], /name the suite/],
      [
        ["--unit", "--win"],
        /one of --unit, --unit-win, --win and --ms-ucrt, not --unit and --win/,
      ],
      // refused before anything runs, not handed to `deno test` after the
      // provisioning and the builds
      [["--unit", "--bogus"], /^TestArgsError: unknown option --bogus$/],
      [["--win", "--filter"], /^TestArgsError: --filter needs a value$/],
      [["--win", "--filter="], /^TestArgsError: --filter needs a value$/],
    ] as const
  ) {
    assert.throws(() => parseTestArgs([...args]), why);
  }
});

// A folder was no file to route by: one of the other suite's beside a file
// ran in the file's suite (src's unit tests in the Windows suite), and
// tests/win alone was refused as if it named no suite.
Deno.test("parseTestArgs: a folder says which suite as a file does: tests/win (or one below) the Windows suite's, one outside it the unit suite's, one holding it both", () => {
  assert.deepEqual(parseTestArgs(["tests/win"]), {
    only: "win",
    rest: ["tests/win"],
  });
  assert.deepEqual(parseTestArgs(["pe", "src/_wow64_path_test.ts"]), {
    only: "unit",
    rest: ["pe", "src/_wow64_path_test.ts"],
  });
  for (
    const args of [
      ["src", "tests/win/harness_test.ts"],
      ["tests/win", "tasks/test_test.ts"],
      ["tests"],
      ["."],
    ]
  ) {
    assert.throws(() => parseTestArgs(args), /name the suite/, args.join(" "));
  }
  // with its flag, a folder goes to that suite as it is
  assert.deepEqual(parseTestArgs(["--unit", "tests"]), {
    only: "unit",
    rest: ["tests"],
  });
});

Deno.test("parseTestArgs: a file named from a folder below the checkout (deno task runs from its root) is found: it is taken from where the user is", () => {
  const cwd = `${repoRoot()}/tests/win`;
  assert.deepEqual(
    parseTestArgs(["harness_test.ts", "--filter", "x_test.ts"], { cwd }),
    {
      only: "win",
      rest: ["tests/win/harness_test.ts", "--filter", "x_test.ts"],
    },
  );
  assert.deepEqual(
    parseTestArgs(["../../tasks/test_test.ts"], { cwd }),
    { only: "unit", rest: ["tasks/test_test.ts"] },
  );
  // a folder too: `.` there is tests/win, not the checkout's root
  assert.deepEqual(
    parseTestArgs(["--win", ".", "--filter", "."], { cwd }),
    { only: "win", rest: ["tests/win", "--filter", "."] },
  );
  // from the root, and absolute names, as before
  assert.deepEqual(
    parseTestArgs([`${cwd}/harness_test.ts`], { cwd: "/" }),
    { only: "win", rest: ["tests/win/harness_test.ts"] },
  );
});

Deno.test("parseTestArgs: a test file or folder that does not exist is refused, named as given, before anything is built or provisioned", () => {
  // (deno test said so only after the fixtures' build and the wait for a
  // Wine prefix, with a stack trace, exit 1)
  const cwd = `${repoRoot()}/tests/win`;
  for (
    const [args, why] of [
      [
        ["nosuch_test.ts"],
        /^TestArgsError: No test file or folder nosuch_test\.ts in /,
      ],
      [
        ["--unit", "../../tasks/nosuch_test.ts"],
        /No test file or folder \.\.\/\.\.\/tasks\/nosuch_test\.ts in /,
      ],
      [["--win", "harness_test.ts", "wn"], /No test file or folder wn in /],
    ] as const
  ) {
    assert.throws(() => parseTestArgs([...args], { cwd }), why);
  }
  // a --filter's value is no file, and a glob is deno test's to expand
  assert.deepEqual(parseTestArgs(["--win", "--filter", "nosuch"], { cwd }), {
    only: "win",
    rest: ["--filter", "nosuch"],
  });
  assert.deepEqual(parseTestArgs(["dll_*_test.ts"], { cwd }), {
    only: "win",
    rest: ["tests/win/dll_*_test.ts"],
  });
});

Deno.test("parseTestArgs: an option with its value after = (--filter=x.ts) is no test file: it is neither moved under the user's folder nor counted as a file", () => {
  const cwd = `${repoRoot()}/tests/win`;
  assert.deepEqual(
    parseTestArgs(["harness_test.ts", "--filter=env_test.ts"], { cwd }),
    {
      only: "win",
      rest: ["tests/win/harness_test.ts", "--filter=env_test.ts"],
    },
  );
  // alone with its suite, it is still no file: every Windows file runs
  assert.deepEqual(parseTestArgs(["--win", "--filter=x.ts"], { cwd }), {
    only: "win",
    rest: ["--filter=x.ts"],
  });
  assert.throws(
    () => parseTestArgs(["--filter=x.ts"], { cwd }),
    /name the suite/,
  );
});

Deno.test("parseTestArgs: what follows a -- is the tests' own arguments (deno test hands them to the tests): no file, folder or filter of the run's", () => {
  const cwd = `${repoRoot()}/tests/win`;
  assert.deepEqual(
    parseTestArgs(["--win", "--", "harness_test.ts", "--filter", "."], {
      cwd,
    }),
    { only: "win", rest: ["--", "harness_test.ts", "--filter", "."] },
  );
  assert.throws(
    () => parseTestArgs(["--", "tests/win/harness_test.ts"], { cwd: "/" }),
    /name the suite/,
  );
  // every Windows file runs, programs_test.ts too, unfiltered
  assert.equal(
    needsPrograms({
      only: "win",
      rest: ["--", "tests/win/cli_test.ts", "--filter", "/x/"],
    }),
    true,
  );
});

Deno.test("otherPassSkipped: under CI a pass of the other mimalloc that cannot run is a failed suite, not a note", () => {
  assert.equal(otherPassSkipped({ ci: false }), null);
  const r = otherPassSkipped({ ci: true })!;
  assert.match(r.suite, /^windows, mimalloc [23]$/);
  assert.equal(r.passed, 0); // a suite that passed nothing fails the run
  assert.notEqual(r.code, 0);
  assert.match(r.problems.join("\n"), /HEAPSHIFT_MIMALLOC_OTHER/);
});

Deno.test("needsPrograms: Lua and SQLite are fetched and built only for a run of programs_test.ts (all files, or that one named), not for every Windows test file", () => {
  assert.equal(needsPrograms({ only: "", rest: [] }), true);
  assert.equal(needsPrograms({ only: "unit", rest: [] }), false);
  assert.equal(
    needsPrograms({ only: "win", rest: ["--filter", "/x/"] }),
    true,
  );
  assert.equal(needsPrograms({ only: "ms-ucrt", rest: [] }), true);
  assert.equal(
    needsPrograms({ only: "win", rest: ["tests/win/cli_test.ts"] }),
    false,
  );
  assert.equal(
    needsPrograms({
      only: "win",
      rest: ["tests/win/cli_test.ts", "./tests/win/programs_test.ts"],
    }),
    true,
  );
  assert.equal(
    needsPrograms({
      only: "ms-ucrt",
      rest: ["tests/win/dll_trim_test.ts", "--filter", "/lua/"],
    }),
    false,
  );
});

Deno.test("needsPrograms: a --filter that selects none of programs_test.ts's tests (by name, as deno test reads it) needs no Lua and SQLite either: an offline run of other Windows tests must not fetch them", () => {
  const win = (...rest: string[]) => needsPrograms({ only: "win", rest });
  assert.equal(win("--filter", "/dll_trim/"), false);
  assert.equal(win("--filter=harness:"), false);
  assert.equal(win("--filter", "lua"), true);
  assert.equal(win("--filter", "/^sqlite \\[x86\\]/"), true);
  assert.equal(win("--filter=/late moved old blocks$/"), true);
  // named, but filtered out
  assert.equal(
    win("tests/win/programs_test.ts", "--filter", "/harness/"),
    false,
  );
  assert.equal(
    needsPrograms({ only: "ms-ucrt", rest: ["--filter", "dll_"] }),
    false,
  );
  // a pattern JavaScript cannot read: fetched, to be safe
  assert.equal(win("--filter", "/(?<x/"), true);
});

Deno.test("programsBuildError: only a failed fetch of the real programs' sources is reported as one; any other failure (a DLL copy, a patch) is itself", () => {
  const fetch = programsBuildError(
    new ProgramSourcesError("http://x/lua.tar.gz: HTTP 503"),
  );
  assert.ok(fetch instanceof WinEnvError);
  assert.match(
    fetch.message,
    /^Cannot fetch the real programs' sources for tests\/win\/programs_test\.ts: http:\/\/x\/lua\.tar\.gz: HTTP 503\. Check the network/,
  );
  const copy = new Deno.errors.PermissionDenied(
    "Access is denied. (os error 5): copy 'build/heapshift.dll' -> 'build/programs/start/heapshift.dll'",
  );
  assert.equal(programsBuildError(copy), copy);
});

Deno.test("deno task test --help prints the usage and runs nothing", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${repoRoot()}/tasks/test.ts`, "--help"],
    stdin: "null",
    signal: AbortSignal.timeout(60_000),
  }).output();
  const stdout = new TextDecoder().decode(out.stdout);
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, stderr);
  assert.match(stdout, /^usage: deno task test \[--unit \| --unit-win/);
  assert.doesNotMatch(stderr, /\[(env|test)\]/);
});

Deno.test("deno task test: --help anywhere prints the usage; an unknown option is refused (exit 2) before anything runs", async () => {
  const run = (...args: string[]) =>
    runScript(`${repoRoot()}/tasks/test.ts`, args);
  for (const args of [["--unit", "--help"], ["--bogus", "-h"]]) {
    const help = await run(...args);
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /^usage: deno task test /);
    assert.equal(help.stderr, "");
  }
  const bogus = await run("--unit", "--bogus");
  assert.equal(bogus.code, 2, bogus.stderr);
  assert.equal(
    bogus.stderr,
    "error: unknown option --bogus\nrun `deno task test --help` for the usage\n",
  );
});
