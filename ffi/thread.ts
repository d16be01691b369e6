/**
 * Threads in another process: create one at a remote address, read its
 * exit code; list a process's threads' (toolhelp.ts) and ask where one
 * began.
 *
 * @module
 */

import { checkBool, fail, Win32Error } from "./win32_error.ts";
import { Handle } from "./handle.ts";
import { kernel32 } from "./library.ts";
import { ntQueryInformationThread } from "./ntdll.ts";

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

/** `GetProcessIdOfThread`: the process a thread belongs to. */
export function threadProcessId(thread: Handle): number {
  const pid = kernel32().GetProcessIdOfThread(thread.raw);
  if (pid === 0) fail("GetProcessIdOfThread");
  return pid;
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

/** Thread access rights. */
export const THREAD = {
  QUERY_INFORMATION: 0x0040,
} as const;

/** `OpenThread(access, FALSE, tid)`. */
export function openThread(tid: number, access: number): Handle {
  const h = kernel32().OpenThread(access, 0, tid);
  if (h === null) fail("OpenThread");
  return new Handle(h);
}

const THREAD_QUERY_SET_WIN32_START_ADDRESS = 9;

/**
 * Where a thread began: the start routine its creator gave
 * (`CreateThread`'s, or the CRT's for `_beginthreadex`), as
 * `NtQueryInformationThread(ThreadQuerySetWin32StartAddress)` reports it.
 * The thread needs `THREAD.QUERY_INFORMATION`.
 */
export function threadStartAddress(thread: Handle): bigint {
  const out = new Uint8Array(8);
  const code = ntQueryInformationThread(
    thread.raw,
    THREAD_QUERY_SET_WIN32_START_ADDRESS,
    out,
  );
  if (code !== 0) {
    throw new Win32Error("NtQueryInformationThread", code);
  }
  return new DataView(out.buffer).getBigUint64(0, true);
}
