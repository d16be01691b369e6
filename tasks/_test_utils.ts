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
    env: { NO_COLOR: "1", ...denoDirEnv(), ...options.env },
    timeoutMs: 60_000,
  });
}

let denoDir: string | undefined;

/**
 * `DENO_DIR` set to this Deno's module cache, for a child Deno whose
 * `XDG_CACHE_HOME` a test changes: Deno keeps its cache there too, and a
 * new one first downloads the npm packages (seconds, or past a test's
 * deadline on a loaded machine).
 */
export function denoDirEnv(): { DENO_DIR: string } {
  denoDir ??= Deno.env.get("DENO_DIR") ?? JSON.parse(
    new TextDecoder().decode(
      new Deno.Command(Deno.execPath(), {
        args: ["info", "--json"],
        stdout: "piped",
        stderr: "null",
      }).outputSync().stdout,
    ),
  ).denoDir;
  return { DENO_DIR: denoDir! };
}
