// Whether a process has heapshift loaded (internal): a second copy under
// another name stays idle and pins itself.

import { HeapshiftError } from "./heapshift_error.ts";
import { stats } from "./live_stats.ts";

/**
 * Whether process `pid` has heapshift loaded: its stats block exists
 * (false when that cannot be told).
 */
export function hasHeapshift(pid: number): boolean {
  try {
    stats(pid);
    return true;
  } catch (e) {
    if (e instanceof HeapshiftError) return false;
    throw e;
  }
}
