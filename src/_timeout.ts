/**
 * Timeouts given to the API, checked before anything is started or
 * touched (internal).
 *
 * @module
 */

import { HeapshiftError } from "./heapshift_error.ts";

/** The longest wait a timer can hold (a longer one fires at once). */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * `value` (or `fallback` when it is undefined) as a number of milliseconds:
 * positive and finite (at most {@linkcode MAX_TIMER_MS}, about 24.8 days:
 * a longer one is cut to that), or also Infinity (`infinite`: no limit) and
 * 0 (`zero`: look once); a `bad-argument` error naming what was being done
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
  return Number.isFinite(ms) ? Math.min(ms, MAX_TIMER_MS) : ms;
}
