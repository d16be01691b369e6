/**
 * `heapshift modules`: the modules loaded in a process.
 *
 * @module
 */

import type { Command } from "@commander-js/extra-typings";
import { example, parsePid, type SetCode } from "../args.ts";
import { c, count, hex, printJson, shown, table } from "../output.ts";
import {
  parseProcessArg,
  PID_HELP,
  PROCESS_HELP,
  targetPid,
} from "../process_arg.ts";
import { bridgeOptions, onWindows } from "../windows_side.ts";

/** Registers `modules`. */
export function modulesCommand(program: Command, setCode: SetCode): void {
  const command = program.command("modules")
    .description("List the modules loaded in a process.")
    .argument("<process>", PROCESS_HELP, parseProcessArg)
    .option("--pid <pid>", PID_HELP, parsePid)
    .option("--json", "machine-readable output");
  bridgeOptions(command).addHelpText(
    "after",
    example(
      "deno run -A cli.ts modules 1234",
      "deno run -A cli.ts modules game.exe --json",
    ),
  )
    .action(async (target, opts) => {
      setCode(await onWindows(opts, () => listModules(target, opts)));
    });
}

async function listModules(
  target: string,
  opts: { pid?: number; json?: boolean },
): Promise<number> {
  const api = await import("../api.ts");
  const list = api.modules(await targetPid(target, opts.pid));
  if (opts.json) {
    printJson(list);
    return 0;
  }
  console.log(table(
    [
      { header: "BASE" },
      { header: "SIZE", align: "right" },
      { header: "NAME" },
      { header: "PATH" },
    ],
    list.map((m) => {
      const ours = m.name.toLowerCase().startsWith("heapshift");
      return [
        hex(m.base),
        count(m.size),
        ours ? c.green(shown(m.name)) : shown(m.name),
        shown(m.path),
      ];
    }),
  ));
  return 0;
}
