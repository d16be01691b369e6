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

// A remote thread's stack: 1 MiB reserved (MSVC's default, as the DLL's
// trimmer thread), not the program's default, which its header may set to
// tens of MiB: a 32-bit program late in its life may have no hole that
// large, and CreateRemoteThread failed with error 8 (tests/win/
// dll_vafull_test.ts). LoadLibraryW and every DLL's thread attach run on it.
/** The address space a remote thread's stack reserves (1 MiB). */
export const REMOTE_STACK_RESERVE = 1 << 20;
const STACK_RESERVE = BigInt(REMOTE_STACK_RESERVE);
const STACK_SIZE_PARAM_IS_A_RESERVATION = 0x10000;

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
    STACK_RESERVE,
    start,
    options.parameter ?? 0n,
    STACK_SIZE_PARAM_IS_A_RESERVATION,
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
  SUSPEND_RESUME: 0x0002,
  GET_CONTEXT: 0x0008,
  QUERY_INFORMATION: 0x0040,
} as const;

/**
 * Suspends `thread` (`SuspendThread`; `Wow64SuspendThread` for a 32-bit
 * one where there is one, as Microsoft advises before reading its 32-bit
 * context) until the returned object is disposed, which resumes it. Needs
 * `THREAD.SUSPEND_RESUME`.
 */
export function suspendThread(
  thread: Handle,
  options: { wow64?: boolean } = {},
): Disposable {
  const k = kernel32();
  const wow64 = options.wow64 && k.Wow64SuspendThread;
  const r = wow64 ? wow64(thread.raw) : k.SuspendThread(thread.raw);
  if (r === 0xffff_ffff) fail(wow64 ? "Wow64SuspendThread" : "SuspendThread");
  return { [Symbol.dispose]: () => void resumeThread(thread) };
}

/** Where a suspended thread is: its instruction and stack pointers. */
export interface ThreadPosition {
  ip: bigint;
  sp: bigint;
}

// CONTEXT (x64): ContextFlags at 0x30, Rsp 0x98, Rip 0xF8; 1232 bytes,
// 16-byte aligned. WOW64_CONTEXT: ContextFlags 0, Eip 0xB8, Esp 0xC4; 716.
const CONTEXT_CONTROL = 0x0010_0001;
const WOW64_CONTEXT_CONTROL = 0x0001_0001;

/**
 * The instruction and stack pointers of a suspended `thread`
 * (`GetThreadContext`, or `Wow64GetThreadContext` for a thread of a 32-bit
 * process). Needs `THREAD.GET_CONTEXT`.
 */
export function threadPosition(
  thread: Handle,
  options: { wow64?: boolean } = {},
): ThreadPosition {
  if (options.wow64) {
    const ctx = new Uint8Array(716);
    const v = new DataView(ctx.buffer);
    v.setUint32(0, WOW64_CONTEXT_CONTROL, true);
    checkBool(
      "Wow64GetThreadContext",
      kernel32().Wow64GetThreadContext(thread.raw, ctx),
    );
    return {
      ip: BigInt(v.getUint32(0xb8, true)),
      sp: BigInt(v.getUint32(0xc4, true)),
    };
  }
  const raw = new Uint8Array(1232 + 16);
  const address = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(raw)));
  const pad = Number((16n - (address & 15n)) & 15n);
  const ctx = raw.subarray(pad, pad + 1232);
  const v = new DataView(ctx.buffer, ctx.byteOffset, ctx.byteLength);
  v.setUint32(0x30, CONTEXT_CONTROL, true);
  checkBool("GetThreadContext", kernel32().GetThreadContext(thread.raw, ctx));
  return { ip: v.getBigUint64(0xf8, true), sp: v.getBigUint64(0x98, true) };
}

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
