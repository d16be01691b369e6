/**
 * What a new process is given: its command line, quoted the way the MSVC
 * runtime splits it, and its environment.
 *
 * @module
 */

import { HeapshiftError } from "./heapshift_error.ts";

/**
 * Quotes one argument the way the MSVC runtime splits command lines.
 *
 * @example Build a command line
 * ```ts
 * import { quoteArg } from "@heapshift/heapshift";
 * const line = ["C:\\my tools\\x.exe", 'say "hi"'].map(quoteArg).join(" ");
 * // "C:\my tools\x.exe" "say \"hi\""
 * ```
 */
export function quoteArg(arg: string): string {
  if (typeof arg !== "string") {
    const what = arg === null
      ? "null"
      : Array.isArray(arg)
      ? "an array"
      : `a value of type ${typeof arg}`;
    throw new HeapshiftError(
      "bad-argument",
      `Cannot quote an argument: it must be a string, not ${what}`,
    );
  }
  if (arg !== "" && !/[\s"]/.test(arg)) return arg;
  let out = '"';
  let slashes = 0;
  for (const c of arg) {
    if (c === "\\") {
      slashes++;
    } else if (c === '"') {
      out += "\\".repeat(2 * slashes + 1) + '"';
      slashes = 0;
    } else {
      out += "\\".repeat(slashes) + c;
      slashes = 0;
    }
  }
  return out + "\\".repeat(2 * slashes) + '"';
}
/**
 * The current environment with `extra` added; a name given in another case
 * replaces the current variable (Windows names are case-insensitive).
 */
export function mergeEnv(
  extra: Record<string, string>,
): Record<string, string> {
  const out: Record<string, string> = {};
  const keys = new Map<string, string>();
  for (
    const [k, v] of [
      ...Object.entries(Deno.env.toObject()),
      ...Object.entries(extra),
    ]
  ) {
    const prev = keys.get(k.toUpperCase());
    if (prev !== undefined) delete out[prev];
    keys.set(k.toUpperCase(), k);
    out[k] = v;
  }
  return out;
}
