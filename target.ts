/**
 * Opening a target process with errors people understand (internal).
 *
 * @module
 */

import { HeapshiftError } from "./errors.ts";
import {
  ERROR,
  type Handle,
  MACHINE,
  openProcess,
  processMachine,
  Win32Error,
} from "./ffi/mod.ts";

const ELEVATION_HINT =
  "it may belong to another user or run elevated; run heapshift from an elevated (Administrator) prompt";

/** Maps a Win32Error about process `pid` to a {@linkcode HeapshiftError}. */
export function processError(
  e: unknown,
  context: { pid: number; doing: string },
): unknown {
  const { pid, doing } = context;
  if (!(e instanceof Win32Error)) return e;
  if (e.code === ERROR.INVALID_PARAMETER) {
    return new HeapshiftError(
      "not-found",
      `Cannot ${doing} process ${pid}: no such process`,
      { cause: e },
    );
  }
  if (e.code === ERROR.ACCESS_DENIED) {
    return new HeapshiftError(
      "access-denied",
      `Cannot ${doing} process ${pid}: access denied (${ELEVATION_HINT})`,
      { cause: e },
    );
  }
  return new HeapshiftError(
    "failed",
    `Cannot ${doing} process ${pid}: ${e.message}`,
    { cause: e },
  );
}

/** The error for a target whose machine heapshift does not support. */
export function unsupportedMachine(
  pid: number,
  machine: number,
): HeapshiftError {
  const what = machine === MACHINE.I386
    ? "a 32-bit (x86) process"
    : machine === MACHINE.ARM64
    ? "an ARM64 process"
    : `a process of machine type 0x${machine.toString(16)}`;
  return new HeapshiftError(
    "unsupported",
    `Process ${pid} is ${what}: heapshift supports only 64-bit (x64) targets for now`,
  );
}

/** Throws a `not-found` HeapshiftError unless `pid` can be a process id. */
export function checkPid(pid: number, doing: string): void {
  if (!Number.isInteger(pid) || pid <= 0 || pid > 0xffff_ffff) {
    throw new HeapshiftError(
      "not-found",
      `Cannot ${doing} process ${pid}: not a valid process id`,
    );
  }
}

/**
 * Opens `pid` with `access` and checks it is an x64 process. The caller
 * owns (and must close) the returned handle.
 */
export function openTarget(
  pid: number,
  options: { access: number; doing: string },
): Handle {
  const { access, doing } = options;
  checkPid(pid, doing);
  let h: Handle;
  try {
    h = openProcess(pid, access);
  } catch (e) {
    throw processError(e, { pid, doing });
  }
  try {
    const m = processMachine(h);
    if (m.process !== MACHINE.AMD64) throw unsupportedMachine(pid, m.process);
    return h;
  } catch (e) {
    h.close();
    throw processError(e, { pid, doing });
  }
}
