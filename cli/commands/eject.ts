/**
 * `heapshift eject`: unloads a module heapshift loaded from a process
 * (heapshift.dll pins itself and stays); `--any-origin` unloads another
 * one no thread runs in, `--force` any.
 *
 * @module
 */

import type { Command } from "@commander-js/extra-typings";
import { example, parseName, parsePid, type SetCode } from "../args.ts";
import { holdingInterrupts } from "../interrupts.ts";
import { c, printJson, shown } from "../output.ts";
import {
  parseProcessArg,
  PID_HELP,
  PROCESS_HELP,
  targetPid,
} from "../process_arg.ts";
import { bridgeOptions, onWindows } from "../windows_side.ts";

/** Registers `eject`. */
export function ejectCommand(program: Command, setCode: SetCode): void {
  const command = program.command("eject")
    .description(
      "Unload a module heapshift loaded from a process (heapshift.dll pins itself and stays).",
    )
    .argument("<process>", PROCESS_HELP, parseProcessArg)
    .argument("<module>", "module file name or path", parseName)
    .option("--pid <pid>", PID_HELP, parsePid)
    .option(
      "--any-origin",
      "unload it whoever loaded it, also when heapshift did not or cannot tell (the program may still call it); a thread running in it still stops the eject",
    )
    .option(
      "--force",
      "unload it past every check that can be overridden: who loaded it, imports that cannot be read, threads running in it",
    )
    .option("--json", "machine-readable output");
  bridgeOptions(command).addHelpText(
    "after",
    example(
      "deno run -A cli.ts eject 1234 probe.dll",
      "deno run -A cli.ts eject game.exe probe.dll",
      "deno run -A cli.ts eject 1234 other.dll --any-origin",
    ),
  )
    .action(async (target, module, opts) => {
      setCode(await onWindows(opts, () => doEject(target, module, opts)));
    });
}

async function doEject(
  target: string,
  module: string,
  opts: { pid?: number; anyOrigin?: boolean; force?: boolean; json?: boolean },
): Promise<number> {
  const api = await import("../api.ts");
  const pid = await targetPid(target, opts.pid);
  const { anyOrigin = false, force = false } = opts;
  await ejectUninterrupted(
    () => api.eject(pid, module, { anyOrigin, force }),
    pid,
  );
  if (opts.json) printJson({ pid, module, ejected: true });
  else console.log(`${c.green("ejected")} ${shown(module)} from pid ${pid}`);
  return 0;
}

/**
 * Runs an eject with Ctrl+C (and Ctrl+Break) held off until it ends (its
 * timeouts bound it). Its look at the program's threads suspends each in
 * turn, from this process; Windows' default Ctrl+C handler ends this
 * process at once (ExitProcess), and a thread of the program suspended at
 * that moment would stay suspended for good, hanging the program. A second
 * Ctrl+C stops waiting, which happens only between the eject's steps.
 */
export async function ejectUninterrupted<T>(
  run: () => Promise<T>,
  pid: number,
): Promise<T> {
  return await holdingInterrupts(run, {
    note:
      "eject is finishing (stopping while it looks at the program's threads could leave one suspended); Ctrl+C again to stop waiting",
    gaveUp:
      `interrupted (Ctrl+C): stopped waiting for the eject, which may still complete in the program; see with \`modules ${pid}\` whether the module is gone`,
  });
}
