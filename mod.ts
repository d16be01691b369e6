/**
 * heapshift: take over a running Windows program's UCRT allocator and hand
 * it to mimalloc. This module is the scripting API; the CLI is one client.
 *
 * Everything that touches processes needs Windows (natively, or the Windows
 * `deno.exe` under Wine); the module itself imports on every OS.
 *
 * @example Inject heapshift into a running program
 * ```ts
 * import { findProcesses, inject } from "@heapshift/heapshift";
 * const [target] = findProcesses("game.exe");
 * await inject(target.pid, "build/heapshift.dll");
 * ```
 *
 * @module
 */

export {
  HeapshiftError,
  type HeapshiftErrorKind,
} from "./src/heapshift_error.ts";
export type { Arch } from "./src/arch.ts";
export {
  findProcess,
  findProcesses,
  processArch,
  processes,
  type ProcessInfo,
  waitForProcess,
  type WaitForProcessOptions,
} from "./src/processes.ts";
export { type ModuleInfo, modules } from "./src/module_list.ts";
export { eject, inject, type InjectOptions } from "./src/injection.ts";
export { launch, type LaunchOptions } from "./src/launcher.ts";
export { LaunchedProcess } from "./src/launched_process.ts";
export { quoteArg } from "./src/command_line.ts";
export { imports, type ImportsOptions } from "./src/imported_dlls.ts";
export {
  type DllOptions,
  type FileOptions,
  type ImportedDll,
  type ImportedSymbol,
  OutputExistsError,
  type PatchBytesOptions,
  type PatchFileOptions,
  patchImports,
  type PatchReport,
  type PatchResult,
  PeError,
  PeFileError,
  PeFormatError,
  PePatchError,
  type RemoveBytesOptions,
  type RemoveFileOptions,
  removeImport,
} from "./pe/mod.ts";
export { stats } from "./src/live_stats.ts";
export type {
  HeapshiftCounters,
  HeapshiftReason,
  HeapshiftState,
  HeapshiftStats,
} from "./src/stats_block.ts";
