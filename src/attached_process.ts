/**
 * A process heapshift holds: wait for it, read its exit code, kill it,
 * read what heapshift counted in it to the end, release it.
 *
 * @module
 */

import type { Arch } from "./arch.ts";
import { HeapshiftError } from "./heapshift_error.ts";
import {
  ERROR,
  grantedAccess,
  type Handle,
  isSignaled,
  PROCESS,
  processCreationTime,
  processExitCode,
  terminateProcess,
  waitSignaled,
  Win32Error,
} from "../ffi/mod.ts";
import {
  checkPid,
  denialOf,
  openTarget,
  type TargetProcess,
} from "./_target.ts";
import { guard, guardAsync, heapshiftError } from "./_error_kinds.ts";
import { timeoutMs } from "./_timeout.ts";
import { checkOptions } from "./_arguments.ts";
import { heldStats, holdStats, stats } from "./live_stats.ts";
import type { HeapshiftStats } from "./stats_block.ts";

/** How often {@linkcode AttachedProcess.wait} looks for a new stats block (ms). */
const HOLD_LOOK_MS = 100;

/** Each AttachedProcess as a target (its handle), for launch's own checks. */
const targets = new WeakMap<AttachedProcess, TargetProcess>();

/** The target behind an {@linkcode AttachedProcess} (internal). */
export function attachedTarget(attached: AttachedProcess): TargetProcess {
  return targets.get(attached)!;
}

/**
 * What an AttachedProcess holds until `close()`: its process handle, and
 * its stats block once held (Windows removes the block with its last
 * handle, so the counts outlast the program). Kept apart from the object,
 * so that {@linkcode unclosed} can release them once it is collected.
 */
interface Held {
  pid: number;
  process: Handle;
  block?: Handle;
}

/** Each AttachedProcess's {@linkcode Held}. */
const held = new WeakMap<AttachedProcess, Held>();

/**
 * What the AttachedProcesses not closed yet hold, by pid: `inject` holds
 * their stats block as soon as heapshift is in (a pid is not reused while a
 * handle to its process is open, so these are the very processes injected
 * into). Not the objects: a script that drops one without closing it
 * leaves it to {@linkcode unclosed}.
 */
const open = new Map<number, Set<Held>>();

/**
 * Releases what an AttachedProcess never closed held, once it is
 * collected: nothing of it runs any more (a pending `wait()` keeps it
 * alive), and `launch` keeps its own until it returns it. Never throws:
 * an error here would end the script.
 */
const unclosed = new FinalizationRegistry<Held>((h) => {
  try {
    release(h);
  } catch { /* (a handle Windows would not close: nothing to do) */ }
});

function release(h: Held): void {
  const others = open.get(h.pid);
  others?.delete(h);
  if (others?.size === 0) open.delete(h.pid);
  const { block, process } = h;
  h.block = undefined;
  try {
    block?.close();
  } finally {
    process.close();
  }
}

/**
 * Holds the stats block of `attached` if it has one by now (internal:
 * launch does once the DLLs are loaded, inject once heapshift is in).
 * Best effort: false when it has none, or it cannot be opened.
 */
export function holdAttachedStats(attached: AttachedProcess): boolean {
  const h = held.get(attached);
  return h !== undefined && holdBlock(h);
}

function holdBlock(h: Held): boolean {
  if (h.block) return true;
  if (h.process.closed) return false;
  try {
    h.block = holdStats(h.pid, processCreationTime(h.process));
    return h.block !== undefined;
  } catch {
    return false;
  }
}

/**
 * Holds the stats block of every open {@linkcode AttachedProcess} of `pid`
 * (internal: inject, once heapshift is loaded). Best effort, never throws.
 */
export function holdStatsOf(pid: number): void {
  for (const h of open.get(pid) ?? []) holdBlock(h);
}

/** Why {@linkcode attach} was refused the right to end a process. */
interface KillDenied {
  /** It is a protected process (undefined: not known). */
  protected?: boolean;
  /** heapshift held SeDebugPrivilege (it runs elevated) when refused. */
  debugPrivilege?: boolean;
}

/** The message of a kill refused because attach got no right to end it. */
function killDeniedMessage(pid: number, why: KillDenied = {}): string {
  const head =
    `Cannot kill process ${pid}: Windows did not grant the right to end it when it was attached to`;
  const protection = "whose protection decides which programs may end it";
  if (why.debugPrivilege) {
    return why.protected
      ? `${head}, though heapshift holds SeDebugPrivilege (it runs elevated): it is a protected process, ${protection}; end it the way the program itself provides (a service: stop the service)`
      : `${head}, though heapshift holds SeDebugPrivilege (it runs elevated): security or anti-cheat software may be guarding it; end it the way that software allows`;
  }
  if (why.protected) {
    return `${head}: it is a protected process, ${protection}, so an elevated (Administrator) prompt may be refused too`;
  }
  return why.protected === false
    ? `${head} (it may belong to another user or run elevated); attach to it from an elevated (Administrator) prompt`
    : `${head} (it may belong to another user or run elevated, or be a protected process); attach to it from an elevated (Administrator) prompt, unless it is a protected process, ${protection}`;
}

/**
 * A process heapshift holds open: one {@linkcode attach}ed to, or a
 * {@linkcode LaunchedProcess}. Its `stats()` also work once the program
 * has exited, for heapshift loaded in it while this object was open.
 * `close()` it (or `using`): one a script drops unclosed keeps its handle
 * and stats block until it is garbage-collected.
 *
 * @example Inject, wait for the end, report the final counts
 * ```ts
 * import { attach, findProcess, inject } from "@heapshift/heapshift";
 * using game = attach(findProcess("game.exe").pid);
 * await inject(game.pid, "build/heapshift.dll");
 * const code = await game.wait();
 * console.log(`exit ${code}: ${game.stats().counters.allocs} allocations`);
 * ```
 */
export class AttachedProcess implements Disposable {
  /** Its process id. */
  readonly pid: number;
  #process: Handle;
  #canKill: boolean;
  #denied: KillDenied | undefined;
  #launched: boolean;

  /**
   * @internal Wraps a process handle (use {@linkcode attach} or
   * {@linkcode launch}); `canKill`: it was opened with the right to
   * terminate (default true), else `denied` says why not, as far as known;
   * `launched`: heapshift started it.
   */
  constructor(
    pid: number,
    process: Handle,
    options: {
      arch?: Arch;
      canKill?: boolean;
      denied?: KillDenied;
      launched?: boolean;
    } = {},
  ) {
    this.pid = pid;
    this.#process = process;
    this.#canKill = options.canKill ?? true;
    this.#denied = options.denied;
    this.#launched = options.launched ?? false;
    targets.set(this, { pid, process, arch: options.arch ?? "x64" });
    const h: Held = { pid, process };
    held.set(this, h);
    if (!open.has(pid)) open.set(pid, new Set());
    open.get(pid)!.add(h);
    unclosed.register(this, h, this);
  }

  /**
   * Waits for the program to exit and returns its exit code. With a
   * `timeout` (ms; 0: look once; default Infinity: no limit), throws a
   * `timeout` HeapshiftError if it is still running. heapshift's stats
   * block is held from the start of the wait, or, made during it (a
   * program patched to import heapshift), as soon as the wait sees it
   * (within a tenth of a second), so that `stats()` still reads it after the
   * exit.
   */
  wait(options: { timeout?: number } = {}): Promise<number> {
    return guardAsync(async () => {
      checkOptions(options, `wait for process ${this.pid}`);
      const timeout = timeoutMs(options.timeout, {
        fallback: Infinity,
        infinite: true,
        zero: true,
        doing: `wait for process ${this.pid}`,
      });
      this.#open("wait for");
      holdAttachedStats(this);
      // A program that loads heapshift itself (patched to import it) makes
      // its block after the wait began, which a look at the start missed:
      // looked for again while waiting, every tenth of a second.
      let looked = Date.now();
      const holdLate = () => {
        if (Date.now() - looked >= HOLD_LOOK_MS) {
          looked = Date.now();
          holdAttachedStats(this);
        }
        return undefined; // (the deadline stays)
      };
      let exited: boolean;
      try {
        exited = await waitSignaled(this.#process, timeout, {
          until: holdLate,
        });
      } catch (e) {
        this.#open("wait for"); // closed meanwhile: say so
        throw e;
      }
      if (!exited) {
        throw new HeapshiftError(
          "timeout",
          `Process ${this.pid} did not exit within ${options.timeout} ms`,
        );
      }
      return processExitCode(this.#process);
    });
  }

  /** The exit code, or `undefined` while the program runs. */
  exitCode(): number | undefined {
    return guard(() => {
      this.#open("read the exit code of");
      return isSignaled(this.#process)
        ? processExitCode(this.#process)
        : undefined;
    });
  }

  /**
   * Terminates the program (no effect once it has exited). `exitCode` is
   * its exit code: 0 to 0xFFFFFFFF, or a negative 32-bit one (-1 is
   * 0xFFFFFFFF). An `access-denied` HeapshiftError for a process
   * {@linkcode attach} could not open with the right to end it, or whose
   * handle Windows granted without it (security software can strip it).
   */
  kill(exitCode = 1): void {
    if (
      !Number.isInteger(exitCode) || exitCode < -(2 ** 31) ||
      exitCode >= 2 ** 32
    ) {
      throw new HeapshiftError(
        "bad-argument",
        `Cannot kill process ${this.pid}: the exit code must be a 32-bit integer, not ${exitCode}`,
      );
    }
    this.#open("kill");
    if (this.exitCode() !== undefined) return;
    if (!this.#canKill) {
      throw new HeapshiftError(
        "access-denied",
        killDeniedMessage(this.pid, this.#denied),
      );
    }
    try {
      terminateProcess(this.#process, exitCode >>> 0);
    } catch (e) {
      if (!(e instanceof Win32Error && e.code === ERROR.ACCESS_DENIED)) {
        throw heapshiftError(e);
      }
      // Ended or ending meanwhile: Windows refuses to end it twice. Unless
      // the handle lacks the right: an open can be granted less than it
      // asked for (security software strips it), and the program runs on.
      if (this.#mayTerminate()) return;
      throw new HeapshiftError(
        "access-denied",
        `Cannot kill process ${this.pid}: access denied (Windows opened it without the right to end it, though heapshift asked for that right: security or anti-cheat software may be guarding it); end it the way that software allows`,
        { cause: e },
      );
    }
  }

  /** Whether the handle holds PROCESS_TERMINATE (true when unknown). */
  #mayTerminate(): boolean {
    try {
      return (grantedAccess(this.#process) & PROCESS.TERMINATE) !== 0;
    } catch {
      return true;
    }
  }

  /**
   * heapshift's stats in the program, as {@linkcode stats} reads them, and
   * also once it has exited: what heapshift counted to the end (its stats
   * block, which Windows removes with the program, is held until
   * `close()`: from `launch` when heapshift is among its `dlls`, from
   * `inject` of heapshift while this object is open, else from the first
   * `stats()` or `wait()` that finds it, as for a program patched to
   * import heapshift). Throws a `no-heapshift` HeapshiftError while the
   * program runs without heapshift, `not-found` once it has ended without
   * a block held.
   *
   * @example Report what heapshift counted
   * ```ts
   * import { launch } from "@heapshift/heapshift";
   * using proc = await launch("C:\\tools\\job.exe", { dlls: ["build/heapshift.dll"] });
   * const code = await proc.wait();
   * const { state, counters } = proc.stats();
   * console.log(`exit ${code}; heapshift ${state}, ${counters.allocs} allocations`);
   * ```
   */
  stats(): HeapshiftStats {
    return guard(() => {
      this.#open("read heapshift's stats of");
      const h = held.get(this)!;
      if (holdBlock(h)) return heldStats(this.pid, h.block!);
      if (isSignaled(this.#process)) {
        // (each class says its own ways: a launched program's was never
        // attached to)
        const ways = this.#launched
          ? "launch with heapshift.dll in its dlls, from an inject of heapshift made by this script while it is open, or from wait() or stats() once heapshift is in the program"
          : "an inject of heapshift made by this script while it is open, or from attach, wait() or stats() once heapshift is in the program";
        throw new HeapshiftError(
          "not-found",
          `Cannot read heapshift's stats of process ${this.pid}: it has ended, and no heapshift stats block of it was held (this ${this.constructor.name} holds one from ${ways})`,
        );
      }
      return stats(this.pid);
    });
  }

  /** Throws a `bad-argument` error once the handle is released. */
  #open(doing: string): void {
    if (this.#process.closed) {
      throw new HeapshiftError(
        "bad-argument",
        `Cannot ${doing} process ${this.pid}: this ${this.constructor.name} was closed (close() or the end of its using block); keep it open while you need it`,
      );
    }
  }

  /**
   * Releases the process handle and the stats block held (the program keeps
   * running). One a script drops without closing releases them once it is
   * garbage-collected, at a time no one can tell: close it (or `using`)
   * to release them when the script is done with it.
   */
  close(): void {
    guard(() => {
      unclosed.unregister(this);
      release(held.get(this)!);
    });
  }

  /** Same as {@linkcode AttachedProcess.close}. */
  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * Opens the running process `pid` and holds it until `close()` (or the end
 * of a `using` block), for a script that waits for a program it did not
 * start: wait for it, read its exit code, kill it, and read heapshift's
 * final counts once it has exited (`stats()`), when heapshift was
 * injected while it was held or was in it already. Throws a `not-found`
 * HeapshiftError for no such process, `access-denied` when it cannot be
 * opened (`kill()` alone needs more: one opened without the right to end
 * it refuses to kill).
 *
 * @example Inject into a running program and report its final counts
 * ```ts
 * import { attach, findProcess, inject } from "@heapshift/heapshift";
 * using game = attach(findProcess("game.exe").pid);
 * await inject(game.pid, "build/heapshift.dll");
 * console.log("exit code", await game.wait());
 * const { counters } = game.stats();
 * console.log(`${counters.allocs} allocations, ${counters.migrations} migrations`);
 * ```
 */
export function attach(pid: number): AttachedProcess {
  return guard(() => {
    const doing = "attach to";
    checkPid(pid, doing);
    const access = PROCESS.QUERY_LIMITED_INFORMATION | PROCESS.SYNCHRONIZE;
    let target;
    let canKill = true;
    let denied;
    try {
      target = openTarget(pid, { access: access | PROCESS.TERMINATE, doing });
    } catch (e) {
      if (!(e instanceof HeapshiftError && e.kind === "access-denied")) {
        throw e;
      }
      target = openTarget(pid, { access, doing });
      canKill = false;
      denied = denialOf(e); // for kill()'s advice
    }
    const attached = new AttachedProcess(pid, target.process, {
      arch: target.arch,
      canKill,
      denied,
    });
    // heapshift in it already (patched in, injected before): held now.
    holdAttachedStats(attached);
    return attached;
  });
}
