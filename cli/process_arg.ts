/**
 * A process named on the command line, the same way by every command that
 * acts on one (`inject`, `modules`, `eject`, `stats`): a pid, a process
 * name, or an executable's path (then only a process running that very
 * file). When several processes match, `--pid` picks one. The CLI's own
 * process never matches.
 *
 * @module
 */

import { InvalidArgumentError } from "@commander-js/extra-typings";
import { resolve } from "node:path";
import { baseName } from "../src/_paths.ts";
import { parsePid } from "./args.ts";
import { CliError, UsageError } from "./output.ts";

/** Help of the process argument. */
export const PROCESS_HELP =
  "pid, process name (game.exe) or path of its executable";
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
  /**
   * The executable path of a process (`processPath` of mod.ts), asked only
   * when the target is a path; throws when it cannot be read.
   */
  pathOf?: (pid: number) => string;
  /** `--pid`: which of several processes with the name. */
  pid?: number;
  /** This process, never a target (default `Deno.pid`). */
  self?: number;
  /** Said after the advice to pick one with --pid when several match. */
  several?: string;
}

/** Whether `target` names a file by path rather than by name alone. */
export function isPathTarget(target: string): boolean {
  return /[\\/]/.test(target);
}

/**
 * A path as Windows compares it: the file's final path where it exists
 * (8.3 names, junctions, symlinks, subst drives resolved), else absolute;
 * backslashes, any case.
 */
function comparable(path: string): string {
  let full: string;
  try {
    full = Deno.realPathSync(path);
  } catch {
    full = resolve(path);
  }
  return full.replace(/^\\\\\?\\/, "").replaceAll("/", "\\").toLowerCase();
}

/**
 * The processes of `found` that run the file at `path`. One whose path
 * cannot be read might be it: an error names them, rather than leave the
 * command to take a path for a program that is not running.
 */
function runningFile(
  found: { pid: number; name: string }[],
  path: string,
  options: { pathOf: (pid: number) => string; pid?: number },
): { pid: number; name: string }[] {
  const want = comparable(path);
  const unreadable: number[] = [];
  const same = found.filter((p) => {
    try {
      return comparable(options.pathOf(p.pid)) === want;
    } catch {
      unreadable.push(p.pid);
      // --pid named it: take the user's word for what it runs
      return p.pid === options.pid;
    }
  });
  if (same.length === 0 && unreadable.length > 0) {
    throw new CliError(
      `Cannot tell whether ${path} is the program running as ${
        unreadable.join(", ")
      }: its path cannot be read (access denied?); give the pid instead`,
    );
  }
  return same;
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
  const self = options.self ?? Deno.pid;
  let found = options.find(name).filter((p) => p.pid !== self);
  if (isPathTarget(target) && options.pathOf) {
    found = runningFile(found, target, {
      pathOf: options.pathOf,
      pid: options.pid,
    });
  }
  if (options.pid !== undefined) {
    const p = found.find((p) => p.pid === options.pid);
    if (!p) throw new CliError(`Process ${options.pid} is not named ${name}`);
    return p;
  }
  if (found.length > 1) {
    const more = options.several ? ` (${options.several})` : "";
    throw new CliError(
      `${found.length} processes are named ${name}: ${
        found.map((p) => p.pid).join(", ")
      }; pick one with --pid${more}`,
    );
  }
  return found[0];
}

/**
 * The name of process `pid` among the `running` ones (`processes` of
 * mod.ts); a pid none of them has is an error that says so.
 */
export function runningName(
  pid: number,
  running: { pid: number; name: string }[],
): string {
  const p = running.find((p) => p.pid === pid);
  if (!p) {
    throw new CliError(
      `No process ${pid} is running (\`heapshift ps\` lists those that are)`,
    );
  }
  return p.name;
}

/**
 * The pid of the running process `target` designates (see
 * {@linkcode pickProcess}); a name no process has is an error.
 */
export async function targetPid(target: string, pid?: number): Promise<number> {
  const picked = await pickRunning(target, pid);
  if (!picked) {
    const api = await import("./api.ts");
    throw new CliError(notRunning(target, api.findProcesses));
  }
  return picked.pid;
}

/**
 * {@linkcode pickProcess} among the running processes (mod.ts's lists);
 * `options.several` as there.
 */
export async function pickRunning(
  target: string,
  pid?: number,
  options: { several?: string } = {},
): Promise<PickedProcess | undefined> {
  const api = await import("./api.ts");
  return pickProcess(target, {
    find: api.findProcesses,
    pathOf: api.processPath,
    pid,
    several: options.several,
  });
}

/**
 * Why no process matches `target`: for a path, also which processes run a
 * file of that name from elsewhere.
 */
export function notRunning(
  target: string,
  find: (name: string) => { pid: number }[],
): string {
  const name = baseName(target);
  const elsewhere = isPathTarget(target)
    ? find(name).filter((p) => p.pid !== Deno.pid)
    : [];
  return elsewhere.length === 0
    ? `No process named ${name} is running${decimalHint(target)}`
    : `No process runs ${target}; ${name} runs from another path as ${
      elsewhere.map((p) => p.pid).join(", ")
    } (give its pid to act on it)`;
}

/**
 * For a target that reads as a number in another notation (`0x10`, `1e3`),
 * taken as a name: how to give it as a pid (" (… 16)"); else "".
 */
export function decimalHint(target: string): string {
  if (!/^(0x[0-9a-f]+|\d+(\.\d+)?e\+?\d+|\d+\.\d+)$/i.test(target)) return "";
  const n = Number(target);
  return Number.isSafeInteger(n) && n > 0
    ? ` (to give a pid, write it in decimal digits: ${n})`
    : "";
}
