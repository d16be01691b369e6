/**
 * Calling a function inside another process: a tiny stub, written into
 * the target, calls `fn(arg)` on a remote thread and stores the full
 * result and the thread's `GetLastError` where we can read them (the
 * thread exit code would only give 32 bits and no error); asked to, it
 * then calls an export of the module `fn` returned, on the same thread. x64 targets get
 * x64 code; 32-bit (WOW64) targets get x86 code, started at a 32-bit
 * address like any thread of theirs.
 *
 * @module
 */

import type { Handle } from "./handle.ts";
import { PAGE, RemoteMemory } from "./memory.ts";
import { procAddress } from "./loader.ts";
import { MACHINE, waitSignaled } from "./process.ts";
import { createRemoteThread, threadExitCode } from "./thread.ts";
import { ERROR, Win32Error } from "./win32_error.ts";
import { kernel32 } from "./library.ts";

/** What a remote call returned. */
export interface RemoteResult {
  /** The function's 64-bit return value (RAX). */
  value: bigint;
  /** `GetLastError()` in the remote thread right after the call. */
  lastError: number;
  /**
   * `false` when the target forbids dynamic code (Arbitrary Code Guard),
   * so no stub could run: `value` is then only the low 32 bits (the
   * thread's exit code) and `lastError` is 0 (unknown).
   */
  complete: boolean;
  /**
   * `fn` returned: `false` when the thread ended before that (from
   * outside: ExitProcess, or something in the target that ends threads it
   * did not start), and `value` and `lastError` are then 0. Always `true`
   * without the stub (only the thread's end is known).
   */
  returned: boolean;
  /** With {@linkcode CallOptions.then}: what became of the second call. */
  then?: ThenResult;
}

/** The second call of {@linkcode CallOptions.then}. */
export interface ThenResult {
  /**
   * The module exports the function and the thread called it, or is still
   * on its way to (it may then find no such export).
   */
  called: boolean;
  /** It returned within its time (`value` is then its result). */
  returned: boolean;
  /** What it returned: RAX on x64 (only its low half for an `int`), EAX on
   * x86. */
  value: bigint;
}

/**
 * {@linkcode CallOptions.then}: once `fn` has returned a module handle
 * (not 0), the same thread looks up `symbol` in that module
 * (`GetProcAddress`) and calls it with 0 as its one argument (a thread
 * procedure's shape; `__stdcall` or `__cdecl` on x86).
 */
export interface ThenCall {
  /** The export, at most 63 ASCII characters. */
  symbol: string;
  /** The target's `GetProcAddress` (its 32-bit one in a WOW64 process). */
  getProcAddress: bigint;
  /** Milliseconds it may take, counted from `fn`'s return (instead of the
   * call's `timeout`). */
  timeout: number;
}

/** Raised when the remote thread did not finish in time. */
export class RemoteTimeoutError extends Error {
  override name = "RemoteTimeoutError";
  constructor(timeoutMs: number) {
    super(`the remote thread did not finish within ${timeoutMs} ms`);
  }
}

/** Options for {@linkcode callRemote}. */
export interface CallOptions {
  /** The argument, or (with `data`) an offset added to the data's address. */
  arg?: bigint;
  /** Bytes copied into the target; the call's argument is their address. */
  data?: Uint8Array;
  /** Milliseconds to wait for the call (default: forever). */
  timeout?: number;
  /**
   * `false` starts the thread at `fn` itself, as is done anyway when the
   * target forbids dynamic code: a 32-bit result and no error code.
   */
  stub?: boolean;
  /**
   * The machine `fn` runs as: `MACHINE.AMD64` (default) or `MACHINE.I386`
   * for a 32-bit function of a WOW64 process (a `__stdcall` or `__cdecl`
   * function of one argument, e.g. the 32-bit kernel32's `LoadLibraryW`).
   */
  machine?: number;
  /**
   * A second call on the same thread, which goes on whether or not the
   * caller still waits: see {@linkcode ThenCall}. Made only with
   * the stub: without one (`stub: false`, Arbitrary Code Guard) the result
   * has no `then`, and the caller makes that call itself.
   */
  then?: ThenCall;
}

const CODE_SIZE = 192;
const RESULT_OFFSET = CODE_SIZE;
/** value (8), last error (4), stage (4), the second call's value (8). */
const RESULT_SIZE = 32;
const SYMBOL_OFFSET = RESULT_OFFSET + RESULT_SIZE;
const SYMBOL_SIZE = 64;
const DATA_OFFSET = SYMBOL_OFFSET + SYMBOL_SIZE;

/** How far the stub got (the result's third field). */
const STAGE = { IN_FN: 0, FN_RETURNED: 1, IN_THEN: 2, THEN_RETURNED: 3 };

interface StubParts {
  fn: bigint;
  arg: bigint;
  result: bigint;
  /** The second call: where its name is, and GetProcAddress. */
  then?: { symbol: bigint; getProcAddress: bigint };
}

/**
 * x64: `result[0] = fn(arg); result[8] = GetLastError()`, the stage, then
 * (with `then`) the export's call. RBX, callee-saved, keeps fn's result.
 */
function stub64(
  { fn, arg, result, then, getLastError }: StubParts & {
    getLastError: bigint;
  },
): Uint8Array {
  const code: number[] = [];
  const imm64 = (v: bigint) => {
    for (let i = 0n; i < 8n; i++) code.push(Number((v >> (8n * i)) & 0xffn));
  };
  const stage = (n: number) => {
    code.push(0x48, 0xb9), imm64(result); // mov rcx, result
    code.push(0xc7, 0x41, 0x0c, n, 0, 0, 0); // mov dword [rcx+12], n
  };
  const jzDone: number[] = [];
  code.push(0x53); // push rbx
  code.push(0x48, 0x83, 0xec, 0x20); // sub rsp, 0x20 (shadow space, align)
  code.push(0x48, 0xb9), imm64(arg); // mov rcx, arg
  code.push(0x48, 0xb8), imm64(fn); // mov rax, fn
  code.push(0xff, 0xd0); // call rax
  code.push(0x48, 0x89, 0xc3); // mov rbx, rax
  code.push(0x48, 0xb8), imm64(getLastError); // mov rax, GetLastError
  code.push(0xff, 0xd0); // call rax
  code.push(0x48, 0xb9), imm64(result); // mov rcx, result
  code.push(0x48, 0x89, 0x19); // mov [rcx], rbx
  code.push(0x89, 0x41, 0x08); // mov [rcx+8], eax
  stage(STAGE.FN_RETURNED);
  if (then) {
    code.push(0x48, 0x85, 0xdb); // test rbx, rbx
    code.push(0x74, 0), jzDone.push(code.length - 1); // jz done
    code.push(0x48, 0x89, 0xd9); // mov rcx, rbx
    code.push(0x48, 0xba), imm64(then.symbol); // mov rdx, symbol
    code.push(0x48, 0xb8), imm64(then.getProcAddress); // mov rax, GetProcAddress
    code.push(0xff, 0xd0); // call rax
    code.push(0x48, 0x85, 0xc0); // test rax, rax
    code.push(0x74, 0), jzDone.push(code.length - 1); // jz done
    code.push(0x48, 0x89, 0xc3); // mov rbx, rax
    stage(STAGE.IN_THEN);
    code.push(0x31, 0xc9); // xor ecx, ecx
    code.push(0xff, 0xd3); // call rbx
    code.push(0x48, 0xb9), imm64(result); // mov rcx, result
    code.push(0x48, 0x89, 0x41, 0x10); // mov [rcx+16], rax
    code.push(0xc7, 0x41, 0x0c, STAGE.THEN_RETURNED, 0, 0, 0); // stage
  }
  for (const at of jzDone) code[at] = code.length - (at + 1); // done:
  code.push(0x31, 0xc0); // xor eax, eax
  code.push(0x48, 0x83, 0xc4, 0x20); // add rsp, 0x20
  code.push(0x5b); // pop rbx
  code.push(0xc3); // ret
  if (code.length > CODE_SIZE) throw new Error("remote stub too large");
  return Uint8Array.from(code);
}

/**
 * x86 thread procedure (`__stdcall`, one parameter, ignored): the same
 * stores. ESP is restored from EBP after each call, so `fn` and the second
 * call may be `__stdcall` or `__cdecl`; the error is read from the 32-bit
 * TEB (`LastErrorValue` at fs:[0x34]), so no 32-bit `GetLastError` has to
 * be found. EBX, callee-saved, keeps fn's result.
 */
function stub32({ fn, arg, result, then }: StubParts): Uint8Array {
  const code: number[] = [];
  const imm32 = (v: bigint) => {
    for (let i = 0n; i < 4n; i++) code.push(Number((v >> (8n * i)) & 0xffn));
  };
  const resetEsp = () => code.push(0x8d, 0x65, 0xfc); // lea esp, [ebp-4]
  const stage = (n: number) => {
    code.push(0xb9), imm32(result); // mov ecx, result
    code.push(0xc7, 0x41, 0x0c, n, 0, 0, 0); // mov dword [ecx+12], n
  };
  const jzDone: number[] = [];
  code.push(0x55); // push ebp
  code.push(0x89, 0xe5); // mov ebp, esp
  code.push(0x53); // push ebx
  code.push(0x68), imm32(arg); // push arg
  code.push(0xb8), imm32(fn); // mov eax, fn
  code.push(0xff, 0xd0); // call eax
  resetEsp();
  code.push(0x89, 0xc3); // mov ebx, eax
  code.push(0x64, 0x8b, 0x15), imm32(0x34n); // mov edx, fs:[0x34]
  code.push(0xb9), imm32(result); // mov ecx, result
  code.push(0x89, 0x01); // mov [ecx], eax (the high half stays 0)
  code.push(0x89, 0x51, 0x08); // mov [ecx+8], edx
  stage(STAGE.FN_RETURNED);
  if (then) {
    code.push(0x85, 0xdb); // test ebx, ebx
    code.push(0x74, 0), jzDone.push(code.length - 1); // jz done
    code.push(0x68), imm32(then.symbol); // push symbol
    code.push(0x53); // push ebx
    code.push(0xb8), imm32(then.getProcAddress); // mov eax, GetProcAddress
    code.push(0xff, 0xd0); // call eax
    resetEsp();
    code.push(0x85, 0xc0); // test eax, eax
    code.push(0x74, 0), jzDone.push(code.length - 1); // jz done
    code.push(0x89, 0xc3); // mov ebx, eax
    stage(STAGE.IN_THEN);
    code.push(0x6a, 0x00); // push 0
    code.push(0xff, 0xd3); // call ebx
    resetEsp();
    code.push(0xb9), imm32(result); // mov ecx, result
    code.push(0x89, 0x41, 0x10); // mov [ecx+16], eax
    code.push(0xc7, 0x41, 0x0c, STAGE.THEN_RETURNED, 0, 0, 0); // stage
  }
  for (const at of jzDone) code[at] = code.length - (at + 1); // done:
  code.push(0x5b); // pop ebx
  code.push(0x5d); // pop ebp
  code.push(0x31, 0xc0); // xor eax, eax
  code.push(0xc2, 0x04, 0x00); // ret 4
  if (code.length > CODE_SIZE) throw new Error("remote stub too large");
  return Uint8Array.from(code);
}

/**
 * Throws a {@linkcode Win32Error} for `call` unless `address` is reachable
 * from 32-bit code: ERROR_NOT_ENOUGH_MEMORY, as there is none below 4 GiB
 * where it was needed.
 */
function check32(address: bigint, what: { call: string; is: string }): void {
  if (address >= 0x1_0000_0000n) {
    throw new Win32Error(what.call, ERROR.NOT_ENOUGH_MEMORY, {
      text: `the ${what.is} is at 0x${
        address.toString(16)
      }, beyond 4 GiB: not reachable from the 32-bit target`,
    });
  }
}

const FUNCTION = { call: "CreateRemoteThread", is: "function" };
const BLOCK = { call: "VirtualAllocEx", is: "remote block" };

/**
 * Calls `fn(arg)` in `process` on a new remote thread and waits for it.
 * The remote block is freed afterwards, except on timeout (the thread may
 * still be running in it), when {@linkcode RemoteTimeoutError} is thrown.
 */
export async function callRemote(
  process: Handle,
  fn: bigint,
  options: CallOptions = {},
): Promise<RemoteResult> {
  const data = options.data ?? new Uint8Array(0);
  const size = DATA_OFFSET + data.byteLength;
  const memory = new RemoteMemory(process);
  const x86 = options.machine === MACHINE.I386;
  if (x86) check32(fn, FUNCTION);
  if (options.stub === false) {
    return await callDirect(memory, { process, fn, ...options });
  }
  const block = memory.tryAlloc(size, { protect: PAGE.EXECUTE_READWRITE });
  if (block === 0n) {
    const code = kernel32().GetLastError();
    if (code !== ERROR.DYNAMIC_CODE_BLOCKED) {
      throw new Win32Error("VirtualAllocEx", code);
    }
    return await callDirect(memory, { process, fn, ...options });
  }
  let keep = false;
  try {
    if (x86) check32(block + BigInt(size), BLOCK);
    const arg = options.data
      ? block + BigInt(DATA_OFFSET) + (options.arg ?? 0n)
      : options.arg ?? 0n;
    const image = new Uint8Array(size);
    const then = options.then;
    if (then) {
      const name = new TextEncoder().encode(then.symbol);
      if (name.byteLength >= SYMBOL_SIZE || /[^\x20-\x7e]/.test(then.symbol)) {
        throw new RangeError(
          `export name too long or not ASCII: ${then.symbol}`,
        );
      }
      image.set(name, SYMBOL_OFFSET);
      if (x86) check32(then.getProcAddress, FUNCTION);
    }
    const parts = {
      fn,
      arg,
      result: block + BigInt(RESULT_OFFSET),
      then: then && {
        symbol: block + BigInt(SYMBOL_OFFSET),
        getProcAddress: then.getProcAddress,
      },
    };
    image.set(
      x86 ? stub32(parts) : stub64({
        ...parts,
        getLastError: procAddress("kernel32.dll", "GetLastError"),
      }),
    );
    image.set(data, DATA_OFFSET);
    memory.write(block, image);
    memory.flush(block, CODE_SIZE);
    using thread = createRemoteThread(process, block);
    const timeout = options.timeout ?? Infinity;
    const read = () =>
      new DataView(
        memory.read(block + BigInt(RESULT_OFFSET), RESULT_SIZE).buffer,
      );
    // Kept unless the thread is known to have ended, also if a read fails.
    keep = true;
    const ended = await waitStub(thread, {
      timeout,
      then: then && { timeout: then.timeout, stage: () => stageOf(read()) },
    });
    keep = !ended;
    let out = read();
    const stage = stageOf(out);
    // The stub stores the stage after what it describes: read again, so
    // that no copy shows the stage without the value.
    if (stage >= STAGE.FN_RETURNED) out = read();
    // (A thread that ended before it stored anything was ended from
    // outside: value and error read as 0, and `returned` says so.)
    if (!ended && stage < STAGE.FN_RETURNED) {
      throw new RemoteTimeoutError(timeout);
    }
    return {
      value: out.getBigUint64(0, true),
      lastError: out.getUint32(8, true),
      complete: true,
      returned: stage >= STAGE.FN_RETURNED,
      ...(then
        ? {
          then: {
            // A thread still on its way (in GetProcAddress) will call it.
            called: stage >= STAGE.IN_THEN ||
              (!ended && stage === STAGE.FN_RETURNED &&
                out.getBigUint64(0, true) !== 0n),
            returned: stage === STAGE.THEN_RETURNED,
            value: stage === STAGE.THEN_RETURNED
              ? out.getBigUint64(16, true)
              : 0n,
          },
        }
        : {}),
    };
  } finally {
    if (!keep) freeQuietly(memory, block);
  }
}

function stageOf(out: DataView): number {
  return out.getUint32(12, true);
}

/**
 * Waits for the stub's thread: TRUE once it has ended. With `then`, once
 * `fn` has returned (the stage the stub stores) the wait ends at most
 * `then.timeout` ms later, instead of after `timeout`.
 */
async function waitStub(
  thread: Handle,
  wait: { timeout: number; then?: { timeout: number; stage: () => number } },
): Promise<boolean> {
  const then = wait.then;
  let thenDeadline: number | undefined;
  return await waitSignaled(thread, wait.timeout, {
    until: then && (() => {
      if (
        thenDeadline === undefined &&
        stageOrUnknown(then.stage) >= STAGE.FN_RETURNED
      ) {
        thenDeadline = Date.now() + then.timeout;
      }
      return thenDeadline;
    }),
  });
}

/** The stub's stage, or -1 if the target cannot be read (it may be ending:
 * the thread's end then says more). */
function stageOrUnknown(stage: () => number): number {
  try {
    return stage();
  } catch {
    return -1;
  }
}

/** Best-effort cleanup: the target may have exited meanwhile. */
function freeQuietly(memory: RemoteMemory, block: bigint): void {
  try {
    memory.free(block);
  } catch { /* the process is gone, and its memory with it */ }
}

/** Without a stub: the thread starts at `fn` itself; 32-bit result only. */
async function callDirect(
  memory: RemoteMemory,
  call: CallOptions & { process: Handle; fn: bigint },
): Promise<RemoteResult> {
  const block = call.data ? memory.alloc(call.data.byteLength) : 0n;
  let keep = false;
  try {
    if (call.machine === MACHINE.I386) check32(block, BLOCK);
    if (call.data) memory.write(block, call.data);
    using thread = createRemoteThread(call.process, call.fn, {
      parameter: call.data ? block + (call.arg ?? 0n) : call.arg ?? 0n,
    });
    const timeout = call.timeout ?? Infinity;
    if (!(await waitSignaled(thread, timeout))) {
      keep = true;
      throw new RemoteTimeoutError(timeout);
    }
    return {
      value: BigInt(threadExitCode(thread)),
      lastError: 0,
      complete: false,
      returned: true,
    };
  } finally {
    if (block !== 0n && !keep) freeQuietly(memory, block);
  }
}
