/**
 * Finding processes and listing their modules.
 *
 * @module
 */

import type { Arch } from "./arch.ts";
import { HeapshiftError } from "./heapshift_error.ts";
import {
  LIST_MODULES,
  moduleEntries,
  PROCESS,
  processEntries,
  processModules,
} from "../ffi/mod.ts";
import { openTarget, processError, type TargetProcess } from "./_target.ts";

/**
 * A running process.
 *
 * @example Print the process tree roots
 * ```ts
 * import { processes } from "@heapshift/heapshift";
 * const all = processes();
 * const pids = new Set(all.map((p) => p.pid));
 * for (const p of all) if (!pids.has(p.parentPid)) console.log(p.pid, p.name);
 * ```
 */
export interface ProcessInfo {
  /** Process id. */
  pid: number;
  /** Id of the process that created it. */
  parentPid: number;
  /** Executable file name, e.g. `notepad.exe`. */
  name: string;
  /** Number of threads. */
  threads: number;
}

/**
 * A module (EXE or DLL) loaded in a process.
 *
 * @example Print a module map
 * ```ts
 * import { modules } from "@heapshift/heapshift";
 * for (const m of modules(1234)) {
 *   console.log(`0x${m.base.toString(16)} ${m.size} ${m.path}`);
 * }
 * ```
 */
export interface ModuleInfo {
  /** File name, e.g. `KERNEL32.DLL`. */
  name: string;
  /** Full path of the file. */
  path: string;
  /** Base address in the process. */
  base: bigint;
  /** Size of the mapped image in bytes. */
  size: number;
}

/**
 * Lists the processes running on the system.
 *
 * @example List every process
 * ```ts
 * import { processes } from "@heapshift/heapshift";
 * for (const p of processes()) console.log(p.pid, p.name);
 * ```
 */
export function processes(): ProcessInfo[] {
  return processEntries().map((e) => ({
    pid: e.pid,
    parentPid: e.parentPid,
    name: e.exeFile,
    threads: e.threads,
  }));
}

function sameName(exeFile: string, name: string): boolean {
  const a = exeFile.toLowerCase();
  const b = name.toLowerCase();
  return a === b || a === `${b}.exe`;
}

/**
 * Lists the processes whose executable is named `name` (case-insensitive,
 * `.exe` optional). An empty array when there is none.
 *
 * @example Find every notepad
 * ```ts
 * import { findProcesses } from "@heapshift/heapshift";
 * const pids = findProcesses("notepad").map((p) => p.pid);
 * ```
 */
export function findProcesses(name: string): ProcessInfo[] {
  return processes().filter((p) => sameName(p.name, name));
}

/**
 * The one running process named `name`. Throws a `not-found`
 * HeapshiftError when there is none, and a `failed` one naming the pids
 * when several match (pass a pid then).
 *
 * @example Resolve a name given on a command line
 * ```ts
 * import { findProcess, inject } from "@heapshift/heapshift";
 * await inject(findProcess("game.exe").pid, "build/heapshift.dll");
 * ```
 */
export function findProcess(name: string): ProcessInfo {
  const found = findProcesses(name);
  if (found.length === 0) {
    throw new HeapshiftError(
      "not-found",
      `No process named ${name} is running`,
    );
  }
  if (found.length > 1) {
    throw new HeapshiftError(
      "failed",
      `Several processes named ${name} are running (pids ${
        found.map((p) => p.pid).join(", ")
      }): pass a pid instead`,
    );
  }
  return found[0];
}

/**
 * Options for {@linkcode waitForProcess}.
 *
 * @example Wait for the next instance only
 * ```ts
 * import { waitForProcess } from "@heapshift/heapshift";
 * const next = await waitForProcess("game.exe", {
 *   newOnly: true,
 *   timeout: 120_000,
 *   signal: AbortSignal.timeout(130_000),
 * });
 * ```
 */
export interface WaitForProcessOptions {
  /** Give up after this many milliseconds (default 30000). */
  timeout?: number;
  /** Polling interval in milliseconds (default 50). */
  interval?: number;
  /** Ignore processes that are already running when the wait starts. */
  newOnly?: boolean;
  /** Aborts the wait. */
  signal?: AbortSignal;
}

/**
 * Waits until a process named `name` runs and returns it (at once when one
 * already runs, unless `newOnly`). Throws a `timeout` HeapshiftError when
 * none appears in time.
 *
 * @example Wait for a game to start, then inject into it
 * ```ts
 * import { inject, waitForProcess } from "@heapshift/heapshift";
 * const game = await waitForProcess("game.exe", { timeout: 60_000 });
 * await inject(game.pid, "build/heapshift.dll");
 * ```
 */
export async function waitForProcess(
  name: string,
  options: WaitForProcessOptions = {},
): Promise<ProcessInfo> {
  const timeout = options.timeout ?? 30_000;
  const interval = options.interval ?? 50;
  const deadline = Date.now() + timeout;
  const before = options.newOnly
    ? new Set(findProcesses(name).map((p) => p.pid))
    : new Set<number>();
  for (;;) {
    options.signal?.throwIfAborted();
    const found = findProcesses(name).find((p) => !before.has(p.pid));
    if (found) return found;
    if (Date.now() >= deadline) {
      throw new HeapshiftError(
        "timeout",
        `No process named ${name} appeared within ${timeout} ms`,
      );
    }
    await new Promise((r) => setTimeout(r, interval));
  }
}

/**
 * The architecture of process `pid`: `x64`, or `x86` for a 32-bit program
 * (run under WOW64). Throws an `unsupported` HeapshiftError for others
 * (ARM64), `not-found` when there is no such process.
 *
 * @example Is it a 32-bit program?
 * ```ts
 * import { processArch } from "@heapshift/heapshift";
 * if (processArch(1234) === "x86") console.log("needs heapshift32.dll");
 * ```
 */
export function processArch(pid: number): Arch {
  using target = openTarget(pid, {
    access: PROCESS.QUERY_LIMITED_INFORMATION,
    doing: "query the architecture of",
  });
  return target.arch;
}

/** Access {@linkcode modules} needs to read a module list. */
const LIST_ACCESS = PROCESS.QUERY_INFORMATION | PROCESS.VM_READ;

/**
 * Lists the modules loaded in process `pid`: name, path, base and size,
 * the program first. For a 32-bit process these are its 32-bit modules.
 *
 * @example Is a DLL loaded?
 * ```ts
 * import { modules } from "@heapshift/heapshift";
 * const pid = 1234;
 * const loaded = modules(pid).some((m) => m.name.toLowerCase() === "heapshift.dll");
 * ```
 */
export function modules(pid: number): ModuleInfo[] {
  const doing = "list the modules of";
  using target = openTarget(pid, { access: LIST_ACCESS, doing });
  return targetModules(target);
}

/**
 * The modules of an opened target (with QUERY_INFORMATION and VM_READ):
 * toolhelp for x64; psapi's 32-bit list for x86, because toolhelp cannot
 * list a WOW64 process's modules under Wine (error 998) and lists only
 * its 64-bit ones by default on Windows.
 */
export function targetModules(target: TargetProcess): ModuleInfo[] {
  try {
    return target.arch === "x86"
      ? processModules(target.process, LIST_MODULES.BIT32)
      : moduleEntries(target.pid);
  } catch (e) {
    throw processError(e, { pid: target.pid, doing: "list the modules of" });
  }
}

/** The module in `list` whose name or path is `nameOrPath` (any case). */
export function moduleNamed(
  list: ModuleInfo[],
  nameOrPath: string,
): ModuleInfo | undefined {
  const want = nameOrPath.toLowerCase();
  return list.find((m) =>
    m.name.toLowerCase() === want || m.path.toLowerCase() === want
  );
}

/** The module of `pid` whose name or path matches `nameOrPath`, if any. */
export function findModule(
  pid: number,
  nameOrPath: string,
): ModuleInfo | undefined {
  return moduleNamed(modules(pid), nameOrPath);
}
