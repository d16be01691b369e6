/**
 * Timeouts given to the API, checked before anything is started or
 * touched (internal).
 *
 * @module
 */

import { HeapshiftError } from "./heapshift_error.ts";
import { typeName } from "./_arguments.ts";

/** The longest wait a timer can hold (a longer one fires at once). */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * `value` (or `fallback` when it is undefined) as a number of milliseconds:
 * positive and finite (at most {@linkcode MAX_TIMER_MS}, about 24.8 days:
 * a longer one is cut to that), or also Infinity (`infinite`: no limit) and
 * 0 (`zero`: look once); a `bad-argument` error naming what was being done
 * and the value (`what`, default the timeout) otherwise.
 */
export function timeoutMs(
  value: number | undefined,
  options: {
    fallback: number;
    doing: string;
    infinite?: boolean;
    zero?: boolean;
    /** The value as said (default `the timeout`): the option given. */
    what?: string;
  },
): number {
  const ms = value === undefined ? options.fallback : value;
  const ok = typeof ms === "number" &&
    (Number.isFinite(ms)
      ? ms > 0 || (ms === 0 && !!options.zero)
      : ms === Infinity && !!options.infinite);
  if (!ok) {
    const also = [
      options.zero ? "0 (look once)" : "",
      options.infinite ? "Infinity (no limit)" : "",
    ].filter(Boolean);
    const takes = also.length === 0
      ? "a positive number of milliseconds"
      : `a positive number of milliseconds${also.length === 2 ? ", " : " or "}${
        also.join(" or ")
      }`;
    throw new HeapshiftError(
      "bad-argument",
      `Cannot ${options.doing}: ${
        options.what ?? "the timeout"
      } must be ${takes}, not ${shown(ms)}`,
    );
  }
  return Number.isFinite(ms) ? Math.min(ms, MAX_TIMER_MS) : ms;
}

/**
 * A value a JavaScript caller gave for a number, for a message: a number
 * as it is, anything else by its type (`a string ("10")`, `null`).
 */
export function shown(value: unknown): string {
  if (typeof value === "number") return String(value);
  const type = typeName(value);
  if (typeof value === "string") return `${type} (${JSON.stringify(value)})`;
  if (typeof value === "bigint") return `${type} (${value})`;
  return type;
}
