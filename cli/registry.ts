/**
 * Registry values as Windows uses them: `%NAME%` references of an
 * expandable string (REG_EXPAND_SZ) expanded (the values are read with
 * `regString`, ffi/registry.ts).
 *
 * @module
 */

/** `%NAME%` references replaced by the environment's values (as Windows does). */
export function expandVars(
  text: string,
  env: (name: string) => string | undefined = (k) => Deno.env.get(k),
): string {
  return text.replace(/%([^%]+)%/g, (all, name) => env(name) ?? all);
}
