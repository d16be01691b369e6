/**
 * Waits for a program and injects into the instance of it that keeps
 * running, as the CLI's `inject NAME --wait` does: a game that Steam must
 * start, started otherwise, exits within a second or so and has Steam
 * start it again, and some launchers restart their game the same way.
 *
 * @module
 */

import { attach, type AttachedProcess } from "./attached_process.ts";
import { checkOptions, checkOptionTypes, checkPath } from "./_arguments.ts";
import { readDll, redirectedFor32Bit } from "./_dll_file.ts";
import { HeapshiftError } from "./heapshift_error.ts";
import { inject } from "./injection.ts";
import {
  type EndedInstance,
  HANDOFF_WATCH_MS,
  heldBy,
  takeOverLasting,
  UNWATCHED,
} from "./_lasting_instance.ts";
import { checkName, findProcesses } from "./processes.ts";
import { timeoutMs } from "./_timeout.ts";
import { guardAsync } from "./_error_kinds.ts";
import { crashStatus, ProcessEndedError } from "./_exit_status.ts";

export type { EndedInstance } from "./_lasting_instance.ts";

/**
 * Options for {@linkcode waitAndInject}.
 *
 * @example Wait up to two minutes, each instance watched for 5 s
 * ```ts
 * import { waitAndInject } from "@heapshift/heapshift";
 * using game = await waitAndInject("game.exe", "build/heapshift.dll", {
 *   timeout: 120_000,
 *   watch: 5_000,
 * });
 * ```
 */
export interface WaitAndInjectOptions {
  /**
   * Milliseconds to wait for the program to start, and again for another
   * instance after one ended (default 60000; Infinity: no limit).
   */
  timeout?: number;
  /**
   * Milliseconds an instance injected into is watched for its end before
   * it is taken as the one that runs on (default 2000).
   */
  watch?: number;
  /** Each `inject`'s own timeout ({@linkcode InjectOptions}). */
  injectTimeout?: number;
  /**
   * Aborts the wait (looked at while no instance is found): the call
   * rejects with the signal's reason.
   */
  signal?: AbortSignal;
}

/** What {@linkcode waitAndInject} returns. */
export interface WaitedInjection extends Disposable {
  /**
   * The instance injected into, held open until `close()` (or the end of
   * a `using` block): its `stats()` reads heapshift's counts to its end.
   */
  process: AttachedProcess;
  /** The instances that ended before it, in order. */
  ended: EndedInstance[];
  /**
   * Its exit code when it too ended within the watch (no other instance
   * started within the timeout, or it crashed; `warning` says which).
   */
  exitCode?: number;
  /** What went wrong with it, if anything: it ended, or crashed. */
  warning?: string;
  /** Closes `process`. */
  close(): void;
}

/**
 * Waits for a process named `name` to run (takes the one running, if one
 * is; several running are refused as `ambiguous`), injects `dll` into it
 * and watches it for `options.watch`: one that ends meanwhile (not of a
 * crash) is passed over for the next instance to start, as a game that
 * Steam restarts must be. Returns the instance that
 * runs on, held open. Throws a `timeout` HeapshiftError when none starts
 * in time, `ended` when the last to start ended and none injected runs,
 * `failed` when one crashed before it could be injected into or 16 ended
 * one after the other (the cause of either, a `ProcessEndedError`, has
 * the instance's exit code when it was read), and `inject`'s errors for
 * an instance that runs on.
 *
 * @example Take over a Steam game however it is started
 * ```ts
 * import { waitAndInject } from "@heapshift/heapshift";
 * using game = await waitAndInject("game.exe", "build/heapshift.dll");
 * console.log(`pid ${game.process.pid}`, game.process.stats().state);
 * ```
 */
export function waitAndInject(
  name: string,
  dll: string,
  options: WaitAndInjectOptions = {},
): Promise<WaitedInjection> {
  return guardAsync(async () => {
    checkName(name, "wait for");
    const doing = `wait for ${name} and inject into it`;
    checkOptions(options, doing);
    checkOptionTypes(options, { types: { signal: "AbortSignal" }, doing });
    const timeout = timeoutMs(options.timeout, {
      fallback: 60_000,
      doing,
      infinite: true,
    });
    // Named as given: "the timeout" would send a script to `timeout`.
    const watchMs = timeoutMs(options.watch, {
      fallback: HANDOFF_WATCH_MS,
      doing,
      what: "the watch",
    });
    if (options.injectTimeout !== undefined) {
      timeoutMs(options.injectTimeout, {
        fallback: 10_000,
        doing,
        what: "the injectTimeout",
      });
    }
    // Checked before the wait, as inject would check them after it.
    checkPath(dll, doing);
    // (A System32 path names another file for a 32-bit program: read by
    // inject once the program's bitness is known.)
    const path = redirectedFor32Bit(dll) ? dll : readDll(dll).path;
    const { signal } = options;
    signal?.throwIfAborted();
    // Which of several running is the game cannot be told (the CLI's
    // --wait refuses them too): not one taken at random.
    const running = findProcesses(name).filter((p) => p.pid !== Deno.pid);
    if (running.length > 1) {
      throw new HeapshiftError(
        "ambiguous",
        `Cannot ${doing}: several processes named ${name} are running (pids ${
          running.map((p) => p.pid).join(", ")
        }): inject one by its pid`,
      );
    }
    const held = new Map<number, AttachedProcess>();
    const seconds = timeout / 1000;
    let kept: AttachedProcess | undefined;
    try {
      const found = await takeOverLasting(undefined, {
        name,
        seconds,
        watchMs,
        find: (seen) => {
          signal?.throwIfAborted();
          const p = findProcesses(name).find((p) =>
            !seen.has(p.pid) && p.pid !== Deno.pid
          );
          return p && { pid: p.pid, name: p.name };
        },
        noneStarted: `No process named ${name} started within ${seconds} s`,
        hold: (p) => {
          const attached = holdOf(p.pid);
          if (attached === undefined) return undefined;
          if (attached === "unopened") return UNWATCHED;
          held.set(p.pid, attached);
          return heldBy(attached);
        },
        takeOver: async (p) => {
          await inject(p.pid, path, { timeout: options.injectTimeout });
          // (One that could not be held is held now, or this says why.)
          if (!held.has(p.pid)) held.set(p.pid, attach(p.pid));
          return {};
        },
        notice: () => {},
        // An end as inject's `ended` errors have it: the exit code read.
        fail: (text, kind, code) =>
          new HeapshiftError(
            kind,
            text,
            code === undefined
              ? undefined
              : { cause: new ProcessEndedError(code) },
          ),
        crashOf: crashStatus,
        // A refusal (a DLL of the other bitness, …), not the end itself.
        failureText: (e) =>
          e instanceof HeapshiftError && e.kind !== "ended" &&
            e.kind !== "not-found"
            ? e.message
            : undefined,
        waitLonger: " (a longer timeout waits longer)",
        followNoFurther: "inject one by its pid",
      });
      kept = held.get(found.instance.pid)!;
      const process = kept;
      return {
        process,
        ended: found.ended,
        exitCode: found.exitCode,
        warning: found.warning,
        close: () => process.close(),
        [Symbol.dispose]: () => process.close(),
      };
    } finally {
      for (const attached of held.values()) {
        if (attached !== kept) attached.close();
      }
    }
  });
}

/**
 * Process `pid` held open; undefined when it is gone. One that cannot be
 * opened (another user's, or one that guards itself) is `unopened`: not
 * gone, it is injected into all the same, whose error says why it cannot
 * be reached. (Taken for gone, it was waited past for ever with
 * `timeout: Infinity`, else said to have ended.)
 */
function holdOf(pid: number): AttachedProcess | "unopened" | undefined {
  try {
    return attach(pid);
  } catch (e) {
    if (e instanceof HeapshiftError && e.kind === "not-found") return undefined;
    return "unopened";
  }
}
