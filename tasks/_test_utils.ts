// Shared by the tasks' tests: run a task's script as `deno task` does,
// colour off, no standard input, and collect what it printed.
import { type CliRun, runProgram } from "../cli/_test_utils.ts";

/**
 * `deno run -A script ...args` with this Deno: its exit code and output.
 * `options.env` adds to the environment; a run past 60 s fails the test.
 */
export function runScript(
  script: string | URL,
  args: string[],
  options: { env?: Record<string, string> } = {},
): Promise<CliRun> {
  const path = script instanceof URL ? script.href : script;
  return runProgram(Deno.execPath(), ["run", "-A", path, ...args], {
    env: { NO_COLOR: "1", ...options.env },
    timeoutMs: 60_000,
  });
}
