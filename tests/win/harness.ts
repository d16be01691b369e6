// Shared helpers for the Windows suite: paths of built fixtures and the
// lifecycle of a target process.
import { readLines } from "../../src/_lines.ts";
import type { Arch } from "../../src/arch.ts";
import {
  createProcess,
  errorMode,
  outputDebugString,
  SEM,
  setErrorMode,
  terminateProcess,
} from "../../ffi/mod.ts";
import { quoteArg } from "../../src/command_line.ts";
import { repoPath } from "../../src/_repo.ts";
import { CRASH_REPORT, HEAP_REPORT } from "../../tasks/heap_reports.ts";
import { stallDump } from "./stall_dump.ts";

export { readLines, repoPath };
export type { Arch };

// No loader box ("a DLL was not found") and no crash box for the programs
// the tests start, which inherit this process's error mode on Windows: on
// a test machine no one clicks them, and the suite would hang. (launch's
// programs inherit it too unless told `errorDialogs: true`; the tests
// that expect a program's load to fail also say `errorDialogs: false`.)
if (Deno.build.os === "windows") {
  setErrorMode(errorMode() | SEM.FAILCRITICALERRORS | SEM.NOGPFAULTERRORBOX);
}

/** The suite runs under Wine (not natively on Windows). */
export const UNDER_WINE = Deno.env.get("WINEPREFIX") !== undefined;

/**
 * The ucrtbase the fixtures run on: Microsoft's on Windows, and under Wine
 * in the suite's pass on Microsoft's ucrtbase (`deno task test` sets
 * `HEAPSHIFT_TEST_UCRT=microsoft`, lets Wine load a native ucrtbase and
 * puts the fixtures beside Microsoft's in build/fixtures-msucrt/, and the
 * x86 ones in build/fixtures-msucrt32/ when it has a 32-bit one); Wine's
 * own otherwise.
 */
export const UCRT_UNDER_TEST: "wine" | "microsoft" = !UNDER_WINE ||
    Deno.env.get("HEAPSHIFT_TEST_UCRT") === "microsoft"
  ? "microsoft"
  : "wine";
const MS_UCRT_PASS = UNDER_WINE && UCRT_UNDER_TEST === "microsoft";

/**
 * The architectures the DLL tests run for, x64 first (on Microsoft's
 * ucrtbase under Wine, those it has a ucrtbase.dll for: tasks/test.ts's
 * MS_UCRT32_ENV).
 */
export const ARCHES: readonly Arch[] = MS_UCRT_PASS
  ? msUcrtArches(Deno.env.get("HEAPSHIFT_TEST_ARCHES"))
  : ["x64", "x86"];

/** The pass's arches from tasks/test.ts's list; x64 when it gave none. */
function msUcrtArches(list: string | undefined): Arch[] {
  const named = (list ?? "").split(",").filter(Boolean);
  for (const a of named) {
    if (a !== "x64" && a !== "x86") {
      throw new Error(`HEAPSHIFT_TEST_ARCHES names no architecture: ${a}`);
    }
  }
  return named.length ? named as Arch[] : ["x64"];
}

/** Watches Wine's heap reports between {@linkcode heapWatch} and `check`. */
export interface HeapWatch {
  /**
   * Throws, quoting them, if any process reported invalid heap use since
   * the watch began (on Windows each such call kills the process), or died
   * of an exception nothing handled, unless the watch was told to expect
   * that.
   */
  check(): Promise<void>;
}

/**
 * Starts watching Wine's heap reports. `deno task test` runs the Windows
 * suite with Wine's heap channels on and collects every process's reports,
 * in order, in the file named by `HEAPSHIFT_HEAP_LOG`; a watch writes a
 * barrier with `OutputDebugStringA` (which Wine prints on the stream every
 * process it starts writes its reports to) when it begins and when it is
 * checked, and reads what lies between. On Windows itself there is nothing to watch: the
 * process would have died.
 */
export function heapWatch(
  options: {
    /** Why a program crashes on purpose in this test (crash lines pass). */
    crashes?: string;
  } = {},
): HeapWatch {
  const log = Deno.env.get("HEAPSHIFT_HEAP_LOG");
  if (!log) {
    if (UNDER_WINE) {
      throw new Error(
        "The Windows suite under Wine needs its heap reports: run it with `deno task test`",
      );
    }
    return { check: () => Promise.resolve() };
  }
  const id = crypto.randomUUID();
  const mark = (what: string) =>
    outputDebugString(`@@heapshift-barrier ${id} ${what}\n`);
  mark("begin");
  if (options.crashes) mark("crashes");
  return {
    async check() {
      mark("end");
      const end = `@@heapshift-barrier ${id} end`;
      const deadline = Date.now() + 60_000;
      let lines: string[] = [];
      for (;;) {
        lines = (await Deno.readTextFile(log)).split("\n");
        if (lines.includes(end)) break;
        if (Date.now() > deadline) {
          throw new Error(`The heap report log ${log} never saw ${end}`);
        }
        await new Promise((r) => setTimeout(r, 20));
      }
      const from = lines.indexOf(`@@heapshift-barrier ${id} begin`);
      const window = lines.slice(from + 1, lines.indexOf(end));
      const reports = window.filter((l) => HEAP_REPORT.test(l));
      const crashes = options.crashes
        ? []
        : window.filter((l) => CRASH_REPORT.test(l));
      if (crashes.length > 0) {
        throw new Error(
          `${crashes.length} program(s) died of an exception nothing handled (if the test means it, say why: test({ crashes })):\n${
            crashes.slice(0, 20).join("\n")
          }`,
        );
      }
      if (reports.length > 0) {
        throw new Error(
          `Wine reported ${reports.length} invalid heap call(s), each a crash on Windows:\n${
            reports.slice(0, 20).join("\n")
          }`,
        );
      }
    },
  };
}

/** A Windows test: `Deno.test`'s definition, and `crashes` (see below). */
export type WinTestDefinition = Omit<Deno.TestDefinition, "fn"> & {
  fn: (t: Deno.TestContext) => unknown;
  /**
   * Why a program dies of an unhandled exception in this test, on purpose;
   * without it any such death fails the test.
   */
  crashes?: string;
};

/**
 * `Deno.test` for the Windows suite: fails a test during which any process
 * made a heap call that Windows would have punished, or died of an
 * exception nothing handled (see {@linkcode heapWatch}).
 */
export function test(name: string, fn: (t: Deno.TestContext) => unknown): void;
export function test(def: WinTestDefinition): void;
export function test(
  a: string | WinTestDefinition,
  b?: (t: Deno.TestContext) => unknown,
): void {
  const { crashes, ...def } = typeof a === "string" ? { name: a, fn: b! } : a;
  Deno.test({
    ...def,
    async fn(t) {
      const watch = heapWatch({ crashes });
      try {
        await def.fn(t);
      } catch (e) {
        // its window is closed all the same (one that allows crashes must
        // not stay open for the tests after it); the test's error wins
        await watch.check().catch(() => {});
        throw e;
      }
      await watch.check();
    },
  });
}

/**
 * {@linkcode test} once per architecture (`NAME [x64]`, `NAME [x86]`):
 * the body gets the architecture whose fixtures and hook DLL it uses.
 */
export function testArches(
  name: string,
  fn: (arch: Arch, t: Deno.TestContext) => unknown,
): void {
  for (const arch of ARCHES) test(`${name} [${arch}]`, (t) => fn(arch, t));
}

/**
 * Path of the file `name` in the directory the fixtures of `arch` run from
 * in this pass (build/fixtures/, or beside Microsoft's ucrtbase).
 */
export function fixtureDirFile(name: string, arch: Arch = "x64"): string {
  const dir = !MS_UCRT_PASS
    ? "fixtures"
    : arch === "x86"
    ? "fixtures-msucrt32"
    : "fixtures-msucrt";
  return repoPath(`build/${dir}/${name}`);
}

/**
 * Path of a fixture built by tasks/fixtures.ts (e.g. `sleeper.exe`); for
 * `x86`, its 32-bit build (`sleeper32.exe`).
 */
export function fixture(name: string, arch: Arch = "x64"): string {
  const file = arch === "x86" ? name.replace(/(\.\w+)$/, "32$1") : name;
  return fixtureDirFile(file, arch);
}

/** Path of the hook DLL built by `deno task build-dll` for `arch`. */
export function hookDll(arch: Arch = "x64"): string {
  // tasks/test.ts points it at the DLLs built with the other mimalloc.
  const dir = Deno.env.get("HEAPSHIFT_TEST_DLL_DIR") || "build";
  return repoPath(`${dir}/${arch === "x86" ? "heapshift32" : "heapshift"}.dll`);
}

/**
 * A copy of a fixture (its `arch` build) under a unique name in a temporary
 * directory, so name lookups find only ours; removed at scope end.
 */
export async function uniqueCopy(
  name: string,
  arch: Arch = "x64",
): Promise<{ path: string; exe: string } & AsyncDisposable> {
  const dir = await Deno.makeTempDir();
  const exe = `cli_${crypto.randomUUID().slice(0, 8)}.exe`;
  const path = `${dir}\\${exe}`;
  await Deno.copyFile(fixture(name, arch), path);
  return {
    path,
    exe,
    async [Symbol.asyncDispose]() {
      for (let i = 0; i < 20; i++) {
        try {
          await Deno.remove(dir, { recursive: true });
          return;
        } catch {
          await new Promise((r) => setTimeout(r, 100)); // the exe may still be closing
        }
      }
    },
  };
}

/** A running fixture process; `await using` kills it at scope end. */
export interface Target extends AsyncDisposable {
  pid: number;
  /** The pid the program printed in its `ready <pid>` line. */
  readyPid: number;
  /** The process, for reading the rest of its output or its status. */
  child: Deno.ChildProcess;
  /** Lines of stdout read after the ready line. */
  lines: AsyncIterator<string>;
}

/** The rest of a target's output, once it has ended, and its exit code. */
export async function finishTarget(
  target: Target,
): Promise<{ text: string; code: number }> {
  const lines: string[] = [];
  for (
    let r = await target.lines.next();
    !r.done;
    r = await target.lines.next()
  ) {
    lines.push(r.value);
  }
  return { text: lines.join("\n"), code: (await target.child.status).code };
}

/** Options for {@linkcode startTarget}. */
export interface StartOptions {
  args?: string[];
  env?: Record<string, string>;
  /** How long to wait for the `ready` line (ms). */
  timeout?: number;
}

/**
 * Starts a fixture that prints `ready <pid>` when it is running, and waits
 * for that line.
 */
export async function startTarget(
  exe: string,
  options: StartOptions = {},
): Promise<Target> {
  const child = new Deno.Command(exe, {
    args: options.args ?? [],
    env: options.env,
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = readLines(child.stdout);
  const timeout = options.timeout ?? 20_000;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const first = await Promise.race([
    lines.next(),
    new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(new Error(`${exe} did not report ready within ${timeout} ms`)),
        timeout,
      );
    }),
  ]).finally(() => clearTimeout(timer));
  const m = first.done ? null : /^ready (\d+)/.exec(first.value);
  if (!m) {
    try {
      child.kill();
    } catch { /* already gone */ }
    await child.status;
    throw new Error(
      `${exe} printed ${JSON.stringify(first.value)} instead of a ready line`,
    );
  }
  return {
    pid: child.pid,
    readyPid: Number(m[1]),
    child,
    lines,
    async [Symbol.asyncDispose]() {
      try {
        child.kill();
      } catch { /* already exited */ }
      await child.status;
      await child.stdin.close().catch(() => {});
      // Drain so the pipe's resource is released.
      while (!(await lines.next()).done) { /* discard */ }
    },
  };
}

/**
 * A child's output as text, its Windows line ends (`\r\n`) made `\n`: what
 * a test compares with what the child printed.
 */
export function outputText(bytes: Uint8Array): string {
  return new TextDecoder().decode(bytes).replaceAll("\r\n", "\n");
}

/** What {@linkcode runFixture} saw. */
export interface FixtureRun {
  /** Every line of stdout. */
  lines: string[];
  /** Exit code. */
  code: number;
}

/**
 * Runs a fixture to its end (killed after two minutes). When it prints
 * `inject-now`, the hook DLL of `arch` is injected by a remote thread
 * (build/fixtures/dll_inject.exe, or dll_inject32.exe for an x86 target,
 * whose own LoadLibraryW is the target's) and the fixture is told to go on.
 */
export async function runFixture(
  exe: string,
  args: string[],
  options: { env?: Record<string, string>; arch?: Arch; timeoutMs?: number } =
    {},
): Promise<FixtureRun> {
  // a dump takes no process of that name started before (stall_dump.ts);
  // with slack: /proc's boot time is in whole seconds
  const startedAfter = Date.now() - 5000;
  const child = new Deno.Command(exe, {
    args,
    env: options.env,
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const arch = options.arch ?? "x64";
  const lines: string[] = [];
  const timeoutMs = options.timeoutMs ?? 120_000;
  const name = exe.replace(/^.*[\\/]/, "");
  let injector: Deno.ChildProcess | null = null;
  // Past the timeout the fixture (and an injector still running) is killed
  // and the run fails; if they are not gone 15 s later it fails all the
  // same, rather than hold the suite.
  let expired = false;
  let dump = "";
  let timer: ReturnType<typeof setTimeout> | undefined;
  const gone = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      expired = true;
      // where its threads wait, before they are gone (synchronous: the
      // kill below comes in the same turn)
      dump = stallDump(name, { startedAfter, timeoutMs: 10_000 });
      for (const p of [child, injector]) {
        try {
          p?.kill();
        } catch { /* gone */ }
      }
      timer = setTimeout(() => reject(new Error("still running")), 15_000);
    }, timeoutMs);
  });
  gone.catch(() => {}); // raced below
  const run = async () => {
    for await (const line of readLines(child.stdout)) {
      lines.push(line);
      if (line !== "inject-now") continue;
      const pid = /^ready (\d+)/.exec(lines[0])?.[1];
      injector = new Deno.Command(fixture("dll_inject.exe", arch), {
        args: [String(pid), hookDll(arch)],
        stdout: "null",
        stderr: "piped",
      }).spawn();
      const inj = await injector.output();
      injector = null;
      if (inj.code !== 0) {
        child.kill();
        throw new Error(
          `injector failed: ${new TextDecoder().decode(inj.stderr)}`,
        );
      }
      const w = child.stdin.getWriter();
      await w.write(new TextEncoder().encode("go\n"));
      await w.close();
    }
    return await child.status;
  };
  let status: Deno.CommandStatus | null = null; // null: still running
  try {
    status = await Promise.race([run(), gone]);
  } catch (e) {
    if (!expired) throw e;
  } finally {
    clearTimeout(timer);
  }
  if (expired || !status) {
    throw new Error(
      `${name} timed out after ${timeoutMs / 1000} s (killed${
        status ? "" : ", but still running 15 s later"
      }); its output:\n${lines.join("\n")}${
        dump ? `\nits threads when it timed out (Linux /proc):\n${dump}` : ""
      }`,
    );
  }
  try {
    await child.stdin.close();
  } catch { /* closed already */ }
  return { lines, code: status.code };
}

/**
 * `exe` created suspended, as a launcher does; at scope end it is stopped
 * and its handles are closed.
 */
export function createdSuspended(exe: string) {
  const created = createProcess(exe, quoteArg(exe), {
    suspended: true,
    stdio: "none",
  });
  return {
    ...created,
    [Symbol.dispose]() {
      try {
        terminateProcess(created.process, 1);
      } catch { /* ended already */ }
      created.process.close();
      created.thread.close();
    },
  };
}
