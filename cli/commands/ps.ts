/**
 * `heapshift ps`: running processes, all or those with a name.
 *
 * @module
 */

import type { Command } from "@commander-js/extra-typings";
import { example, parseName, type SetCode } from "../args.ts";
import { CliError, printJson, shown, table } from "../output.ts";
import { bridgeOptions, onWindows } from "../windows_side.ts";

/** Registers `ps`. */
export function psCommand(program: Command, setCode: SetCode): void {
  const command = program.command("ps")
    .description(
      "List running processes (optionally only those named NAME: exit 1 when none is running, --json printing [] first).",
    )
    .argument("[name]", "process name, e.g. game.exe", parseName)
    .option("--json", "machine-readable output");
  bridgeOptions(command).addHelpText(
    "after",
    example("deno run -A cli.ts ps", "deno run -A cli.ts ps game.exe --json"),
  ).action(async (name, opts) => {
    setCode(await onWindows(opts, () => listProcesses(name, opts)));
  });
}

async function listProcesses(
  name: string | undefined,
  opts: { json?: boolean },
): Promise<number> {
  const api = await import("../api.ts");
  // Not the CLI's own process (a deno.exe, or heapshift.exe compiled),
  // which no command that takes a process name matches: \`ps deno.exe\`
  // would always find one.
  const list = (name ? api.findProcesses(name) : api.processes())
    .filter((p) => p.pid !== Deno.pid);
  const none = name !== undefined && list.length === 0;
  if (opts.json) {
    // `[]`, and the same error (exit code 1) as without --json
    printJson(list);
  }
  if (none) throw new CliError(`No process named ${name} is running`);
  if (opts.json) return 0;
  console.log(table(
    [
      { header: "PID", align: "right" },
      { header: "PPID", align: "right" },
      { header: "THREADS", align: "right" },
      { header: "NAME" },
    ],
    list.map((
      p,
    ) => [
      String(p.pid),
      String(p.parentPid),
      String(p.threads),
      shown(p.name),
    ]),
  ));
  return 0;
}
