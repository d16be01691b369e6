/**
 * Processes: open by pid, query architecture, image path and protection,
 * exit codes, termination and waiting; this process's SeDebugPrivilege.
 *
 * @module
 */

import { checkBool, ERROR, fail, Win32Error } from "./win32_error.ts";
import { Handle, isInvalidHandle } from "./handle.ts";
import { kernel32 } from "./library.ts";
import { readWide, wide } from "./strings.ts";
import {
  adjustPrivilege,
  ntQueryObject,
  SE_DEBUG_PRIVILEGE,
  systemProcessSessions,
} from "./ntdll.ts";
import { withErrorMode } from "./error_mode.ts";

/** Process access rights (winnt.h). */
export const PROCESS = {
  TERMINATE: 0x0001,
  CREATE_THREAD: 0x0002,
  VM_OPERATION: 0x0008,
  DUP_HANDLE: 0x0040,
  VM_READ: 0x0010,
  VM_WRITE: 0x0020,
  QUERY_INFORMATION: 0x0400,
  QUERY_LIMITED_INFORMATION: 0x1000,
  SYNCHRONIZE: 0x0010_0000,
} as const;

/** Everything remote injection needs. */
export const INJECT_ACCESS = PROCESS.CREATE_THREAD | PROCESS.VM_OPERATION |
  PROCESS.VM_READ | PROCESS.VM_WRITE | PROCESS.QUERY_INFORMATION |
  PROCESS.SYNCHRONIZE;

/** `OpenProcess`; throws a Win32Error (87 for no such pid, 5 for denied). */
export function openProcess(pid: number, access: number): Handle {
  const h = kernel32().OpenProcess(access, 0, pid);
  if (h === null) fail("OpenProcess");
  return new Handle(h);
}

/** IMAGE_FILE_MACHINE_* values. */
export const MACHINE = {
  UNKNOWN: 0,
  I386: 0x014c,
  AMD64: 0x8664,
  ARM64: 0xaa64,
} as const;

/** The process's and the system's machine types. */
export interface ProcessMachine {
  /** IMAGE_FILE_MACHINE_* of the process's own code. */
  process: number;
  /** IMAGE_FILE_MACHINE_* of the system. */
  native: number;
}

/**
 * `IsWow64Process2` (falls back to `IsWow64Process`): which machine the
 * process runs as. A 64-bit process reports its native machine, but on
 * ARM64 Windows an x64 process is no WOW64 process either: there its
 * machine type info (Windows 11) tells, see {@linkcode runningMachine}.
 */
export function processMachine(process: Handle): ProcessMachine {
  const k = kernel32();
  if (k.IsWow64Process2) {
    const p = new Uint16Array(1);
    const n = new Uint16Array(1);
    checkBool("IsWow64Process2", k.IsWow64Process2(process.raw, p, n));
    return runningMachine({ process: p[0], native: n[0] }, {
      imageMachine: () => processImageMachine(process),
    });
  }
  const wow = new Int32Array(1);
  checkBool("IsWow64Process", k.IsWow64Process(process.raw, wow));
  return {
    process: wow[0] ? MACHINE.I386 : MACHINE.AMD64,
    native: MACHINE.AMD64,
  };
}

/**
 * The machine a process runs as, from what `IsWow64Process2` reported
 * (`process` UNKNOWN: no WOW64 process): the native one, except on ARM64
 * Windows, which runs x64 programs emulated but not under WOW64 (so
 * `IsWow64Process2` reports them as it reports its own ARM64 programs):
 * there the process's machine type info decides (`imageMachine`,
 * undefined where Windows does not know the class: before Windows 11,
 * which has no x64 emulation).
 */
export function runningMachine(
  reported: ProcessMachine,
  options: { imageMachine: () => number | undefined },
): ProcessMachine {
  const { process, native } = reported;
  if (process !== MACHINE.UNKNOWN) return reported;
  if (native === MACHINE.AMD64) return { process: native, native };
  return { process: options.imageMachine() ?? native, native };
}

// PROCESS_INFORMATION_CLASS ProcessMachineTypeInfo, and the size of its
// PROCESS_MACHINE_INFORMATION (USHORT ProcessMachine, USHORT Res0, ULONG
// MachineAttributes).
const PROCESS_MACHINE_TYPE_INFO = 9;
const MACHINE_INFORMATION_SIZE = 8;

/**
 * `GetProcessInformation(ProcessMachineTypeInfo)` (Windows 11, build
 * 22000): the IMAGE_FILE_MACHINE_* of the process's code. Undefined where
 * Windows does not answer it (older versions).
 */
export function processImageMachine(process: Handle): number | undefined {
  const k = kernel32();
  if (k.GetProcessInformation === null) return undefined;
  const info = new Uint8Array(MACHINE_INFORMATION_SIZE);
  const ok = k.GetProcessInformation(
    process.raw,
    PROCESS_MACHINE_TYPE_INFO,
    info,
    info.length,
  );
  return ok ? new DataView(info.buffer).getUint16(0, true) : undefined;
}

/** `QueryFullProcessImageNameW`: the full Win32 path of the executable. */
export function processImagePath(process: Handle): string {
  const buf = new Uint16Array(32768);
  const size = new Uint32Array([buf.length]);
  checkBool(
    "QueryFullProcessImageNameW",
    kernel32().QueryFullProcessImageNameW(process.raw, 0, buf, size),
  );
  return readWide(new Uint8Array(buf.buffer), { maxChars: size[0] });
}

/** STILL_ACTIVE: the exit code of a process or thread that is running. */
export const STILL_ACTIVE = 259;

/** `GetExitCodeProcess` (259 = still running). */
export function processExitCode(process: Handle): number {
  const code = new Uint32Array(1);
  checkBool(
    "GetExitCodeProcess",
    kernel32().GetExitCodeProcess(process.raw, code),
  );
  return code[0];
}

/** `CheckRemoteDebuggerPresent`: whether a debugger is attached. */
export function isBeingDebugged(process: Handle): boolean {
  const flag = new Int32Array(1);
  checkBool(
    "CheckRemoteDebuggerPresent",
    kernel32().CheckRemoteDebuggerPresent(process.raw, flag),
  );
  return flag[0] !== 0;
}

/** `TerminateProcess`. */
export function terminateProcess(process: Handle, exitCode = 1): void {
  checkBool(
    "TerminateProcess",
    kernel32().TerminateProcess(process.raw, exitCode),
  );
}

/**
 * The access rights `handle` was granted (`NtQueryObject`'s
 * ObjectBasicInformation): an open can succeed with fewer than it asked
 * for (security software's handle callbacks strip rights). Throws a
 * Win32Error from `NtQueryObject`.
 */
export function grantedAccess(handle: Handle): number {
  // OBJECT_BASIC_INFORMATION: Attributes, then GrantedAccess (56 bytes).
  const info = new Uint8Array(56);
  const error = ntQueryObject(handle.raw, 0, info);
  if (error !== 0) throw new Win32Error("NtQueryObject", error);
  return new DataView(info.buffer).getUint32(4, true);
}

/** `GetProcessId`. */
export function processId(process: Handle): number {
  const pid = kernel32().GetProcessId(process.raw);
  if (pid === 0) fail("GetProcessId");
  return pid;
}

/**
 * `GetProcessTimes`: when the process was created, as a FILETIME (100 ns
 * units since 1601-01-01 UTC). With the pid it names one process: pids are
 * reused, creation times are not.
 */
export function processCreationTime(process: Handle): bigint {
  const [created, exited, kernel, user] = [0, 1, 2, 3].map(() =>
    new BigUint64Array(1)
  );
  checkBool(
    "GetProcessTimes",
    kernel32().GetProcessTimes(process.raw, created, exited, kernel, user),
  );
  return created[0];
}

/**
 * The Terminal Services session process `pid` runs in (0: services; a
 * logged-on user's desktop: 1 or more).
 */
export function processSessionId(pid: number): number {
  const out = new Uint32Array(1);
  checkBool("ProcessIdToSessionId", kernel32().ProcessIdToSessionId(pid, out));
  return out[0];
}

/** WaitForSingleObject results. */
export const WAIT = {
  OBJECT_0: 0,
  TIMEOUT: 0x102,
  FAILED: 0xffff_ffff,
} as const;

/** `WaitForSingleObject(handle, 0)`: whether the object is signaled now. */
export function isSignaled(handle: Handle): boolean {
  const r = kernel32().WaitForSingleObject(handle.raw, 0);
  if (r === WAIT.FAILED) fail("WaitForSingleObject");
  return r === WAIT.OBJECT_0;
}

/** Options for {@linkcode waitSignaled}. */
export interface WaitOptions {
  /**
   * Asked before each look: a deadline (a `Date.now()` time) that replaces
   * the one `timeoutMs` set, or undefined to keep it.
   */
  until?: () => number | undefined;
}

/**
 * Waits until a process or thread handle is signaled, polling so the event
 * loop keeps running. Resolves `true` when signaled, `false` on timeout.
 */
export async function waitSignaled(
  handle: Handle,
  timeoutMs: number = Infinity,
  options: WaitOptions = {},
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  let delay = 1;
  while (!isSignaled(handle)) {
    if (Date.now() >= (options.until?.() ?? deadline)) return false;
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 25);
  }
  return true;
}

/** Process creation flags. */
export const CREATE = {
  SUSPENDED: 0x4,
  UNICODE_ENVIRONMENT: 0x400,
  EXTENDED_STARTUPINFO_PRESENT: 0x80000,
  /** The child gets Windows' default error mode, not its parent's. */
  DEFAULT_ERROR_MODE: 0x400_0000,
} as const;

/** Options for {@linkcode createProcess}. */
export interface CreateProcessOptions {
  /** Working directory (default: ours). */
  cwd?: string;
  /** The complete environment (default: ours). */
  env?: Record<string, string>;
  /** Create the main thread suspended. */
  suspended?: boolean;
  /**
   * `inherit` (default): the child's standard handles are this process's;
   * `none`: it has none (it runs detached from our console or pipes).
   */
  stdio?: "inherit" | "none";
  /**
   * The child's error mode ({@linkcode SEM}): `inherit` (default) this
   * process's, as Windows passes it on; `default` Windows' default
   * (CREATE_DEFAULT_ERROR_MODE), as a program started from Explorer gets;
   * a number, that mode: this process's is set to it while CreateProcessW
   * runs (a child takes its parent's), and set back, one thread of ours at
   * a time ({@linkcode withErrorMode}).
   */
  errorMode?: "inherit" | "default" | number;
}

/** A process created by {@linkcode createProcess}; the caller owns both handles. */
export interface CreatedProcess {
  process: Handle;
  thread: Handle;
  pid: number;
  tid: number;
}

function environmentBlock(env: Record<string, string>): Uint16Array {
  const entries = Object.entries(env)
    .sort(([a], [b]) => a.toUpperCase() < b.toUpperCase() ? -1 : 1)
    .map(([k, v]) => `${k}=${v}\0`);
  const text = `${entries.join("")}\0`;
  const out = new Uint16Array(text.length + 1);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
  return out;
}

/**
 * This process's standard handles (input, output, error) duplicated as
 * inheritable, for STARTF_USESTDHANDLES: a child receives only handles it
 * can inherit, and Deno's own are not marked so. A missing handle stays 0;
 * one that cannot be duplicated is passed as it is. Disposing closes the
 * duplicates.
 */
function inheritableStdHandles(): {
  raw: bigint[];
  owned: bigint[];
} & Disposable {
  const k = kernel32();
  const self = k.GetCurrentProcess();
  const owned: Handle[] = [];
  const DUPLICATE_SAME_ACCESS = 2;
  // STD_INPUT_HANDLE -10, STD_OUTPUT_HANDLE -11, STD_ERROR_HANDLE -12.
  const raw = [-10, -11, -12].map((id) => {
    const h = k.GetStdHandle(id >>> 0);
    if (isInvalidHandle(h)) return 0n;
    const dup = new BigUint64Array(1);
    if (!k.DuplicateHandle(self, h, self, dup, 0, 1, DUPLICATE_SAME_ACCESS)) {
      return BigInt(Deno.UnsafePointer.value(h));
    }
    owned.push(new Handle(Deno.UnsafePointer.create(dup[0])!));
    return dup[0];
  });
  return {
    raw,
    owned: owned.map((h) => BigInt(Deno.UnsafePointer.value(h.raw))),
    [Symbol.dispose]: () => owned.forEach((h) => h.close()),
  };
}

const PROC_THREAD_ATTRIBUTE_HANDLE_LIST = 0x20002;

/**
 * A `PROC_THREAD_ATTRIBUTE_HANDLE_LIST` attribute list naming `handles`:
 * a child created with it inherits those handles and no other of ours
 * (not one Deno inherited itself, nor a pipe end another thread's
 * `Deno.Command` has marked inheritable while it starts its process).
 * Disposing deletes the list.
 */
function handleListAttribute(
  handles: bigint[],
): { list: Uint8Array; keep: BigUint64Array } & Disposable {
  const k = kernel32();
  const size = new BigUint64Array(1);
  // (fails with ERROR_INSUFFICIENT_BUFFER, and says the size)
  k.InitializeProcThreadAttributeList(null, 1, 0, size);
  const list = new Uint8Array(Number(size[0]));
  checkBool(
    "InitializeProcThreadAttributeList",
    k.InitializeProcThreadAttributeList(list, 1, 0, size),
  );
  const keep = BigUint64Array.from(handles);
  try {
    checkBool(
      "UpdateProcThreadAttribute",
      k.UpdateProcThreadAttribute(
        list,
        0,
        BigInt(PROC_THREAD_ATTRIBUTE_HANDLE_LIST),
        keep,
        BigInt(keep.byteLength),
        null,
        null,
      ),
    );
  } catch (e) {
    k.DeleteProcThreadAttributeList(list);
    throw e;
  }
  return {
    list,
    keep,
    [Symbol.dispose]: () => k.DeleteProcThreadAttributeList(list),
  };
}

/**
 * `CreateProcessW` of `exe` with the full `commandLine`; the child's
 * standard handles are this process's (inherited, whatever they are:
 * console, pipe or file) unless `stdio` is `none`. It inherits no other
 * handle of ours.
 */
export function createProcess(
  exe: string,
  commandLine: string,
  options: CreateProcessOptions = {},
): CreatedProcess {
  const k = kernel32();
  // STARTUPINFOEXW (x64, 112 bytes): STARTUPINFOW's cb 0, dwFlags 60,
  // hStdInput 80, hStdOutput 88, hStdError 96; then lpAttributeList 104.
  const si = new Uint8Array(112);
  const v = new DataView(si.buffer);
  const STARTF_USESTDHANDLES = 0x100;
  v.setUint32(60, STARTF_USESTDHANDLES, true);
  using std = options.stdio === "none"
    ? { raw: [0n, 0n, 0n], owned: [], [Symbol.dispose]: () => {} }
    : inheritableStdHandles();
  std.raw.forEach((h, i) => v.setBigUint64(80 + 8 * i, h, true));
  using attrs = std.owned.length > 0
    ? handleListAttribute(std.owned)
    : undefined;
  // With the list, only the duplicates are inherited. Without one, nothing
  // is (stdio none, or no standard handles of ours to give), unless a
  // standard handle could not be duplicated and is passed as it is: then,
  // as before the list, every inheritable handle of ours.
  const asIs = std.raw.some((h) => h !== 0n && !std.owned.includes(h));
  // PROCESS_INFORMATION: hProcess 0, hThread 8, dwProcessId 16, dwThreadId 20.
  const pi = new Uint8Array(24);
  let env: Uint16Array | null = null;
  let flags = options.suspended ? CREATE.SUSPENDED : 0;
  if (options.errorMode === "default") flags |= CREATE.DEFAULT_ERROR_MODE;
  if (options.env) {
    flags |= CREATE.UNICODE_ENVIRONMENT;
    env = environmentBlock(options.env);
  }
  const create = (list: Uint8Array | undefined, inherit: boolean) => {
    v.setUint32(0, list ? 112 : 104, true);
    v.setBigUint64(
      104,
      list ? BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(list))) : 0n,
      true,
    );
    return k.CreateProcessW(
      wide(exe),
      wide(commandLine), // must be writable: it is our own copy
      null,
      null,
      inherit ? 1 : 0,
      flags | (list ? CREATE.EXTENDED_STARTUPINFO_PRESENT : 0),
      env,
      options.cwd === undefined ? null : wide(options.cwd),
      si,
      pi,
    );
  };
  const created = () => {
    let ok = create(attrs?.list, attrs !== undefined || asIs);
    // A standard handle the list cannot hold (a Windows that refuses a
    // console handle there): as before the list, with all our inheritable
    // handles.
    if (!ok && attrs && k.GetLastError() === ERROR.INVALID_PARAMETER) {
      ok = create(undefined, true);
    }
    return ok ? 0 : k.GetLastError();
  };
  const mode = options.errorMode;
  // (the error read before the mode is set back)
  const error = typeof mode === "number"
    ? withErrorMode(mode, created)
    : created();
  if (error !== 0) throw new Win32Error("CreateProcessW", error);
  const out = new DataView(pi.buffer);
  const ptr = (off: number) =>
    Deno.UnsafePointer.create(out.getBigUint64(off, true))!;
  return {
    process: new Handle(ptr(0)),
    thread: new Handle(ptr(8)),
    pid: out.getUint32(16, true),
    tid: out.getUint32(20, true),
  };
}

/**
 * Enables SeDebugPrivilege in this process's token, which an elevated
 * administrator's holds, disabled: `OpenProcess` then grants any access to
 * processes of other users and services (protected processes aside), as
 * Process Explorer does. Set back as it was when the result is disposed
 * (handles opened meanwhile keep their access); undefined when the token
 * does not hold it.
 */
export function debugPrivilege(): Disposable | undefined {
  const was = adjustPrivilege(SE_DEBUG_PRIVILEGE, true);
  if (was === undefined) return undefined;
  return {
    [Symbol.dispose]: () => {
      if (!was) adjustPrivilege(SE_DEBUG_PRIVILEGE, false);
    },
  };
}

/**
 * `call()`, and when Windows refuses it (access denied) once more with
 * {@linkcode debugPrivilege} enabled for it: for calls that open another
 * user's process or a service, or its threads, by id themselves. The first
 * error is thrown when the token does not hold the privilege.
 */
export function withDebugPrivilegeRetry<T>(call: () => T): T {
  try {
    return call();
  } catch (e) {
    if (!(e instanceof Win32Error && e.code === ERROR.ACCESS_DENIED)) throw e;
    using privilege = debugPrivilege();
    if (!privilege) throw e;
    return call();
  }
}

/**
 * The session of process `pid`, or undefined when it cannot be told.
 * `ProcessIdToSessionId` opens the process itself, by its id, for
 * PROCESS_QUERY_INFORMATION (Microsoft's documentation): another user's
 * process or a service refuses that to an elevated heapshift unless
 * SeDebugPrivilege is enabled ({@linkcode withDebugPrivilegeRetry}), and
 * to one not elevated another user's process refuses it outright; the
 * system's process list ({@linkcode systemProcessSessions}) tells it then.
 */
export function knownSessionId(pid: number): number | undefined {
  try {
    return withDebugPrivilegeRetry(() => processSessionId(pid));
  } catch {
    return systemProcessSessions()?.get(pid);
  }
}

// PROCESS_INFORMATION_CLASS ProcessProtectionLevelInfo, and the level of
// a process that is not protected.
const PROCESS_PROTECTION_LEVEL_INFO = 7;
const PROTECTION_LEVEL_NONE = 0xffff_fffe;

/**
 * Whether process `pid` is a protected process (or protected light):
 * Windows lets no other program open it for reading or writing its
 * memory, elevated or not. Undefined when that cannot be told (no such
 * process, not even limited access, or Windows before 8).
 */
export function isProtectedProcess(pid: number): boolean | undefined {
  const k = kernel32();
  if (k.GetProcessInformation === null) return undefined;
  let process: Handle;
  try {
    process = openProcess(pid, PROCESS.QUERY_LIMITED_INFORMATION);
  } catch {
    return undefined;
  }
  using _ = process;
  const level = new Uint32Array(1);
  const ok = k.GetProcessInformation(
    process.raw,
    PROCESS_PROTECTION_LEVEL_INFO,
    new Uint8Array(level.buffer),
    4,
  );
  return ok ? level[0] !== PROTECTION_LEVEL_NONE : undefined;
}
