/**
 * Reading heapshift's live statistics from a process it runs in.
 *
 * @module
 */

import { HeapshiftError } from "./errors.ts";
import { ERROR, readSharedMemory, Win32Error } from "./ffi/mod.ts";
import { processes } from "./process.ts";
import { type HeapshiftStats, parseStats, STATS_SIZE } from "./stats_layout.ts";

/** The name of the stats block of process `pid`. */
export function statsName(pid: number): string {
  return `Local\\heapshift-${pid}`;
}

/**
 * Reads the statistics heapshift.dll publishes in process `pid` (shared
 * memory `Local\heapshift-<pid>`): its state, the hooked functions and the
 * allocation counters. Throws a `no-heapshift` HeapshiftError when the
 * process runs without heapshift, `not-found` when there is no such process.
 *
 * @example Print how many allocations mimalloc served
 * ```ts
 * import { stats } from "@heapshift/heapshift";
 * const s = stats(1234);
 * console.log(s.state, s.counters.allocs, s.counters.migrations);
 * ```
 */
export function stats(pid: number): HeapshiftStats {
  let block: Uint8Array;
  try {
    block = readSharedMemory(statsName(pid), 2 * STATS_SIZE);
  } catch (e) {
    if (e instanceof Win32Error && e.code === ERROR.FILE_NOT_FOUND) {
      if (!processes().some((p) => p.pid === pid)) {
        throw new HeapshiftError(
          "not-found",
          `Cannot read heapshift's stats of process ${pid}: no such process`,
          { cause: e },
        );
      }
      throw new HeapshiftError(
        "no-heapshift",
        `Process ${pid} has no heapshift loaded (no stats block ${
          statsName(pid)
        }); inject or launch it with heapshift.dll first`,
        { cause: e },
      );
    }
    if (e instanceof Win32Error && e.code === ERROR.ACCESS_DENIED) {
      throw new HeapshiftError(
        "access-denied",
        `Cannot read heapshift's stats of process ${pid}: access denied (it may run elevated; run heapshift from an elevated prompt)`,
        { cause: e },
      );
    }
    throw e;
  }
  return parseStats(pid, block);
}
