/**
 * The parts of mod.ts the CLI uses, and small adapters over them.
 *
 * @module
 */

import type { HeapshiftStats, LaunchedProcess } from "../mod.ts";

export {
  attach,
  type AttachedProcess,
  eject,
  findProcesses,
  HeapshiftError,
  type HeapshiftStats,
  inject,
  launch,
  type LaunchedProcess,
  type LaunchOptions,
  type ModuleInfo,
  modules,
  processArch,
  processes,
  type ProcessInfo,
  processPath,
  stats,
  waitForProcess,
} from "../mod.ts";

/** The stats type the CLI renders. */
export type Stats = HeapshiftStats;

/** Waits for a launched process to end and returns its exit code. */
export async function waitExit(launched: LaunchedProcess): Promise<number> {
  return await launched.wait();
}
