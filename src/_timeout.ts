/**
 * Timeouts given to the API, checked before anything is started or
 * touched (internal).
 *
 * @module
 */

import { HeapshiftError } from "./heapshift_error.ts";

/**
 * `value` (or `fallback` when it is undefined) as a number of milliseconds:
 * finite and positive, or (with `allowInfinite`) also 0 and Infinity; a
 * `bad-argument` error naming what was being done otherwise.
 */
export function timeoutMs(
  value: number | undefined,
  options: { fallback: number; doing: string; allowInfinite?: boolean },
): number {
  const ms = value ?? options.fallback;
  const ok = options.allowInfinite
    ? typeof ms === "number" && ms >= 0 && !Number.isNaN(ms)
    : Number.isFinite(ms) && ms > 0;
  if (!ok) {
    throw new HeapshiftError(
      "bad-argument",
      `Cannot ${options.doing}: the timeout must be a positive number of milliseconds, not ${ms}`,
    );
  }
  return ms;
}
