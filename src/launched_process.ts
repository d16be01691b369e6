/**
 * A program started by {@linkcode launch}: an {@linkcode AttachedProcess}
 * heapshift started itself.
 *
 * @module
 */

import type { Arch } from "./arch.ts";
import type { Handle } from "../ffi/mod.ts";
import type { TargetProcess } from "./_target.ts";
import {
  AttachedProcess,
  attachedTarget,
  holdAttachedStats,
} from "./attached_process.ts";

/** The target behind a {@linkcode LaunchedProcess} (internal). */
export function launchedTarget(launched: LaunchedProcess): TargetProcess {
  return attachedTarget(launched);
}

/**
 * Holds the stats block of `launched` if it has one by now (internal:
 * launch does once the DLLs are loaded). Best effort: false when it has
 * none, or it cannot be opened.
 */
export function holdLaunchedStats(launched: LaunchedProcess): boolean {
  return holdAttachedStats(launched);
}

/**
 * A program started by {@linkcode launch}: wait for it, read its exit
 * code, kill it, read what heapshift counted in it to the end, release it
 * (`using` does; the program runs on). Everything it does is an
 * {@linkcode AttachedProcess}'s.
 *
 * @example Wait with a deadline, then kill
 * ```ts
 * import { HeapshiftError, launch } from "@heapshift/heapshift";
 * using proc = await launch("C:\\tools\\job.exe", { dlls: ["build/heapshift.dll"] });
 * try {
 *   console.log("exit code", await proc.wait({ timeout: 60_000 }));
 * } catch (e) {
 *   if (e instanceof HeapshiftError && e.kind === "timeout") proc.kill();
 *   else throw e;
 * }
 * ```
 */
export class LaunchedProcess extends AttachedProcess {
  /** @internal Wraps a process handle (use {@linkcode launch}). */
  constructor(pid: number, process: Handle, options: { arch?: Arch } = {}) {
    super(pid, process, { arch: options.arch, launched: true });
  }
}
