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

/** What an option's value may be, for {@linkcode checkOptionTypes}. */
export type OptionType =
  | "boolean"
  | "string"
  | "string-or-false"
  | "string-or-number"
  | "AbortSignal"
  | "function";

const OPTION_TYPES: Record<
  OptionType,
  { is: (v: unknown) => boolean; says: string }
> = {
  boolean: { is: (v) => typeof v === "boolean", says: "true or false" },
  string: { is: (v) => typeof v === "string", says: "a string" },
  "string-or-false": {
    is: (v) => typeof v === "string" || v === false,
    says: "a string or false",
  },
  "string-or-number": {
    is: (v) => typeof v === "string" || typeof v === "number",
    says: "a string or a number",
  },
  AbortSignal: { is: (v) => v instanceof AbortSignal, says: "an AbortSignal" },
  function: { is: (v) => typeof v === "function", says: "a function" },
};

/**
 * Throws unless each option named in `options.types` is absent (undefined)
 * or of its type: a value from JavaScript or a JSON file would otherwise
 * fail deep inside as a TypeError, or be taken for what it is not (a
 * string is truthy: `force: "false"` would force).
 */
export function checkOptionTypes(
  values: object,
  options: { types: Record<string, OptionType>; doing: string },
): void {
  for (const [key, type] of Object.entries(options.types)) {
    const value = (values as Record<string, unknown>)[key];
    if (value === undefined || OPTION_TYPES[type].is(value)) continue;
    throw new HeapshiftError(
      "bad-argument",
      `Cannot ${options.doing}: ${key} must be ${
        OPTION_TYPES[type].says
      }, not ${typeName(value)}`,
    );
  }
}
