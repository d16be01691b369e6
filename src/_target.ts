/**
 * Opening a target process with errors people understand (internal).
 *
 * @module
 */

import { typeName } from "./_arguments.ts";
import { ProcessEndedError } from "./_exit_status.ts";
import { type Arch, archOf } from "./arch.ts";
import { HeapshiftError } from "./heapshift_error.ts";
import {
  debugPrivilege,
  ERROR,
  type Handle,
  isProtectedProcess,
  isSignaled,
  MACHINE,
  type MemoryRegion,
  openProcess,
  processExitCode,
  processMachine,
  RemoteMemory,
  STILL_ACTIVE,
  Win32Error,
} from "../ffi/mod.ts";

/** A process heapshift works on: its pid, a handle and its architecture. */
export interface TargetProcess {
  pid: number;
  process: Handle;
  arch: Arch;
  /**
   * What is being done to it, for messages (`inject probe.dll into`), as
   * {@linkcode openTarget} was told.
   */
  doing?: string;
}

/** A {@linkcode TargetProcess} whose handle `using` closes. */
export interface OpenTarget extends TargetProcess, Disposable {}

export const ELEVATION_HINT =
  "it may belong to another user or run elevated; run heapshift from an elevated (Administrator) prompt";

/**
 * Why `OpenProcess` was refused, as far as heapshift can tell: the target
 * is a protected process; heapshift held SeDebugPrivilege (then something
 * guards the process); or neither.
 */
export function accessDeniedMessage(
  at: { pid: number; doing: string },
  why: { protected?: boolean; debugPrivilege?: boolean },
): string {
  const head = `Cannot ${at.doing} process ${at.pid}: access denied`;
  if (why.protected) {
    return `${head}: it is a protected process, which Windows lets no other program open this way, elevated or not; heapshift cannot take it over`;
  }
  if (why.debugPrivilege) {
    return `${head}, though heapshift holds SeDebugPrivilege (it runs elevated): security or anti-cheat software may be guarding the process; start the program with heapshift's launch instead, if that software allows`;
  }
  return `${head} (${ELEVATION_HINT})`;
}

/** The calls that read a process's module list from its loader data. */
const MODULE_LIST_CALLS = new Set([
  "CreateToolhelp32Snapshot",
  "Module32FirstW",
  "Module32NextW",
  "K32EnumProcessModulesEx",
]);

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
  if (e.code === ERROR.ACCESS_DENIED && e.call === "OpenProcess") {
    return new HeapshiftError(
      "access-denied",
      accessDeniedMessage({ pid, doing }, {}),
      { cause: e },
    );
  }
  if (e.code === ERROR.ACCESS_DENIED) {
    // A call on a process heapshift opened with the rights for it:
    // elevating cannot help, while software that takes rights from other
    // programs' handles to the process refuses exactly this.
    return new HeapshiftError(
      "access-denied",
      `Cannot ${doing} process ${pid}: Windows refused ${e.call} in it (access denied) though heapshift had opened it: security or anti-cheat software may be guarding the process (such software takes rights from the handles other programs open to it), or it is ending; running elevated does not change this`,
      { cause: e },
    );
  }
  if (
    e.code === ERROR.NOACCESS ||
    (e.code === ERROR.PARTIAL_COPY && MODULE_LIST_CALLS.has(e.call))
  ) {
    // Toolhelp and the module enumeration read the target's loader data,
    // which a process created suspended does not have yet: Wine says
    // ERROR_NOACCESS, Windows ERROR_PARTIAL_COPY (which elsewhere means a
    // read that crossed into unreadable memory).
    return new HeapshiftError(
      "failed",
      `Cannot ${doing} process ${pid}: its loader data cannot be read yet (${e.message}); a process created suspended has not started: resume it first, or start it with heapshift's launch`,
      { cause: e },
    );
  }
  return new HeapshiftError(
    "failed",
    `Cannot ${doing} process ${pid}: ${e.message}`,
    { cause: e },
  );
}

/**
 * The exit code of the process behind `process` once it has ended, else
 * undefined: it runs, or that cannot be told. An exit code of STILL_ACTIVE
 * (259), which a process can also exit with, is decided by the handle's
 * wait (signaled once it has ended), where the handle allows one. Throws a
 * Win32Error when the exit code cannot be read.
 */
export function endedCode(process: Handle): number | undefined {
  const code = processExitCode(process); // throws as that does
  if (code !== STILL_ACTIVE) return code;
  try {
    return isSignaled(process) ? code : undefined;
  } catch {
    return undefined; // no SYNCHRONIZE access
  }
}

/**
 * The error for a process that has ended (its exit code read through
 * `process`), or undefined while it runs (or when that cannot be told):
 * kind `ended`, its cause a {@linkcode ProcessEndedError} with the exit
 * code; one that crashed (an NTSTATUS error code) names the call it cut
 * (`during`).
 */
export function exitedError(
  target: { pid: number; process: Handle },
  call: { doing: string; during?: string },
): HeapshiftError | undefined {
  let code: number | undefined;
  try {
    code = endedCode(target.process);
  } catch {
    return undefined;
  }
  if (code === undefined) return undefined;
  // ProcessEndedError words how it ended; a crash names the call it cut.
  const ended = new ProcessEndedError(code);
  const when = ended.crash && call.during
    ? ` while ${call.during} ran`
    : " meanwhile";
  return new HeapshiftError(
    "ended",
    `Cannot ${call.doing} process ${target.pid}: the process ${ended.message}${when}`,
    { cause: ended },
  );
}

/** Whether `e` is an `ended` HeapshiftError: the target has ended. */
export function isEnded(e: unknown): e is HeapshiftError {
  return e instanceof HeapshiftError && e.kind === "ended";
}

/** Reads of a target's memory ({@linkcode targetMemory}). */
export interface TargetMemory {
  /** `ReadProcessMemory` of `size` bytes at `address`. */
  read(address: bigint, size: number): Uint8Array;
  /** `VirtualQueryEx`; `null` past the end of the address space. */
  query(address: bigint): MemoryRegion | null;
}

/**
 * The memory of `target` (opened with VM_READ) as heapshift reads it
 * outside a remote call: a module's image, a thread's stack. A read that
 * fails once the process has ended throws its {@linkcode exitedError}
 * (kind `ended`, saying what `target.doing` was): its exit is checked, not
 * guessed from the error, which Windows also gives for a page that cannot
 * be read. Any other failure is the Win32Error. Whoever takes a failed
 * read for "nothing there" lets {@linkcode isEnded} errors through.
 */
export function targetMemory(target: TargetProcess): TargetMemory {
  const memory = new RemoteMemory(target.process);
  const doing = target.doing ?? "read the memory of";
  return {
    read(address, size) {
      try {
        return memory.read(address, size);
      } catch (e) {
        throw exitedError(target, { doing }) ?? e;
      }
    },
    query: (address) => memory.query(address),
  };
}

/**
 * The error for a target whose machine heapshift does not support;
 * `native`: the system's machine (an x64 process on ARM64 Windows is
 * emulated).
 */
export function unsupportedMachine(
  pid: number,
  machine: number,
  options: { native?: number } = {},
): HeapshiftError {
  if (machine === MACHINE.AMD64 && options.native === MACHINE.ARM64) {
    return new HeapshiftError(
      "unsupported",
      `Process ${pid} is an x64 process emulated on ARM64 Windows: heapshift does not support x64 emulation (the system's ucrtbase.dll there is ARM64X code, not x64 code it can patch); it supports x64 and x86 targets`,
    );
  }
  const what = machine === MACHINE.ARM64
    ? "an ARM64 process"
    : `a process of machine type 0x${machine.toString(16)}`;
  return new HeapshiftError(
    "unsupported",
    `Process ${pid} is ${what}: heapshift supports only x64 and x86 targets`,
  );
}

/**
 * Throws unless `pid` can be a process id: a `bad-argument` HeapshiftError
 * for a value that is not a number (a JavaScript caller's), `not-found` for
 * a number no process can have.
 */
export function checkPid(pid: number, doing: string): void {
  if (typeof pid !== "number") {
    throw new HeapshiftError(
      "bad-argument",
      `Cannot ${doing} a process: the process id must be a number, not ${
        typeName(pid)
      }`,
    );
  }
  if (!Number.isInteger(pid) || pid <= 0 || pid > 0xffff_ffff) {
    throw new HeapshiftError(
      "not-found",
      `Cannot ${doing} process ${pid}: not a valid process id`,
    );
  }
}

/** The architecture of the process behind `process`, if supported. */
export function processArchOf(process: Handle, pid: number): Arch {
  return machineArch(pid, processMachine(process));
}

/**
 * The architecture of process `pid` running as `machine`, if supported:
 * x64 only on x64 Windows (ARM64 Windows emulates it, see
 * {@linkcode unsupportedMachine}); x86 wherever WOW64 runs it.
 */
export function machineArch(
  pid: number,
  machine: { process: number; native: number },
): Arch {
  const arch = archOf(machine.process);
  const emulated = arch === "x64" && machine.native !== MACHINE.AMD64;
  if (!arch || emulated) {
    throw unsupportedMachine(pid, machine.process, { native: machine.native });
  }
  return arch;
}

/** Why {@linkcode openTarget} was refused, for each error saying so. */
const denials = new WeakMap<
  HeapshiftError,
  { protected?: boolean; debugPrivilege: boolean }
>();

/**
 * Why `e`, an `access-denied` error of {@linkcode openTarget}, was
 * refused: a protected process (undefined when not known), and whether
 * heapshift held SeDebugPrivilege. Undefined for any other error.
 */
export function denialOf(
  e: unknown,
): { protected?: boolean; debugPrivilege: boolean } | undefined {
  return e instanceof HeapshiftError ? denials.get(e) : undefined;
}

/**
 * Opens `pid` with `access` (which must include a query right) and finds
 * its architecture, x64 or x86. `using` closes the handle.
 */
export function openTarget(
  pid: number,
  options: { access: number; doing: string },
): OpenTarget {
  const { access, doing } = options;
  checkPid(pid, doing);
  let h: Handle;
  try {
    h = openProcess(pid, access);
  } catch (e) {
    if (!(e instanceof Win32Error && e.code === ERROR.ACCESS_DENIED)) {
      throw processError(e, { pid, doing });
    }
    // Another user's process, or a service: an elevated heapshift opens it
    // with SeDebugPrivilege, which its token holds disabled; enabled for
    // this open only (the handle keeps its access).
    const privilege = debugPrivilege();
    try {
      if (!privilege) throw e;
      h = openProcess(pid, access);
    } catch (again) {
      const denied = again instanceof Win32Error &&
        again.code === ERROR.ACCESS_DENIED;
      if (!denied) throw processError(again, { pid, doing });
      const why = {
        protected: isProtectedProcess(pid),
        debugPrivilege: privilege !== undefined,
      };
      const refused = new HeapshiftError(
        "access-denied",
        accessDeniedMessage({ pid, doing }, why),
        { cause: again },
      );
      denials.set(refused, why);
      throw refused;
    } finally {
      privilege?.[Symbol.dispose]();
    }
  }
  try {
    return {
      pid,
      process: h,
      arch: processArchOf(h, pid),
      doing,
      [Symbol.dispose]: () => h.close(),
    };
  } catch (e) {
    h.close();
    throw processError(e, { pid, doing });
  }
}
