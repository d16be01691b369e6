/**
 * What a process's exit code says about how it ended (internal).
 *
 * @module
 */

/** How a console program that does not handle Ctrl+C ends: no crash. */
const STATUS_CONTROL_C_EXIT = 0xC000013A;

/** Names of the NTSTATUS codes crashed processes usually end with. */
const CRASH_NAMES: ReadonlyMap<number, string> = new Map([
  [0xC0000005, "access violation"],
  [0xC0000409, "stack buffer overrun / fail-fast"],
  [0xC0000374, "heap corruption"],
  [0xC00000FD, "stack overflow"],
]);

/**
 * The crash behind exit code `code`, e.g. `0xC0000005, access violation`
 * (the hex code alone when its name is not known), or undefined for an
 * ordinary exit code. An unhandled exception or a fail-fast ends a process
 * with its NTSTATUS error code (0xC0000000 to 0xC0FFFFFF), which a program
 * does not return on purpose (Ctrl+C's 0xC000013A aside).
 */
export function crashStatus(code: number): string | undefined {
  const status = code >>> 0;
  // Error severity with a small facility: exit(-1) is 0xFFFFFFFF.
  if (status < 0xC0000000 || status > 0xC0FFFFFF) return undefined;
  if (status === STATUS_CONTROL_C_EXIT) return undefined;
  const hex = `0x${status.toString(16).toUpperCase().padStart(8, "0")}`;
  const name = CRASH_NAMES.get(status);
  return name ? `${hex}, ${name}` : hex;
}
