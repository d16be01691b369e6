/**
 * Named mutexes: one holder at a time across processes. A mutex belongs to
 * the thread that took it (FFI calls run on the JavaScript thread that makes
 * them: the main one, or a Worker's), and is abandoned, for the next waiter
 * to take, when that thread ends.
 *
 * @module
 */

import { checkBool, fail } from "./win32_error.ts";
import { Handle } from "./handle.ts";
import { kernel32 } from "./library.ts";
import { wide } from "./strings.ts";
import { WAIT } from "./process.ts";

/**
 * Creates (or opens, when it exists already) the mutex `name`, not owned.
 * Throws a Win32Error from `CreateMutexW`.
 */
export function createNamedMutex(name: string): Handle {
  const raw = kernel32().CreateMutexW(null, 0, wide(name));
  if (raw === null) fail("CreateMutexW");
  return new Handle(raw);
}

/** WAIT_ABANDONED: the previous owner ended without releasing the mutex. */
const WAIT_ABANDONED = 0x80;

/**
 * Takes `mutex`, polling so the event loop keeps running: `true` once this
 * thread owns it (also when its previous owner ended holding it), `false`
 * after `timeoutMs`. Throws a Win32Error from `WaitForSingleObject`.
 */
export async function acquireMutex(
  mutex: Handle,
  timeoutMs: number,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  let delay = 1;
  for (;;) {
    if (acquireMutexSync(mutex, 0)) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((res) => setTimeout(res, delay));
    delay = Math.min(delay * 2, 25);
  }
}

/**
 * Takes `mutex`, blocking this thread up to `timeoutMs` (for callers that
 * must stay synchronous): `true` once this thread owns it (also when its
 * previous owner ended holding it), `false` after `timeoutMs`. Throws a
 * Win32Error from `WaitForSingleObject`.
 */
export function acquireMutexSync(mutex: Handle, timeoutMs: number): boolean {
  const r = kernel32().WaitForSingleObject(mutex.raw, timeoutMs);
  if (r === WAIT.FAILED) fail("WaitForSingleObject");
  return r === WAIT.OBJECT_0 || r === WAIT_ABANDONED;
}

/** Releases `mutex`, which this thread owns (`ReleaseMutex`). */
export function releaseMutex(mutex: Handle): void {
  checkBool("ReleaseMutex", kernel32().ReleaseMutex(mutex.raw));
}
