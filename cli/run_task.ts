/**
 * The CLI runs the task layer as commands, never imports it: `deno run -A
 * tasks/<script> …` with this Deno, its output on ours (a compiled binary
 * has no tasks/, and `deno info cli.ts` stays free of them and of dax).
 *
 * @module
 */

import { repoPath, repoRoot } from "../src/_repo.ts";

/** Options of {@linkcode runTask}. */
export interface TaskOptions {
  /** Its standard input: ours (default) or none. */
  stdin?: "inherit" | "null";
  /** Its directory (default the checkout's root). */
  cwd?: string;
  /**
   * Where its standard output goes: ours (default), or our standard error,
   * for work done on the side of a command whose stdout is its result
   * (`--json`).
   */
  stdout?: "inherit" | "stderr";
}

/** Runs `tasks/<script>` with `args`; returns its exit code. */
export async function runTask(
  script: string,
  args: string[],
  options: TaskOptions = {},
): Promise<number> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", repoPath(`tasks/${script}`), ...args],
    cwd: options.cwd ?? repoRoot(),
    stdin: options.stdin ?? "inherit",
    stdout: options.stdout === "stderr" ? "piped" : "inherit",
    stderr: "inherit",
  }).spawn();
  if (options.stdout === "stderr") {
    await child.stdout.pipeTo(Deno.stderr.writable, { preventClose: true });
  }
  return (await child.status).code;
}
