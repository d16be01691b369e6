/**
 * This process's error mode (`SetErrorMode`), which decides whether Windows
 * shows it, and the programs it starts (they inherit it), its error boxes.
 *
 * @module
 */

import type { Handle } from "./handle.ts";
import { kernel32 } from "./library.ts";
import { acquireMutexSync, createNamedMutex, releaseMutex } from "./mutex.ts";
import { Win32Error } from "./win32_error.ts";

/** Error mode flags (`SetErrorMode`, errhandlingapi.h). */
export const SEM = {
  /**
   * No critical-error message box: the loader's "DLL not found" box and
   * other hard errors fail at once instead of waiting for a click.
   */
  FAILCRITICALERRORS: 0x1,
  /**
   * Windows Error Reporting is not started for a crash: no "stopped
   * working" box, report or dump. (A fail-fast crash, such as a detected
   * heap corruption, bypasses this and may still be reported.)
   */
  NOGPFAULTERRORBOX: 0x2,
} as const;

/** This process's error mode (`GetErrorMode`: {@linkcode SEM} flags). */
export function errorMode(): number {
  return kernel32().GetErrorMode();
}

/**
 * Sets this process's error mode (`SetErrorMode`), which the programs it
 * starts inherit; returns the one it had.
 */
export function setErrorMode(mode: number): number {
  return kernel32().SetErrorMode(mode);
}

/**
 * How long to wait for the mutex: another thread of ours holds it for one
 * CreateProcessW, milliseconds; a program of the session that took its
 * name first may hold it for good, and then we go on without it.
 */
const MUTEX_WAIT_MS = 10_000;

/**
 * Runs `fn` with this process's error mode set to `mode`, and sets it back
 * however `fn` ends. The mode is the whole process's: the calls of every
 * thread (Worker) of ours that set one go one at a time, through a mutex
 * named for this process, so that none sets back, for good, another's
 * temporary mode, nor runs `fn` under it. A mutex not had within 10 s
 * (taken first by another program of the session, which the name does
 * not keep out) is gone without, rather than the launch waiting for good.
 */
export function withErrorMode<T>(mode: number, fn: () => T): T {
  using held = takeMutex(`Local\\heapshift-error-mode-${Deno.pid}`);
  try {
    const ours = setErrorMode(mode);
    try {
      return fn();
    } finally {
      setErrorMode(ours);
    }
  } finally {
    // (cannot fail: this thread took it, and fn ran on this thread)
    if (held) releaseMutex(held);
  }
}

/**
 * The mutex `name`, taken by this thread, or undefined when there is none
 * to be had (a program that took the name first with a DACL denying us, or
 * for another kind of object) or it is held past {@linkcode MUTEX_WAIT_MS}:
 * then the caller goes on unserialised, as a single thread does.
 */
function takeMutex(name: string): Handle | undefined {
  let mutex: Handle | undefined;
  try {
    mutex = createNamedMutex(name);
    if (acquireMutexSync(mutex, MUTEX_WAIT_MS)) return mutex;
  } catch (e) {
    if (!(e instanceof Win32Error)) throw e;
  }
  mutex?.close();
  return undefined;
}
