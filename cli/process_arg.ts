/**
 * A process named on the command line, the same way by every command that
 * acts on one (`inject`, `modules`, `eject`, `stats`): a pid, or a process
 * name (an executable's path stands for its file name). When several
 * processes have the name, `--pid` picks one.
 *
 * @module
 */

import { InvalidArgumentError } from "@commander-js/extra-typings";
import { baseName } from "../src/_paths.ts";
import { parsePid } from "./args.ts";
import { CliError, UsageError } from "./output.ts";

/** Help of the process argument. */
export const PROCESS_HELP = "pid or process name (game.exe)";
/** Help of `--pid`. */
export const PID_HELP = "which process, when several have that name";

/** Parses a process argument: a valid pid when all digits, else a name. */
export function parseProcessArg(value: string): string {
  // A signed number is a bad pid (`-5`), not a name.
  if (/^[-+]?\d+$/.test(value)) parsePid(value);
  else if (baseName(value).trim() === "") {
    throw new InvalidArgumentError("expected a process id or name");
  }
  return value;
}

/** The process a command line designates (`name` when found by name). */
export interface PickedProcess {
  pid: number;
  name?: string;
}

/** How {@linkcode pickProcess} looks names up. */
export interface PickOptions {
  /** The running processes with a name (`findProcesses` of mod.ts). */
  find: (name: string) => { pid: number; name: string }[];
  /** `--pid`: which of several processes with the name. */
  pid?: number;
}

/**
 * The process `target` (a pid or a name) designates; undefined when no
 * process has that name. Several with the name need `--pid`, which must
 * then be one of them.
 */
export function pickProcess(
  target: string,
  options: PickOptions,
): PickedProcess | undefined {
  if (/^\d+$/.test(target)) {
    if (options.pid !== undefined && options.pid !== Number(target)) {
      throw new UsageError(
        `${target} and --pid ${options.pid} are different processes: give one`,
      );
    }
    return { pid: Number(target) };
  }
  const name = baseName(target);
  const found = options.find(name);
  if (options.pid !== undefined) {
    const p = found.find((p) => p.pid === options.pid);
    if (!p) throw new CliError(`Process ${options.pid} is not named ${name}`);
    return p;
  }
  if (found.length > 1) {
    throw new CliError(
      `${found.length} processes are named ${name}: ${
        found.map((p) => p.pid).join(", ")
      }; pick one with --pid`,
    );
  }
  return found[0];
}

/**
 * The pid of the running process `target` designates (see
 * {@linkcode pickProcess}); a name no process has is an error.
 */
export async function targetPid(target: string, pid?: number): Promise<number> {
  const api = await import("./api.ts");
  const picked = pickProcess(target, { find: api.findProcesses, pid });
  if (!picked) {
    throw new CliError(`No process named ${baseName(target)} is running`);
  }
  return picked.pid;
}
