/**
 * Named events: a name another process can look for while we hold it.
 *
 * @module
 */

import { checkBool, ERROR, fail, Win32Error } from "./win32_error.ts";
import { Handle } from "./handle.ts";
import { kernel32 } from "./library.ts";
import { wide } from "./strings.ts";

/** A named event that {@linkcode openOrCreateEvent} opened or created. */
export interface NamedEvent {
  handle: Handle;
  /** Whether the event existed already (it was opened, not created). */
  existed: boolean;
}

/**
 * Creates the manual-reset event `name`, unsignalled, or opens it when it
 * exists already (in whatever state it is). Throws a Win32Error from
 * `CreateEventW`.
 */
export function openOrCreateEvent(name: string): NamedEvent {
  const k = kernel32();
  const raw = k.CreateEventW(null, 1, 0, wide(name));
  if (raw === null) fail("CreateEventW");
  const existed = k.GetLastError() === ERROR.ALREADY_EXISTS;
  return { handle: new Handle(raw), existed };
}

/**
 * Creates (or opens, when it exists already) the manual-reset event `name`,
 * unsignalled; it exists until the last handle to it is closed. Throws a
 * Win32Error from `CreateEventW`.
 */
export function createNamedEvent(name: string): Handle {
  return openOrCreateEvent(name).handle;
}

const SYNCHRONIZE = 0x0010_0000;
const EVENT_MODIFY_STATE = 0x0002;

/**
 * Opens the existing event `name` to wait on and set or reset it;
 * `undefined` when there is none. Throws a Win32Error from `OpenEventW`
 * otherwise (e.g. access denied, or the name is another kind of object).
 */
export function openNamedEvent(name: string): Handle | undefined {
  const k = kernel32();
  const raw = k.OpenEventW(SYNCHRONIZE | EVENT_MODIFY_STATE, 0, wide(name));
  if (raw !== null) return new Handle(raw);
  const code = k.GetLastError();
  if (code === ERROR.FILE_NOT_FOUND) return undefined;
  throw new Win32Error("OpenEventW", code);
}

/** Signals the event `event` (`SetEvent`). */
export function setEvent(event: Handle): void {
  checkBool("SetEvent", kernel32().SetEvent(event.raw));
}

/** Unsignals the event `event` (`ResetEvent`). */
export function resetEvent(event: Handle): void {
  checkBool("ResetEvent", kernel32().ResetEvent(event.raw));
}
