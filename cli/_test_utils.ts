// Shared by the CLI's tests on Linux (cli/cli_test.ts) and on Windows
// (tests/win/cli_test.ts): run cli.ts as a user does and collect its output;
// a sample of stats() for the renderers.
import type { Stats } from "./api.ts";

/** What one run of `deno run -A cli.ts …` gave. */
export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

const CLI = new URL("../cli.ts", import.meta.url).href;

/** How long one program a test runs may take before the test fails: a run
 * under Wine that hangs (seen once: a `deno.exe` spinning at exit) then fails
 * its test instead of holding the suite until CI's limit. */
export const RUN_TIMEOUT_MS = 180_000;

/** Runs the CLI with this Deno, colour off, no standard input. */
export function runCli(
  args: string[],
  env: Record<string, string> = {},
  options: { timeoutMs?: number } = {},
): Promise<CliRun> {
  return runProgram(Deno.execPath(), ["run", "-A", CLI, ...args], {
    // (not WSL's, even on a WSL machine: specialk refuses that, tested so)
    env: { NO_COLOR: "1", WSL_DISTRO_NAME: "", WSL_INTEROP: "", ...env },
    timeoutMs: options.timeoutMs,
  });
}

/** How {@linkcode runProgram} runs a program. */
export interface RunOptions {
  env?: Record<string, string>;
  cwd?: string;
  /** `"inherit"`: the program's stderr goes to the test's (`stderr` is ""). */
  stderr?: "piped" | "inherit";
  /** Default {@linkcode RUN_TIMEOUT_MS}. */
  timeoutMs?: number;
}

/**
 * Runs a program to its end with no standard input and collects its output.
 * Past the time limit it is killed and the call rejects with what it printed
 * so far (all the same if it is not gone 15 s later).
 */
export async function runProgram(
  cmd: string,
  args: string[],
  options: RunOptions = {},
): Promise<CliRun> {
  const timeoutMs = options.timeoutMs ?? RUN_TIMEOUT_MS;
  const child = new Deno.Command(cmd, {
    args,
    env: options.env,
    cwd: options.cwd,
    stdin: "null",
    stdout: "piped",
    stderr: options.stderr ?? "piped",
  }).spawn();
  const out = { stdout: "", stderr: "" };
  // A decoder per stream, flushed at its end.
  const drain = async (s: ReadableStream<Uint8Array>, k: keyof typeof out) => {
    const dec = new TextDecoder();
    for await (const chunk of s) out[k] += dec.decode(chunk, { stream: true });
    out[k] += dec.decode();
  };
  // Both streams to their end: a program's own children may hold them open
  // after it has exited, so that counts against the time limit too.
  const done = Promise.all([
    child.status,
    drain(child.stdout, "stdout"),
    options.stderr === "inherit" ? null : drain(child.stderr, "stderr"),
  ]);
  done.catch(() => {}); // raced below
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<"expired">((resolve) => {
    timer = setTimeout(() => resolve("expired"), timeoutMs);
  });
  try {
    const first = await Promise.race([done, expired]);
    if (first !== "expired") return { code: first[0].code, ...out };
    try {
      child.kill("SIGKILL");
    } catch { /* gone meanwhile */ }
    const gone = new Promise<"still">((resolve) => {
      timer = setTimeout(() => resolve("still"), 15_000);
    });
    const after = await Promise.race([child.status, gone]);
    const name = cmd.replace(/^.*[\\/]/, "");
    throw new Error(
      `${name} ${args.join(" ")}: still running after ${
        timeoutMs / 1000
      } s (killed${
        after === "still" ? ", and still there 15 s later" : ""
      }); its output:\n${out.stdout}\n${out.stderr}`,
    );
  } finally {
    clearTimeout(timer);
  }
}

/** A live process's stats for the CLI's renderers, with `more` on top. */
export function sampleStats(more: Partial<Stats> = {}): Stats {
  return {
    pid: 7,
    processStarted: new Date(1_700_000_000_000),
    state: "live",
    reason: null,
    error: 0,
    mimallocVersion: "2.1.2",
    dllVersion: "0.1.0",
    hooked: ["malloc", "free"],
    patchSites: 2,
    liveSince: new Date(0),
    counters: {
      allocs: 9000,
      frees: 8000,
      freesOld: 700,
      migrations: 500,
      migratedBytes: 12345,
      expandRejects: 0,
    },
    trim: {
      state: "walk",
      error: 0,
      passes: 3,
      resetBytes: 1 << 20,
      chunks: 4,
      holdMaxUs: 100,
      busyKiB: 10,
      freeKiB: 20,
    },
    ...more,
  };
}
