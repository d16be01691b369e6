// Shared helpers for the Windows suite: paths of built fixtures and the
// lifecycle of a target process.
import { readLines } from "../../cli/lines.ts";

export { readLines };

const ROOT = new URL("../../", import.meta.url);

/** Absolute Windows path of a file relative to the checkout. */
export function repoPath(rel: string): string {
  const p = decodeURIComponent(new URL(rel, ROOT).pathname);
  // file:///Z:/work/main/x → Z:\work\main\x
  return p.replace(/^\/([A-Za-z]:)/, "$1").replaceAll("/", "\\");
}

/** Path of a fixture built by tasks/fixtures.ts (e.g. `sleeper.exe`). */
export function fixture(name: string): string {
  return repoPath(`build/fixtures/${name}`);
}

/** Path of the hook DLL built by `deno task build-dll`. */
export function hookDll(): string {
  return repoPath("build/heapshift.dll");
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

/** What {@linkcode runFixture} saw. */
export interface FixtureRun {
  /** Every line of stdout. */
  lines: string[];
  /** Exit code. */
  code: number;
}

/**
 * Runs a fixture to its end (killed after two minutes). When it prints
 * `inject-now`, the hook DLL is injected by a remote thread
 * (build/fixtures/dll_inject.exe) and the fixture is told to go on.
 */
export async function runFixture(
  exe: string,
  args: string[],
  options: { env?: Record<string, string> } = {},
): Promise<FixtureRun> {
  const child = new Deno.Command(exe, {
    args,
    env: options.env,
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines: string[] = [];
  const timer = setTimeout(() => {
    try {
      child.kill();
    } catch { /* gone */ }
  }, 120_000);
  try {
    for await (const line of readLines(child.stdout)) {
      lines.push(line);
      if (line !== "inject-now") continue;
      const pid = /^ready (\d+)/.exec(lines[0])?.[1];
      const inj = await new Deno.Command(fixture("dll_inject.exe"), {
        args: [String(pid), hookDll()],
        stdout: "null",
        stderr: "piped",
      }).output();
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
  } finally {
    clearTimeout(timer);
  }
  const status = await child.status;
  try {
    await child.stdin.close();
  } catch { /* closed already */ }
  return { lines, code: status.code };
}
