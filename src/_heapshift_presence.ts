// Whether a process has heapshift loaded (internal): a second copy under
// another name stays idle and pins itself.

import { HeapshiftError } from "./heapshift_error.ts";
import { stats } from "./live_stats.ts";

/**
 * Whether process `pid` has heapshift loaded: its stats block exists, also
 * one that cannot be read (not initialised yet while heapshift loads, or
 * of another layout: another heapshift's). False when there is none, or
 * when that cannot be told.
 */
export function hasHeapshift(pid: number): boolean {
  try {
    stats(pid);
    return true;
  } catch (e) {
    if (!(e instanceof HeapshiftError)) throw e;
    // `failed`: the block is there, but its contents are not readable.
    return e.kind === "failed";
  }
}
