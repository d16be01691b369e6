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

/** Runs the CLI with this Deno, colour off, no standard input. */
export async function runCli(
  args: string[],
  env: Record<string, string> = {},
): Promise<CliRun> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, ...args],
    env: { NO_COLOR: "1", ...env },
    stdin: "null",
  }).output();
  const dec = new TextDecoder();
  return {
    code: out.code,
    stdout: dec.decode(out.stdout),
    stderr: dec.decode(out.stderr),
  };
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
