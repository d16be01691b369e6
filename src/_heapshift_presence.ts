// Whether a DLL file is heapshift's hook DLL, and whether a process has
// heapshift loaded (internal): a second copy under another name stays idle
// and pins itself.

import {
  DEFAULT_SYMBOL,
  FileSource,
  readExports,
  readHeaders,
} from "../pe/mod.ts";
import { HeapshiftError } from "./heapshift_error.ts";
import { stats } from "./live_stats.ts";

/** Whether the DLL at `path` exports heapshift's anchor (false if unsure). */
export function isHeapshiftDll(path: string): boolean {
  try {
    using src = FileSource.open(path);
    const exported = readExports(src, readHeaders(src))?.symbols ?? [];
    return exported.some((s) => s.name === DEFAULT_SYMBOL);
  } catch {
    return false;
  }
}

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
