/**
 * A program started by {@linkcode launch}: wait for it, read its exit
 * code, kill it, release it.
 *
 * @module
 */

import type { Arch } from "./arch.ts";
import { HeapshiftError } from "./heapshift_error.ts";
import {
  ERROR,
  type Handle,
  isSignaled,
  processCreationTime,
  processExitCode,
  terminateProcess,
  waitSignaled,
  Win32Error,
} from "../ffi/mod.ts";
import type { TargetProcess } from "./_target.ts";
import { guard, guardAsync, heapshiftError } from "./_error_kinds.ts";
import { timeoutMs } from "./_timeout.ts";
import { checkOptions } from "./_arguments.ts";
import { heldStats, holdStats, stats } from "./live_stats.ts";
import type { HeapshiftStats } from "./stats_block.ts";

/** Each LaunchedProcess as a target (its handle), for launch's own checks. */
const targets = new WeakMap<LaunchedProcess, TargetProcess>();

/** The target behind a {@linkcode LaunchedProcess} (internal). */
export function launchedTarget(launched: LaunchedProcess): TargetProcess {
  return targets.get(launched)!;
}

/**
 * Each LaunchedProcess's stats block, held so that its counts outlast the
 * program (Windows removes the block with its last handle).
 */
const statsBlocks = new WeakMap<LaunchedProcess, Handle>();

/**
 * Holds the stats block of `launched` if it has one by now (internal:
 * launch does once the DLLs are loaded). Best effort: false when it has
 * none, or it cannot be opened.
 */
export function holdLaunchedStats(launched: LaunchedProcess): boolean {
  if (statsBlocks.has(launched)) return true;
  const process = targets.get(launched)!.process;
  try {
    const block = holdStats(launched.pid, processCreationTime(process));
    if (block) statsBlocks.set(launched, block);
    return block !== undefined;
  } catch {
    return false;
  }
}

/**
 * A program started by {@linkcode launch}.
 *
 * @example Wait with a deadline, then kill
 * ```ts
 * import { HeapshiftError, launch } from "@heapshift/heapshift";
 * using proc = await launch("C:\\tools\\job.exe", { dlls: ["build/heapshift.dll"] });
 * try {
 *   console.log("exit code", await proc.wait({ timeout: 60_000 }));
 * } catch (e) {
 *   if (e instanceof HeapshiftError && e.kind === "timeout") proc.kill();
 *   else throw e;
 * }
 * ```
 */
export class LaunchedProcess implements Disposable {
  /** Its process id. */
  readonly pid: number;
  #process: Handle;

  /** @internal Wraps a process handle (use {@linkcode launch}). */
  constructor(pid: number, process: Handle, options: { arch?: Arch } = {}) {
    this.pid = pid;
    this.#process = process;
    targets.set(this, { pid, process, arch: options.arch ?? "x64" });
  }

  /**
   * Waits for the program to exit and returns its exit code. With a
   * `timeout` (ms; 0: look once; default Infinity: no limit), throws a
   * `timeout` HeapshiftError if it is still running.
   */
  wait(options: { timeout?: number } = {}): Promise<number> {
    return guardAsync(async () => {
      checkOptions(options, `wait for process ${this.pid}`);
      const timeout = timeoutMs(options.timeout, {
        fallback: Infinity,
        infinite: true,
        zero: true,
        doing: `wait for process ${this.pid}`,
      });
      this.#open("wait for");
      let exited: boolean;
      try {
        exited = await waitSignaled(this.#process, timeout);
      } catch (e) {
        this.#open("wait for"); // closed meanwhile: say so
        throw e;
      }
      if (!exited) {
        throw new HeapshiftError(
          "timeout",
          `Process ${this.pid} did not exit within ${options.timeout} ms`,
        );
      }
      return processExitCode(this.#process);
    });
  }

  /** The exit code, or `undefined` while the program runs. */
  exitCode(): number | undefined {
    return guard(() => {
      this.#open("read the exit code of");
      return isSignaled(this.#process)
        ? processExitCode(this.#process)
        : undefined;
    });
  }

  /**
   * Terminates the program (no effect once it has exited). `exitCode` is
   * its exit code: 0 to 0xFFFFFFFF, or a negative 32-bit one (-1 is
   * 0xFFFFFFFF).
   */
  kill(exitCode = 1): void {
    if (
      !Number.isInteger(exitCode) || exitCode < -(2 ** 31) ||
      exitCode >= 2 ** 32
    ) {
      throw new HeapshiftError(
        "bad-argument",
        `Cannot kill process ${this.pid}: the exit code must be a 32-bit integer, not ${exitCode}`,
      );
    }
    this.#open("kill");
    if (this.exitCode() !== undefined) return;
    try {
      terminateProcess(this.#process, exitCode >>> 0);
    } catch (e) {
      // Already exited: TerminateProcess says access denied.
      if (e instanceof Win32Error && e.code === ERROR.ACCESS_DENIED) return;
      throw heapshiftError(e);
    }
  }

  /**
   * heapshift's stats in the program, as {@linkcode stats} reads them, and
   * also once it has exited: what heapshift counted to the end (its stats
   * block, which Windows removes with the program, is held until
   * `close()`: from `launch` when heapshift is among its `dlls`, else from
   * the first call that finds it, as for a program patched to import
   * heapshift or one it was injected into later). Throws a `no-heapshift`
   * HeapshiftError while the program runs without heapshift, `not-found`
   * once it has ended without a block held.
   *
   * @example Report what heapshift counted
   * ```ts
   * import { launch } from "@heapshift/heapshift";
   * using proc = await launch("C:\\tools\\job.exe", { dlls: ["build/heapshift.dll"] });
   * const code = await proc.wait();
   * const { state, counters } = proc.stats();
   * console.log(`exit ${code}; heapshift ${state}, ${counters.allocs} allocations`);
   * ```
   */
  stats(): HeapshiftStats {
    return guard(() => {
      this.#open("read heapshift's stats of");
      if (holdLaunchedStats(this)) {
        return heldStats(this.pid, statsBlocks.get(this)!);
      }
      if (isSignaled(this.#process)) {
        throw new HeapshiftError(
          "not-found",
          `Cannot read heapshift's stats of process ${this.pid}: it has ended, and had no heapshift stats block (launch it with heapshift.dll in dlls)`,
        );
      }
      return stats(this.pid);
    });
  }

  /** Throws a `bad-argument` error once the handle is released. */
  #open(doing: string): void {
    if (this.#process.closed) {
      throw new HeapshiftError(
        "bad-argument",
        `Cannot ${doing} process ${this.pid}: this LaunchedProcess was closed (close() or the end of its using block); keep it open while you need it`,
      );
    }
  }

  /**
   * Releases the process handle and the stats block held (the program keeps
   * running).
   */
  close(): void {
    guard(() => {
      statsBlocks.get(this)?.close();
      statsBlocks.delete(this);
      this.#process.close();
    });
  }

  /** Same as {@linkcode LaunchedProcess.close}. */
  [Symbol.dispose](): void {
    this.close();
  }
}
