// `inject NAME --wait` run in the background, for the tests that start
// the program it waits for once it says it is waiting (cli_test,
// cli_handoff_test).
import { assert } from "./assert.ts";
import { readLines, repoPath } from "./harness.ts";

const CLI = repoPath("cli.ts");

/** A CLI run of `inject … --wait SECONDS` that has said it is waiting. */
export interface WaitingInject {
  /** Its exit status, stdout and every stderr line, once it has ended. */
  end(): Promise<{ code: number; stdout: string; said: string[] }>;
  /** Whether it has ended yet. */
  ended(): boolean;
}

/**
 * Starts `inject EXE --wait SECONDS …extra` (`options.seconds`, default
 * 60) and returns once it says it is waiting, so that the program can be
 * started only then.
 */
export async function waitingInject(
  exe: string,
  extra: string[],
  options: { seconds?: number } = {},
): Promise<WaitingInject> {
  const seconds = options.seconds ?? 60;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, "inject", exe, "--wait", `${seconds}`, ...extra],
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const errLines = readLines(child.stderr);
  const said: string[] = [];
  const waiting = new RegExp(`waiting up to ${seconds} s for `);
  for (let l = await errLines.next(); !l.done; l = await errLines.next()) {
    said.push(l.value);
    if (waiting.test(l.value)) break;
  }
  assert(waiting.test(said.at(-1) ?? ""), said.join("\n"));
  let done = false;
  child.status.then(() => done = true);
  return {
    ended: () => done,
    async end() {
      const [status, stdout] = await Promise.all([
        child.status,
        new Response(child.stdout).text(),
      ]);
      for (let l = await errLines.next(); !l.done; l = await errLines.next()) {
        said.push(l.value);
      }
      return { code: status.code, stdout, said };
    },
  };
}
