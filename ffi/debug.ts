/**
 * The debugger channel: `OutputDebugStringA`. Under Wine its text also
 * reaches the process's unix stderr when the `debugstr` channel is on,
 * interleaved in order with Wine's other reports (the Windows suite marks
 * its tests' boundaries this way).
 *
 * @module
 */

import { kernel32 } from "./library.ts";
import { ansi } from "./strings.ts";

/** `OutputDebugStringA(text)`: shown by an attached debugger, if any. */
export function outputDebugString(text: string): void {
  kernel32().OutputDebugStringA(ansi(text));
}
