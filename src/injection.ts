/**
 * Loading a DLL into a running process, and unloading it.
 *
 * @module
 */

import { type Arch, ARCH_MACHINE } from "./arch.ts";
import {
  absolutePath,
  checkDllArch,
  readDll,
  readDllFor,
  redirectedFor32Bit,
} from "./_dll_file.ts";
import { baseName } from "./_paths.ts";
import { wow64Path } from "./_wow64_path.ts";
import { HeapshiftError } from "./heapshift_error.ts";
import { dependencyPlaces } from "./_missing_dependencies.ts";
import { loadHint } from "./_load_hint.ts";
import { timeoutMs } from "./_timeout.ts";
import {
  callRemote,
  createNamedEvent,
  ERROR,
  formatMessage,
  type Handle,
  INJECT_ACCESS,
  isBeingDebugged,
  REMOTE_STACK_RESERVE,
  type RemoteResult,
  RemoteTimeoutError,
  type ThenCall,
  waitSignaled,
  wideBytes,
  Win32Error,
} from "../ffi/mod.ts";
import {
  exportAddress,
  loadedExportAddress,
  moduleImage,
} from "./_remote_exports.ts";
import { DEFAULT_SYMBOL, exportedNames, isHeapshiftDll } from "../pe/mod.ts";
import { type ModuleInfo, moduleNamed, targetModules } from "./module_list.ts";
import {
  checkPid,
  exitedError,
  isEnded,
  openTarget,
  processError,
  type TargetProcess,
} from "./_target.ts";
import { heapshiftPresence } from "./_heapshift_presence.ts";
import { checkOptions, checkOptionTypes, checkPath } from "./_arguments.ts";
import { guardAsync } from "./_error_kinds.ts";
import { type SessionOf, stats, targetNamed } from "./live_stats.ts";
import { reasonMayPass } from "./stats_block.ts";
import { importersOf } from "./_importers.ts";
import { threadsInModule } from "./_module_threads.ts";
import { lockTarget } from "./_inject_lock.ts";
import {
  loadedByHeapshift,
  markLoaded,
  markUnloaded,
  type MarkUnseen,
  unmarkedError,
} from "./_load_marker.ts";
import { isSystemDll, systemRoot } from "./_system_dll.ts";
import { holdStatsOf } from "./attached_process.ts";

/**
 * Options for {@linkcode inject} and {@linkcode eject}.
 *
 * @example Give a slow DLL more time
 * ```ts
 * import { inject } from "@heapshift/heapshift";
 * await inject(1234, "build/heapshift.dll", { timeout: 30_000 });
 * ```
 */
export interface InjectOptions {
  /**
   * Milliseconds to wait for the remote call (default 10000), and, as
   * long again at most, for a program that has not begun initialising
   * (created suspended, or found the moment it started) to begin. Injecting
   * heapshift makes a second call, which waits at most 2 s more; injecting
   * a heapshift loaded already whose takeover failed for a reason that may
   * pass has it try again, with as long again at most. Another
   * injection into the same process (by heapshift, from any process) is
   * waited for first, as long again at most.
   */
  timeout?: number;
}

/**
 * Options for {@linkcode eject}.
 *
 * @example Unload a DLL heapshift did not load (or cannot tell it did),
 * unless a thread runs in it
 * ```ts
 * import { eject } from "@heapshift/heapshift";
 * await eject(1234, "probe.dll", { anyOrigin: true });
 * ```
 */
export interface EjectOptions extends InjectOptions {
  /**
   * Unload the module whoever loaded it: also when heapshift did not load
   * it (the program may have loaded it itself and still call it), or
   * cannot tell: the mark heapshift leaves of its loads, in the target's
   * session, may not be opened by this user (another user's, or an
   * elevated heapshift's), or that session's names cannot be reached.
   * Every other check stays: a thread running in the module still stops
   * the eject. Default false.
   */
  anyOrigin?: boolean;
  /**
   * Unload the module past every check that can be overridden: who loaded
   * it (as `anyOrigin`), imports of another module that cannot be read
   * (it might call it), and threads running in it, or that could not be
   * looked at (unmapped under a thread, its code crashes the program).
   * Default false.
   */
  force?: boolean;
}

/**
 * How {@linkcode eject} tells who loaded a module (tests replace it: under
 * Wine every program runs in one session, so the test says which session
 * a process is in).
 */
export interface OriginLook {
  /** As {@linkcode loadedByHeapshift}. */
  loaded?: (pid: number, mod: ModuleInfo) => boolean | MarkUnseen;
  /**
   * The session of process `pid` (undefined: not known), for where the
   * marker of a load is looked for.
   */
  session?: SessionOf;
}

/** Modules no process survives losing. */
const SYSTEM_CORE = new Set(["ntdll.dll", "kernel32.dll", "kernelbase.dll"]);
/** How many more looks, how far apart (ms), at threads found in a module's
 * code or holding a return into it, not begun there (eject). */
const RELOOKS = 3;
const RELOOK_MS = 50;

/** One remote call of a kernel32 function, for {@linkcode callKernel32}. */
interface Kernel32Call {
  /** The kernel32 export to call, e.g. `LoadLibraryW` (or, for messages,
   * the function at the address called). */
  fn: string;
  /** Its argument: an address (number) or bytes copied into the target. */
  arg: bigint | Uint8Array;
  /** Milliseconds to wait. */
  timeout: number;
  /** For messages: the process id and what was being done to it. */
  pid: number;
  doing: string;
  /** Added to the timeout message, e.g. why the call may hang. */
  stuckHint?: string;
  /** The CLI command a timeout message points to (default `modules`). */
  checkWith?: string;
  /**
   * An export of the module `fn` returns, called next on the same thread
   * (with 0 as its argument), given this many ms.
   */
  then?: { symbol: string; timeout: number };
}

/**
 * Calls kernel32's `call.fn` in `target` (its 32-bit kernel32 in an x86
 * process) and maps failures to HeapshiftErrors (a `timeout` one when it
 * does not return in time).
 */
export function callKernel32(
  target: TargetProcess,
  call: Kernel32Call,
): Promise<RemoteResult> {
  const address = exportAddress(target, { dll: "kernel32.dll", fn: call.fn });
  return callInTarget(target, address, call);
}

/** {@linkcode callKernel32} of the function at `address` in `target`. */
async function callInTarget(
  target: TargetProcess,
  address: bigint,
  call: Kernel32Call,
): Promise<RemoteResult> {
  const { fn, arg, timeout, pid, doing } = call;
  const machine = ARCH_MACHINE[target.arch];
  const then = call.then && thenCall(target, call.then);
  let result: RemoteResult;
  try {
    result = await callRemote(
      target.process,
      address,
      arg instanceof Uint8Array
        ? { data: arg, timeout, machine, then }
        : { arg, timeout, machine, then },
    );
  } catch (e) {
    // A target that ended during the call fails it with access errors.
    const gone = exitedError(target, { doing, during: call.fn });
    if (gone) throw gone;
    if (e instanceof RemoteTimeoutError) {
      const hints = [
        ...(call.stuckHint ? [call.stuckHint] : []),
        ...(debugged(target)
          ? ["a debugger is attached to it and may be holding its threads"]
          : []),
      ];
      throw new HeapshiftError(
        "timeout",
        `Cannot ${doing} process ${pid}: ${fn} did not return within ${timeout} ms${
          hints.length ? ` (${hints.join("; ")})` : ""
        }; the call goes on in the target and may still finish: check with \`${
          call.checkWith ?? "modules"
        } ${pid}\``,
        { cause: e },
      );
    }
    if (
      e instanceof Win32Error && e.code === ERROR.ACCESS_DENIED &&
      REMOTE_CALL_STEPS.has(e.call)
    ) {
      // Refused on a handle that holds the right for it: not a matter of
      // elevation but of the process's state (one in ExitProcess gets no
      // new thread: STATUS_PROCESS_IS_TERMINATING) or of a guard.
      await throwIfEnded(target, doing);
      throw new HeapshiftError(
        "access-denied",
        `Cannot ${doing} process ${pid}: Windows refused ${e.call} in it (access denied) though heapshift opened it with the rights for that: the process is ending (a process in ExitProcess gets no new thread), or security software (anti-cheat) guards it; running elevated does not change this`,
        { cause: e },
      );
    }
    if (
      e instanceof Win32Error && e.code === ERROR.NOT_ENOUGH_MEMORY &&
      target.arch === "x86" && e.call in ADDRESS_SPACE_USE
    ) {
      throw new HeapshiftError(
        "failed",
        addressSpaceMessage(e.call as keyof typeof ADDRESS_SPACE_USE, call),
        { cause: e },
      );
    }
    throw processError(e, { pid, doing });
  }
  if (!result.returned) {
    // Its result reads as 0 with no error: not the function's answer.
    if (await waitSignaled(target.process, 1000)) {
      const gone = exitedError(target, { doing, during: fn });
      if (gone) throw gone;
    }
    throw new HeapshiftError(
      "failed",
      `Cannot ${doing} process ${pid}: the thread heapshift started in it for ${fn} ended before ${fn} returned (the process is ending, or something in it ends threads it did not start, as security or anti-cheat software may), so what ${fn} did is not known: check with \`${
        call.checkWith ?? "modules"
      } ${pid}\``,
    );
  }
  return result;
}

/**
 * What each step of a remote call takes of a 32-bit target's addresses. The
 * thread's stack: the reservation asked for (ffi/thread.ts); on Windows,
 * WOW64 gives each thread a 64-bit stack in those addresses as well
 * (usually 512 KB: Microsoft's "Performance and Memory Consumption Under
 * WOW64").
 */
const ADDRESS_SPACE_USE = {
  VirtualAllocEx: (fn: string) =>
    `the page heapshift writes its call to ${fn} into`,
  CreateRemoteThread: (fn: string) =>
    `the thread heapshift starts in it to call ${fn}, whose stack needs a free range of ${
      REMOTE_STACK_RESERVE >> 20
    } MiB at least`,
};

/**
 * A 32-bit target's "not enough memory" from a step of a remote call: its
 * own 2 GiB (4 GiB) of addresses ran out, not the machine's memory, which
 * is what Windows' words suggest.
 */
function addressSpaceMessage(
  step: keyof typeof ADDRESS_SPACE_USE,
  call: Kernel32Call,
): string {
  const advice = call.fn === "LoadLibraryW"
    ? "launch it with heapshift instead, which loads the DLL before the program's own code runs"
    : "nothing can be started in it until it frees some";
  return `Cannot ${call.doing} process ${call.pid}: the 32-bit process has no room left in its address space for ${
    ADDRESS_SPACE_USE[step](call.fn)
  } (${step}: not enough memory, error ${ERROR.NOT_ENOUGH_MEMORY}): a 32-bit program late in its life may have used up its 2 GiB (4 GiB when large-address-aware) of addresses, whatever memory the machine has free; ${advice}`;
}

/** The steps of a remote call, on a handle opened with the rights for them. */
const REMOTE_CALL_STEPS = new Set([
  "VirtualAllocEx",
  "WriteProcessMemory",
  "CreateRemoteThread",
]);

/** `then` with the target's GetProcAddress; undefined if that cannot be
 * found (the caller then makes the second call itself). */
function thenCall(
  target: TargetProcess,
  then: { symbol: string; timeout: number },
): ThenCall | undefined {
  try {
    const fn = "GetProcAddress";
    return {
      ...then,
      getProcAddress: exportAddress(target, { dll: "kernel32.dll", fn }),
    };
  } catch {
    return undefined;
  }
}

function debugged(target: TargetProcess): boolean {
  try {
    return isBeingDebugged(target.process);
  } catch {
    return false;
  }
}

/**
 * Loads the DLL at `dllPath` (a relative path is taken from the current
 * directory; a file `deno compile` included is not one the target can
 * load: write it out first) into the running process `pid` with a remote
 * `LoadLibraryW`, and returns the module as the target lists it. Success is
 * proven by finding the module in the target. When the DLL fails to load,
 * the error carries the loader's own error from inside the target (for
 * example a missing dependency). A 32-bit (x86) process takes a 32-bit
 * DLL, loaded by its own 32-bit `LoadLibraryW`; a DLL of the other
 * architecture is a `bad-dll` error, before the process is touched.
 * Injecting a DLL that is loaded already loads nothing more; heapshift's,
 * when its takeover failed for a reason that may pass
 * ({@linkcode reasonMayPass}), is asked to try once more, and
 * {@linkcode stats} tells how that went. heapshift goes into a program on
 * another C runtime (msvcrt.dll, ucrtbased.dll) too, as `launch`
 * takes it: it takes over only what modules on the UCRT (a plugin the
 * program loads, before or after it) allocate, and reports itself live
 * either way; should the program free such a module's block with its own
 * runtime's `free`, Windows ends it (the block is mimalloc's; a 32-bit
 * program only with termination on heap corruption on, else the free fails).
 * Loading heapshift is not its takeover: when it cannot take over (a
 * thread inside a function to patch, another tool's hooks, …) it stays
 * loaded and idle, and `inject` still returns the module; `stats(pid)`
 * says which (`state` `live`, or `failed` with its `reason`), as the
 * CLI's inject checks. heapshift's counts go with the program when it
 * exits: an open {@linkcode AttachedProcess} of `pid` ({@linkcode attach},
 * or `launch`'s) holds them from the injection on, for its `stats()` after
 * the exit.
 *
 * @example Inject heapshift into a running program
 * ```ts
 * import { findProcess, inject } from "@heapshift/heapshift";
 * const target = findProcess("game.exe");
 * const mod = await inject(target.pid, "build/heapshift.dll", { timeout: 5000 });
 * console.log(`loaded at 0x${mod.base.toString(16)}`);
 * ```
 */
export function inject(
  pid: number,
  dllPath: string,
  options: InjectOptions = {},
): Promise<ModuleInfo> {
  return guardAsync(() => {
    checkPath(dllPath, `inject a DLL into process ${pid}`);
    checkOptions(options, `inject ${baseName(dllPath)} into process ${pid}`);
    checkPid(pid, `inject ${baseName(dllPath)} into`);
    return loadInto(pid, dllPath, options);
  });
}

async function loadInto(
  pid: number,
  dllPath: string,
  options: InjectOptions,
): Promise<ModuleInfo> {
  // A path under System32 names another file for a 32-bit target (WOW64
  // redirects it to SysWOW64): read once the target's architecture is known.
  const given = redirectedFor32Bit(dllPath) ? undefined : readDll(dllPath);
  const doing = `inject ${baseName(given?.path ?? dllPath)} into`;
  const timeout = timeoutMs(options.timeout, {
    fallback: 10_000,
    doing: `${doing} process ${pid}`,
  });
  using target = openTarget(pid, { access: INJECT_ACCESS, doing });
  const file = given ?? readDllFor(dllPath, target.arch);
  const dll = file.path;
  checkDllArch(file, {
    arch: target.arch,
    noun: "process",
    doing: `${doing} process ${pid}`,
  });
  const exported = exportedNames(dll);
  const heapshift = exported.has(DEFAULT_SYMBOL);
  // A heapshift that takes its exit watch's arming from us (older builds
  // arm it themselves).
  const arms = exported.has(ARM_EXPORT);
  const arm = { pid, doing, timeout };
  await untilInitialising(target, { doing, timeout });
  // From the check to the arming, so that a second injector sees our load.
  using _lock = await lockTarget(pid, { timeout, doing });
  // Loaded already: another LoadLibraryW would only add a reference, which
  // a later eject could not take back. (An earlier call may have timed out
  // before it armed heapshift's exit watch: asking again does no harm.)
  const already = moduleNamed(modulesFor(target, doing), dll) &&
    await initialised(target, { dll, pid, doing, timeout });
  if (already) {
    // held first, as below: the program may end while we ask
    if (heapshift) holdStatsOf(pid);
    // A retry that went live armed the exit watch itself (under our event).
    const retried = exported.has(RETRY_EXPORT) &&
      await retryTakeover(target, already, arm);
    if (arms && !retried) await armExitWatch(target, already, arm);
    return already;
  }
  // A second heapshift (a copy under another name) would stay idle, pinned
  // for good.
  const present = heapshift
    ? heapshiftPresence(target, { isSystem: isSystemModule })
    : undefined;
  if (present) {
    const shown = present.by === "stats"
      ? `\`stats ${pid}\` shows it`
      : `as ${present.module.name}`;
    throw new HeapshiftError(
      "unsupported",
      `Cannot ${doing} process ${pid}: heapshift is loaded in it already (${shown}); a second copy would stay idle and could never be unloaded`,
    );
  }
  // While it exists, heapshift loading mid-run leaves its atexit entry to
  // armExitWatch below.
  using _armEvent = arms ? armEvent(pid) : undefined;
  // The same remote thread arms the exit watch once LoadLibraryW returns,
  // even if we have given up waiting by then (a slow DllMain) or are gone.
  const result = await callKernel32(target, {
    fn: "LoadLibraryW",
    arg: wideBytes(dll),
    timeout,
    pid,
    doing,
    stuckHint: "the DLL's initialisation may be stuck",
    then: arms
      ? { symbol: ARM_EXPORT, timeout: Math.min(timeout, ARM_WAIT_MS) }
      : undefined,
  });
  if (result.complete && result.value === 0n) {
    // No error at all from a LoadLibraryW that returned: a process ending
    // meanwhile (a thread ended before it returned is callInTarget's).
    if (result.lastError === 0) {
      await throwIfEnded(target, doing);
    }
    let hint = "";
    if (result.lastError === ERROR.MOD_NOT_FOUND) {
      const { missing, onOurPath } = await dependencyPlaces(
        dll,
        modulesFor(target, doing),
      );
      const [elsewhere] = onOurPath;
      hint = missing.length
        ? `; ${baseName(dll)} needs ${
          missing.join(", ")
        }, which the target cannot find (not loaded, not next to the DLL or the program, not in the system directory or on PATH)`
        : elsewhere
        ? `; ${
          baseName(dll)
        } needs ${elsewhere.dll}, found here only on this process's PATH (in ${elsewhere.dir}), which the target's PATH may lack: put it next to ${
          baseName(dll)
        }`
        : `; the DLL and its own imports exist here, so a DLL one of them needs may be missing, or the target cannot reach ${
          baseName(dll)
        }'s folder (a drive mapped in this logon session only, a folder its user may not read)`;
    }
    hint ||= loadHint(result.lastError, {
      dll: baseName(dll),
      arch: target.arch,
    });
    throw new HeapshiftError(
      "load-failed",
      `Cannot ${doing} process ${pid}: the target's loader reports: ${
        formatMessage(result.lastError, {
          insert: `${baseName(dll)} or a DLL it needs`,
        })
      } (error ${result.lastError})${hint}`,
    );
  }
  // Without the stub (the target forbids dynamic code) only the low 32
  // bits of the HMODULE are known, and possibly 0 for a loaded module.
  const base = (m: ModuleInfo) =>
    result.complete ? m.base : m.base & 0xffff_ffffn;
  const loaded = modulesFor(target, doing);
  const mod =
    (result.value !== 0n
      ? loaded.find((m) => base(m) === result.value)
      : undefined) ?? moduleNamed(loaded, dll);
  if (!mod) {
    // A process in ExitProcess may list no modules any more.
    if (result.complete) await throwIfEnded(target, doing);
    throw new HeapshiftError(
      "load-failed",
      result.complete
        ? `Cannot ${doing} process ${pid}: LoadLibraryW returned 0x${
          result.value.toString(16)
        } but the module is not in the process's module list`
        : `Cannot ${doing} process ${pid}: LoadLibraryW failed in the target; it forbids dynamic code (Arbitrary Code Guard), so the loader's error cannot be read`,
    );
  }
  markLoaded(pid, mod);
  // An AttachedProcess (or LaunchedProcess) of the target keeps the counts
  // from now on, also once the program has exited: held before arming,
  // which the program's end can interrupt.
  if (heapshift) holdStatsOf(pid);
  if (arms && !result.then?.called) await armExitWatch(target, mod, arm);
  else if (arms && !result.then?.returned) {
    // Still asking (exit() holds the lock): as armExitWatch's wait ends.
    await throwIfEnded(target, doing);
  }
  return mod;
}

/**
 * Waits, `call.timeout` ms at most, until `target` has begun initialising:
 * its loader lists kernel32 (an x86 program's 32-bit one). A program found
 * the moment it was created (waitForProcess polls; a launcher creates its
 * game suspended, then resumes it) has none yet to load a DLL with, and a
 * remote thread would be the one to initialise it; inject failed on it at
 * once ("its loader data cannot be read yet"). Not resumed in time: a
 * `timeout` error, nothing loaded.
 */
async function untilInitialising(
  target: TargetProcess,
  call: { doing: string; timeout: number },
): Promise<void> {
  const deadline = Date.now() + call.timeout;
  for (;;) {
    let last: HeapshiftError | undefined;
    try {
      const mods = modulesFor(target, call.doing);
      if (mods.some((m) => m.name.toLowerCase() === "kernel32.dll")) return;
    } catch (e) {
      // Its loader data not readable yet (Wine ERROR_NOACCESS, Windows
      // ERROR_PARTIAL_COPY); anything else, ended or denied, is said now.
      if (!notReadableYet(e)) throw e;
      last = e;
    }
    if (Date.now() >= deadline) {
      throw new HeapshiftError(
        "timeout",
        `Cannot ${call.doing} process ${target.pid}: it has not begun initialising within ${call.timeout} ms (created suspended, and not resumed?); nothing was loaded`,
        { cause: last },
      );
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Whether `e` is a module listing refused as a process not started does. */
function notReadableYet(e: unknown): e is HeapshiftError {
  const cause = e instanceof HeapshiftError && e.kind === "failed"
    ? e.cause
    : undefined;
  return cause instanceof Win32Error &&
    (cause.code === ERROR.NOACCESS || cause.code === ERROR.PARTIAL_COPY);
}

/**
 * The modules of `target`; one that has ended is said as what was asked
 * (`doing`, e.g. `inject probe.dll into`), not as the listing that found
 * it ended: a script that called inject was told "Cannot list the modules".
 */
function modulesFor(target: TargetProcess, doing: string): ModuleInfo[] {
  try {
    return targetModules(target);
  } catch (e) {
    if (!isEnded(e)) throw e;
    throw exitedError(target, { doing }) ?? e;
  }
}

/**
 * The module `call.dll`, listed in `target`, once its initialisation has
 * ended: a module is listed before its `DllMain` returns. A remote
 * `GetModuleHandleW` answers only then (a new thread waits for the loader
 * lock, which the `DllMain` holds). Undefined when it is gone meanwhile
 * (its initialisation failed); a `timeout` error while it still runs.
 */
async function initialised(
  target: TargetProcess,
  call: { dll: string; pid: number; doing: string; timeout: number },
): Promise<ModuleInfo | undefined> {
  const { dll, pid, doing, timeout } = call;
  try {
    await callKernel32(target, {
      fn: "GetModuleHandleW",
      arg: wideBytes(dll),
      timeout,
      pid,
      doing,
    });
  } catch (e) {
    if (!(e instanceof HeapshiftError) || e.kind !== "timeout") throw e;
    throw new HeapshiftError(
      "timeout",
      `Cannot ${doing} process ${pid}: it is loaded but still initialising (its DllMain has not returned within ${timeout} ms); try again once it has, and check with \`modules ${pid}\``,
      { cause: e },
    );
  }
  return moduleNamed(modulesFor(target, doing), dll);
}

/**
 * The event that tells a heapshift DLL loading into process `pid` that
 * {@linkcode armExitWatch} follows (`HS_ARM_EVENT_FORMAT` in
 * dll/heapshift.h names it too, as `Local\`: a service's, in session 0, is
 * `Global\` from another session, another user's `Session\<id>\`).
 * Undefined when it cannot be made (a squatter holding the name as another
 * kind of object, or a session whose names cannot be reached): heapshift
 * then arms itself, as it does when the program loads it.
 */
function armEvent(pid: number): Handle | undefined {
  const name = `heapshift-arm-${pid}`;
  return targetNamed(pid, { name, create: createNamedEvent });
}

const ARM_EXPORT = "heapshift_arm_exit_watch";
/** heapshift's export that tries a failed takeover again. */
const RETRY_EXPORT = "heapshift_retry";

/** How long {@linkcode armExitWatch} waits for its call (ms). */
const ARM_WAIT_MS = 2_000;

/**
 * Has the heapshift DLL loaded into `target` ask for its exit watch's
 * atexit entry (dll/README.md, "Exit never waits for the dead") on a remote
 * thread of ours. Asking takes the CRT's exit lock, so it waits while
 * `exit()` runs in the target; from a hook call it could be made by a
 * thread that an atexit handler waits for, and both would wait forever. No
 * code of the program waits for our thread: a call still waiting after
 * {@linkcode ARM_WAIT_MS} finishes when `exit()` lets the lock go, or ends
 * with the process. The load stands whatever happens here: unarmed, the
 * hooks keep checking for the process's end on every call (slower, never
 * wrong). Only a process that ended meanwhile is an error, as anywhere in
 * `inject()`.
 */
async function armExitWatch(
  target: TargetProcess,
  mod: ModuleInfo,
  call: { pid: number; doing: string; timeout: number },
): Promise<void> {
  try {
    const fn = ARM_EXPORT;
    const address = loadedExportAddress(target, { dll: mod.path, fn });
    const timeout = Math.min(call.timeout, ARM_WAIT_MS);
    await callInTarget(target, address, { ...call, fn, arg: 0n, timeout });
  } catch {
    // Refused or cut short by ExitProcess, which may not have ended it yet.
    await throwIfEnded(target, call.doing);
  }
}

/**
 * heapshift loaded already, whose takeover failed for a reason that may
 * pass (a thread inside a function to patch, threads that could not all be
 * paused): asks it to try once more (its export `heapshift_retry`), on a
 * remote thread, holding the arm event as a load does, so that the program
 * leaves the exit watch's arming to that call, which arms it once live.
 * Whatever comes of it is the state `stats()` reads. Whether the call was
 * made.
 */
async function retryTakeover(
  target: TargetProcess,
  mod: ModuleInfo,
  call: { pid: number; doing: string; timeout: number },
): Promise<boolean> {
  let s;
  try {
    s = stats(call.pid);
  } catch {
    return false; // no stats block to tell: nothing to retry
  }
  if (s.state !== "failed" || !reasonMayPass(s.reason)) return false;
  const fn = RETRY_EXPORT;
  let address;
  try {
    address = loadedExportAddress(target, { dll: mod.path, fn });
  } catch {
    return false; // an older heapshift.dll, loaded before this one was built
  }
  using _armEvent = armEvent(call.pid);
  try {
    await callInTarget(target, address, {
      ...call,
      fn,
      arg: 0n,
      stuckHint:
        "heapshift's retry waits for the program's loader lock, which another of its threads may hold",
      checkWith: "stats",
    });
  } catch (e) {
    await throwIfEnded(target, call.doing);
    throw e;
  }
  return true;
}

/**
 * Throws {@linkcode exitedError} once `target` has ended, if it does within
 * a second: a process in `ExitProcess` fails calls before it has ended.
 */
async function throwIfEnded(
  target: TargetProcess,
  doing: string,
): Promise<void> {
  if (!(await waitSignaled(target.process, 1000))) return;
  const gone = exitedError(target, { doing });
  if (gone) throw gone;
}

/**
 * Unloads the module `moduleName` (file name, or path: a relative one is
 * resolved as {@linkcode inject} resolves it) from process `pid` with a
 * remote `FreeLibrary`, and checks it is gone. Only a module
 * heapshift loaded ({@linkcode inject}, or `dlls` of `launch`) is unloaded
 * unless `options.anyOrigin` (or `force`) is given: the program may have
 * loaded it itself and still call it. Nor one a running thread is in,
 * unless `options.force` is given: it would run on into unmapped code.
 * A pinned module (heapshift.dll pins itself: its hooks
 * must never be unmapped) stays, and is reported as a `pinned` error.
 *
 * @example Unload a DLL that was injected earlier
 * ```ts
 * import { eject } from "@heapshift/heapshift";
 * await eject(1234, "probe.dll");
 * ```
 *
 * @example Unload a DLL whoever loaded it, unless a thread runs in it
 * ```ts
 * import { eject } from "@heapshift/heapshift";
 * await eject(1234, "probe.dll", { anyOrigin: true });
 * ```
 */
export function eject(
  pid: number,
  moduleName: string,
  options: EjectOptions = {},
): Promise<void> {
  return guardAsync(() => {
    checkPath(moduleName, `eject a module from process ${pid}`);
    checkOptions(options, `eject ${baseName(moduleName)} from process ${pid}`);
    checkOptionTypes(options, {
      types: { anyOrigin: "boolean", force: "boolean" },
      doing: `eject ${baseName(moduleName)} from process ${pid}`,
    });
    checkPid(pid, `eject ${baseName(moduleName)} from`);
    return unloadFrom(pid, moduleName, { eject: options });
  });
}

/**
 * {@linkcode eject} with `options.eject`, telling who loaded the module
 * as `options.look` says (internal: for tests).
 */
export function ejectLooking(
  pid: number,
  moduleName: string,
  options: { eject: EjectOptions; look: OriginLook },
): Promise<void> {
  return guardAsync(() => unloadFrom(pid, moduleName, options));
}

async function unloadFrom(
  pid: number,
  moduleName: string,
  { eject: options, look: origin = {} }: {
    eject: EjectOptions;
    look?: OriginLook;
  },
): Promise<void> {
  const doing = `eject ${baseName(moduleName)} from`;
  const timeout = timeoutMs(options.timeout, {
    fallback: 10_000,
    doing: `${doing} process ${pid}`,
  });
  using target = openTarget(pid, { access: INJECT_ACCESS, doing });
  // Not while heapshift loads it (and marks it loaded) elsewhere.
  using _lock = await lockTarget(pid, { timeout, doing });
  const all = modulesFor(target, doing);
  const mod = moduleNamed(all, moduleName) ??
    moduleAtPath(all, moduleName, { arch: target.arch });
  if (!mod) {
    throw new HeapshiftError(
      "not-found",
      `Cannot ${doing} process ${pid}: ${
        notLoaded(all, moduleName, { arch: target.arch })
      }`,
    );
  }
  if (mod === all[0] || SYSTEM_CORE.has(mod.name.toLowerCase())) {
    throw new HeapshiftError(
      "unsupported",
      `Cannot ${doing} process ${pid}: ${mod.name} is ${
        mod === all[0] ? "the program itself" : "a core system DLL"
      }, which cannot be unloaded`,
    );
  }
  const force = options.force === true;
  const { importers, unreadable } = importersOf(all, mod, {
    image: (m) => moduleImage(target, m),
  });
  if (importers[0] === all[0]) {
    throw new HeapshiftError(
      "unsupported",
      `Cannot ${doing} process ${pid}: the program imports ${mod.name}, so it was loaded with the program, whose code calls into it; unloading it would crash the program`,
    );
  }
  if (importers.length) {
    // FreeLibrary would drop the reference the importer's load took: the
    // DLL is unmapped while the importer's import table still points in.
    const list = nameList(importers.map((m) => m.name));
    throw new HeapshiftError(
      "unsupported",
      importers.length === 1
        ? `Cannot ${doing} process ${pid}: ${list} imports it, so unloading it would crash the program when ${list} calls it; eject ${list} first`
        : `Cannot ${doing} process ${pid}: ${list} import it, so unloading it would crash the program when one of them calls it; eject them first`,
    );
  }
  if (unreadable.length && !force) {
    const list = nameList(unreadable.map((m) => m.name));
    throw new HeapshiftError(
      "unsupported",
      `Cannot ${doing} process ${pid}: the imports of ${list} cannot be read (neither from ${
        unreadable.length === 1
          ? "its file nor its image"
          : "their files nor their images"
      } in the process), so ${
        unreadable.length === 1 ? "it" : "one of them"
      } may import ${mod.name} and crash the program when it calls it; eject ${
        unreadable.length === 1 ? "it" : "them"
      } first, or pass force: true (--force on the command line) to unload ${mod.name} anyway`,
    );
  }
  if (isSystemModule(mod.path)) {
    throw new HeapshiftError(
      "unsupported",
      `Cannot ${doing} process ${pid}: ${mod.name} is a system DLL (${mod.path}), which Windows and the program load for each other, also through API sets and forwarders; unloading it could crash the program`,
    );
  }
  const session = { session: origin.session };
  const marked = force ||
    (origin.loaded ?? ((p, m) => loadedByHeapshift(p, m, session)))(pid, mod);
  const ours = marked === true;
  // heapshift.dll once an eject gave our reference back (inject of it
  // loaded already takes none): it stays, and nothing would unload it.
  if (marked === false && pinnedHeapshift(pid, mod)) {
    throw new HeapshiftError(
      "pinned",
      `Cannot ${doing} process ${pid}: it pins itself as it loads (heapshift's hooks must never be unmapped), so it stays loaded until the program exits; heapshift holds no reference to it to give back (an earlier eject gave it back, or the program loaded it itself)`,
    );
  }
  if (!ours && options.anyOrigin !== true) {
    const unseen = marked === false ? undefined : marked;
    throw unmarkedError(pid, { doing, module: mod.name, unseen });
  }
  // A thread runs on in a DLL's code after FreeLibrary unmaps it, or
  // returns there (Microsoft: FreeLibraryAndExitThread): the program
  // crashes. heapshift pins itself (its trimmer thread stays with it):
  // FreeLibrary says so.
  const look = !force && !isHeapshiftDll(mod.path);
  // The look suspends each thread in turn: in this process, that would be
  // the thread looking too (never resumed), or one holding a lock this one
  // then needs.
  if (look && pid === Deno.pid) {
    throw new HeapshiftError(
      "unsupported",
      `Cannot ${doing} process ${pid}: it is this process, whose threads eject cannot suspend to see whether one runs in ${mod.name} (it would stop itself); end ${mod.name}'s threads and pass force: true (--force on the command line) to unload it anyway`,
    );
  }
  let running = look ? threadsInModule(target, mod) : [];
  // A stack holds values calls left in frames that have not overwritten
  // them, which read as returns into the module: threads found in it, none
  // begun there, are looked at again (one really there stays). The last
  // look decides, as a single one would.
  for (
    let again = 0;
    again < RELOOKS && running.length &&
    running.every((t) => t.how === "inside");
    again++
  ) {
    await new Promise((r) => setTimeout(r, RELOOK_MS));
    running = threadsInModule(target, mod);
  }
  const seen = running.filter((t) => t.how !== "unknown");
  if (seen.length) {
    const began = seen.filter((t) => t.how === "began");
    const shown = began.length ? began : seen;
    const [threads, are, they, them] = shown.length === 1
      ? ["thread", "is", "it runs", "it"]
      : ["threads", "are", "they run", "them"];
    const where = began.length
      ? `began in ${mod.name} and ${are} still running, so unloading it would crash the program when ${they} on in its code`
      : `${are} running in ${mod.name}'s code (${
        shown.length === 1 ? "its stack holds" : "their stacks hold"
      } a return into it), so unloading it would crash the program when ${
        shown.length === 1 ? "it returns" : "they return"
      } there`;
    throw new HeapshiftError(
      "unsupported",
      `Cannot ${doing} process ${pid}: ${threads} ${
        nameList(shown.map((t) => String(t.tid)))
      } ${where}; have ${mod.name} end ${them} first, or pass force: true (--force on the command line) to unload it anyway`,
    );
  }
  if (running.length) {
    // Not seen is not safe: a thread we could not look at may be in it.
    const [threads, are, they] = running.length === 1
      ? ["thread", "is", "it is"]
      : ["threads", "are", "they are"];
    throw new HeapshiftError(
      "unsupported",
      `Cannot ${doing} process ${pid}: ${threads} ${
        nameList(running.map((t) => String(t.tid)))
      } ${are} running but could not be looked at (${
        running[0].why
      }), so whether ${they} in ${mod.name}'s code is not known, and unloading it could crash the program; pass force: true (--force on the command line) to unload it anyway`,
    );
  }
  const result = await callKernel32(target, {
    fn: "FreeLibrary",
    arg: mod.base,
    timeout,
    pid,
    doing,
  });
  if ((result.value & 0xffff_ffffn) === 0n) {
    throw new HeapshiftError(
      "failed",
      `Cannot ${doing} process ${pid}: FreeLibrary failed in the target: ${
        formatMessage(result.lastError)
      } (error ${result.lastError})`,
    );
  }
  // Our reference is given back, even when the module stays (pinned, or
  // loaded by the program too): another FreeLibrary could free its own.
  markUnloaded(pid, mod, session);
  if (modulesFor(target, doing).some((m) => m.base === mod.base)) {
    throw new HeapshiftError(
      "pinned",
      `Cannot ${doing} process ${pid}: it stays loaded after FreeLibrary: it is pinned (heapshift's DLL, heapshift.dll or heapshift32.dll, pins itself so its hooks are never unmapped) or held by another reference, from another load of it or from a thread the C runtime started in its code (_beginthreadex, std::thread) until that thread ends; heapshift's own reference is given back, so unless it is pinned it unloads once the others are released`,
    );
  }
}

/**
 * The module of `list` at `path` (none for a bare name) as inject resolves
 * that path: a relative one against this process's directory; for an x86
 * target, one under System32 where WOW64 sends it (inject loaded
 * SysWOW64's file for it).
 */
function moduleAtPath(
  list: ModuleInfo[],
  path: string,
  options: { arch: Arch },
): ModuleInfo | undefined {
  if (!/[\\/]/.test(path)) return undefined;
  return moduleNamed(list, targetPath(path, options));
}

/** Where in the target `path` leads: absolute, an x86 one's System32 its
 * SysWOW64. */
function targetPath(path: string, options: { arch: Arch }): string {
  const abs = absolutePath(path);
  return options.arch === "x86" ? wow64Path(abs, systemRoot()) : abs;
}

/**
 * Why `nameOrPath` names no module of `list`. A path says where it led (a
 * relative one is taken against this process's directory, which may not
 * be the one the user thinks of), and where a module of its name is.
 */
function notLoaded(
  list: ModuleInfo[],
  nameOrPath: string,
  options: { arch: Arch },
): string {
  if (!/[\\/]/.test(nameOrPath)) {
    return `no module ${nameOrPath} is loaded in it`;
  }
  const at = targetPath(nameOrPath, options);
  const from = at === nameOrPath ? "" : ` (from ${nameOrPath})`;
  const same = moduleNamed(list, baseName(nameOrPath));
  return `no module is loaded from ${at}${from}${
    same
      ? `; ${same.name} is loaded from ${same.path}: eject it by that path, or by its name`
      : ""
  }`;
}

/**
 * Whether `mod` is a heapshift DLL that pinned itself in `pid`: its load
 * pins it before anything else, and only a refused pin (reason `pin`) is
 * told in the stats block. Without a block it pinned itself too: the pin
 * comes before the block (a load that found no TLS index left makes none).
 */
function pinnedHeapshift(pid: number, mod: ModuleInfo): boolean {
  if (!isHeapshiftDll(mod.path)) return false;
  try {
    const s = stats(pid);
    return !(s.state === "failed" && s.reason === "pin");
  } catch {
    return true;
  }
}

/** Whether `path` is one of Windows' own DLLs ({@linkcode isSystemDll}). */
function isSystemModule(path: string): boolean {
  return isSystemDll(path, systemRoot());
}

/** `a`, `a and b`, `a, b and c`; past five, `a, b, c, d, e and 3 others`. */
function nameList(names: string[]): string {
  const shown = names.length > 5
    ? [...names.slice(0, 5), `${names.length - 5} others`]
    : names;
  return shown.length === 1
    ? shown[0]
    : `${shown.slice(0, -1).join(", ")} and ${shown.at(-1)}`;
}
