/**
 * When a process was created, asked by its pid (internal): what tells an
 * instance apart from a later one given the same pid.
 *
 * @module
 */

import { openProcess, PROCESS, processCreationTime } from "../ffi/mod.ts";

/**
 * When process `pid` was created; undefined when it cannot be opened (gone,
 * or refused) or asked. `options.access`: the rights to open it with
 * (default PROCESS_QUERY_LIMITED_INFORMATION, which is what the question
 * needs).
 */
export function createdAt(
  pid: number,
  options: { access?: number } = {},
): bigint | undefined {
  try {
    using process = openProcess(
      pid,
      options.access ?? PROCESS.QUERY_LIMITED_INFORMATION,
    );
    return processCreationTime(process);
  } catch {
    return undefined;
  }
}
