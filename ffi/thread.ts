/**
 * Threads in another process: create one at a remote address, read its
 * exit code.
 *
 * @module
 */

import { checkBool, fail } from "./win32_error.ts";
import { Handle } from "./handle.ts";
import { kernel32 } from "./library.ts";

/** `CreateRemoteThread` at `start` with `options.parameter` (default 0). */
export function createRemoteThread(
  process: Handle,
  start: bigint,
  options: { parameter?: bigint } = {},
): Handle {
  const tid = new Uint32Array(1);
  const h = kernel32().CreateRemoteThread(
    process.raw,
    null,
    0n,
    start,
    options.parameter ?? 0n,
    0,
    tid,
  );
  if (h === null) fail("CreateRemoteThread");
  return new Handle(h);
}

/** `GetExitCodeThread` (only 32 bits; 259 = still running). */
export function threadExitCode(thread: Handle): number {
  const code = new Uint32Array(1);
  checkBool(
    "GetExitCodeThread",
    kernel32().GetExitCodeThread(thread.raw, code),
  );
  return code[0];
}

/** `ResumeThread`; returns the previous suspend count. */
export function resumeThread(thread: Handle): number {
  const r = kernel32().ResumeThread(thread.raw);
  if (r === 0xffff_ffff) fail("ResumeThread");
  return r;
}
