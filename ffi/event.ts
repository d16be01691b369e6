/**
 * Named events: a name another process can look for while we hold it.
 *
 * @module
 */

import { fail } from "./win32_error.ts";
import { Handle } from "./handle.ts";
import { kernel32 } from "./library.ts";
import { wide } from "./strings.ts";

/**
 * Creates (or opens, when it exists already) the manual-reset event `name`,
 * unsignalled; it exists until the last handle to it is closed. Throws a
 * Win32Error from `CreateEventW`.
 */
export function createNamedEvent(name: string): Handle {
  const raw = kernel32().CreateEventW(null, 1, 0, wide(name));
  if (raw === null) fail("CreateEventW");
  return new Handle(raw);
}
