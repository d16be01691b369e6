/**
 * The processes of the system: listed, found by name, waited for, and
 * their architecture.
 *
 * @module
 */

import type { Arch } from "./arch.ts";
import { HeapshiftError } from "./heapshift_error.ts";
import { PROCESS, processEntries, processImagePath } from "../ffi/mod.ts";
import { createdAt } from "./_created_at.ts";
import { openTarget } from "./_target.ts";
import { guard } from "./_error_kinds.ts";
import { MAX_TIMER_MS, shown, timeoutMs } from "./_timeout.ts";
import { checkOptions, checkOptionTypes, typeName } from "./_arguments.ts";

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
 * Lists the processes running on the system.
 *
 * @example List every process
 * ```ts
 * import { processes } from "@heapshift/heapshift";
 * for (const p of processes()) console.log(p.pid, p.name);
 * ```
 */
export function processes(): ProcessInfo[] {
  return guard(() =>
    processEntries().map((e) => ({
      pid: e.pid,
      parentPid: e.parentPid,
      name: e.exeFile,
      threads: e.threads,
    }))
  );
}

function sameName(exeFile: string, name: string): boolean {
  const a = exeFile.toLowerCase();
  const b = name.toLowerCase();
  return a === b || a === `${b}.exe`;
}

/**
 * Lists the processes whose executable is named `name` (case-insensitive,
 * `.exe` optional). An empty array when there is none. A path is refused
 * (`bad-argument`): to tell programs of one name apart, compare
 * {@linkcode processPath} of each.
 *
 * @example Find every notepad
 * ```ts
 * import { findProcesses } from "@heapshift/heapshift";
 * const pids = findProcesses("notepad").map((p) => p.pid);
 * ```
 */
export function findProcesses(name: string): ProcessInfo[] {
  checkName(name, "find");
  return processes().filter((p) => sameName(p.name, name));
}

/**
 * Throws a `bad-argument` HeapshiftError unless `name` is a file name: a
 * path never matches one (Windows lists only the file name), so a search
 * by it found none while the program ran, and a wait waited it out.
 */
/** Refuses what is not a process name (internal: waitAndInject's too). */
export function checkName(name: unknown, doing: string): void {
  if (typeof name === "string" && name !== "" && !/[\\/]/.test(name)) {
    return;
  }
  if (typeof name === "string" && name !== "") {
    throw new HeapshiftError(
      "bad-argument",
      `Cannot ${doing} a process by the path ${name}: processes are found by their executable's file name (${
        name.split(/[\\/]/).pop() || "game.exe"
      }); to tell programs of that name apart, compare processPath(pid) of each`,
    );
  }
  throw new HeapshiftError(
    "bad-argument",
    `Cannot ${doing} a process: the name must be an executable's file name such as game.exe, not ${
      name === "" ? "an empty string" : typeName(name)
    }`,
  );
}

/**
 * The one running process named `name`. Throws a `not-found`
 * HeapshiftError when there is none, and an `ambiguous` one naming the
 * pids when several match (pass a pid then).
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
      "ambiguous",
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
  /**
   * Give up after this many milliseconds (default 30000; 0: look once,
   * Infinity: never).
   */
  timeout?: number;
  /** Polling interval in milliseconds (default 50). */
  interval?: number;
  /**
   * Ignore processes that are already running when the wait starts (told
   * apart by their creation time: a new one given an old one's pid counts).
   */
  newOnly?: boolean;
  /**
   * Aborts the wait: the call rejects with the signal's reason (as
   * `launch` does), not with a HeapshiftError.
   */
  signal?: AbortSignal;
}

/**
 * Waits until a process named `name` runs and returns it (at once when one
 * already runs, unless `newOnly`; when several do, the first listed:
 * {@linkcode findProcesses} lists them all). Throws a `timeout`
 * HeapshiftError when none appears in time.
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
  checkName(name, "wait for");
  const doing = `wait for ${name}`;
  checkOptions(options, doing);
  checkOptionTypes(options, {
    types: { newOnly: "boolean", signal: "AbortSignal" },
    doing,
  });
  const timeout = timeoutMs(options.timeout, {
    fallback: 30_000,
    doing,
    infinite: true,
    zero: true,
  });
  // A poll that never ends, or never sleeps, is no wait.
  const interval = options.interval === undefined ? 50 : options.interval;
  if (
    !(typeof interval === "number" && Number.isFinite(interval) &&
      interval > 0 && interval <= MAX_TIMER_MS)
  ) {
    throw new HeapshiftError(
      "bad-argument",
      `Cannot ${doing}: the polling interval must be a positive number of milliseconds up to ${MAX_TIMER_MS} (a timer's limit), not ${
        shown(interval)
      }`,
    );
  }
  const deadline = Date.now() + timeout;
  const before = new Map<number, bigint | undefined>(
    options.newOnly
      ? findProcesses(name).map((p) => [p.pid, createdAt(p.pid)])
      : [],
  );
  for (;;) {
    options.signal?.throwIfAborted();
    const found = findProcesses(name).find((p) => isNewInstance(p.pid, before));
    if (found) return found;
    if (Date.now() >= deadline) {
      throw new HeapshiftError(
        "timeout",
        `No process named ${name} appeared within ${timeout} ms`,
      );
    }
    await pause(Math.min(interval, deadline - Date.now()), options.signal);
  }
}

/**
 * Whether process `pid` is none of the instances `before` (their pids, with
 * when each was created if that could be read). Windows gives an ended
 * process's pid to a new one soon after, so a pid seen before names a new
 * instance when its creation time differs: a game that Steam restarts may
 * come back under the pid it had. One whose time cannot be read is taken
 * for the one seen. `options.createdAt` reads a creation time (tests give
 * their own).
 */
export function isNewInstance(
  pid: number,
  before: ReadonlyMap<number, bigint | undefined>,
  options: { createdAt?: (pid: number) => bigint | undefined } = {},
): boolean {
  if (!before.has(pid)) return true;
  const then = before.get(pid);
  if (then === undefined) return false;
  const now = options.createdAt ? options.createdAt(pid) : createdAt(pid);
  return now !== undefined && now !== then;
}

/**
 * Sleeps `ms`, or less once `signal` aborts: a wait that polls seldom still
 * ends at its deadline and when it is aborted, not a whole interval later.
 */
function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, Math.max(ms, 0));
    signal?.addEventListener("abort", done, { once: true });
    if (signal?.aborted) done();
  });
}

/**
 * The architecture of process `pid`: `x64`, or `x86` for a 32-bit program
 * (run under WOW64). Throws an `unsupported` HeapshiftError for others
 * (ARM64, and an x64 program that ARM64 Windows emulates), `not-found`
 * when there is no such process.
 *
 * @example Is it a 32-bit program?
 * ```ts
 * import { processArch } from "@heapshift/heapshift";
 * if (processArch(1234) === "x86") console.log("needs heapshift32.dll");
 * ```
 */
export function processArch(pid: number): Arch {
  return guard(() => {
    using target = openTarget(pid, {
      access: PROCESS.QUERY_LIMITED_INFORMATION,
      doing: "query the architecture of",
    });
    return target.arch;
  });
}

/**
 * The full path of the executable process `pid` runs, as Windows names it
 * (e.g. `C:\games\game.exe`). Throws a `not-found` HeapshiftError for no
 * such process, `access-denied` when it cannot be asked.
 *
 * @example Tell two programs with the same file name apart
 * ```ts
 * import { findProcesses, processPath } from "@heapshift/heapshift";
 * for (const p of findProcesses("game.exe")) console.log(p.pid, processPath(p.pid));
 * ```
 */
export function processPath(pid: number): string {
  return guard(() => {
    using target = openTarget(pid, {
      access: PROCESS.QUERY_LIMITED_INFORMATION,
      doing: "read the executable path of",
    });
    return processImagePath(target.process);
  });
}
