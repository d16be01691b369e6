// Shared by the CLI's tests on Linux (cli/cli_test.ts) and on Windows
// (tests/win/cli_test.ts): run cli.ts as a user does and collect its output.

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
