/**
 * Timeouts given to the API, checked before anything is started or
 * touched (internal).
 *
 * @module
 */

import { HeapshiftError } from "./heapshift_error.ts";

/**
 * `value` (or `fallback` when it is undefined) as a number of milliseconds:
 * positive and finite, or also Infinity (`infinite`: no limit) and 0
 * (`zero`: look once); a `bad-argument` error naming what was being done
 * otherwise.
 */
export function timeoutMs(
  value: number | undefined,
  options: {
    fallback: number;
    doing: string;
    infinite?: boolean;
    zero?: boolean;
  },
): number {
  const ms = value ?? options.fallback;
  const ok = typeof ms === "number" &&
    (Number.isFinite(ms)
      ? ms > 0 || (ms === 0 && !!options.zero)
      : ms === Infinity && !!options.infinite);
  if (!ok) {
    throw new HeapshiftError(
      "bad-argument",
      `Cannot ${options.doing}: the timeout must be a positive number of milliseconds, not ${ms}`,
    );
  }
  return ms;
}
