/**
 * Checks of what a JavaScript caller (no type checks there) passes to the
 * API: a `bad-argument` {@linkcode HeapshiftError} naming what was being
 * done, before anything is read or started (internal).
 *
 * @module
 */

import { HeapshiftError } from "./heapshift_error.ts";

/** What `value` is, for a message: `null`, `an array`, `a number`, … */
export function typeName(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  const t = typeof value;
  if (t === "undefined") return "undefined";
  if (t === "object") return "an object";
  return `${/^[aeiou]/.test(t) ? "an" : "a"} ${t}`;
}

/** Throws unless `path` is a non-empty string. */
export function checkPath(path: unknown, doing: string): void {
  if (typeof path === "string" && path !== "") return;
  throw new HeapshiftError(
    "bad-argument",
    `Cannot ${doing}: the path must be a string, not ${
      path === "" ? "an empty string" : typeName(path)
    }`,
  );
}

/** Throws unless `options` is an object (not null, not an array). */
export function checkOptions(options: unknown, doing: string): void {
  if (
    typeof options === "object" && options !== null && !Array.isArray(options)
  ) return;
  throw new HeapshiftError(
    "bad-argument",
    `Cannot ${doing}: the options must be an object, not ${typeName(options)}`,
  );
}
