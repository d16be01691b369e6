/**
 * heapshift: take over a running Windows program's UCRT allocator and hand
 * it to mimalloc. This module is the scripting API; the CLI is one client.
 *
 * Everything that touches processes needs Windows (natively, or the Windows
 * `deno.exe` under Wine); the module itself imports on every OS.
 *
 * Every function throws one error type for what can go wrong, a
 * {@linkcode HeapshiftError} with a `kind` to branch on (`not-found`,
 * `ambiguous`, `access-denied`, `bad-dll`, `bad-pe`, `not-windows`,
 * `ended`: the target ended meanwhile, a {@linkcode ProcessEndedError}
 * saying how, …)
 * and a message that says what to do; the failure of the layer below (a Win32 error, or
 * one of the typed errors of the PE package, `@heapshift/heapshift/pe`) is
 * its `cause`.
 *
 * @example Inject heapshift into a running program
 * ```ts
 * import { findProcess, inject } from "@heapshift/heapshift";
 * // (a not-found HeapshiftError when it is not running, an ambiguous
 * // one naming the pids when several are)
 * const target = findProcess("game.exe");
 * await inject(target.pid, "build/heapshift.dll");
 * ```
 *
 * @example Branch on what went wrong
 * ```ts
 * import { HeapshiftError, patchImports } from "@heapshift/heapshift";
 * try {
 *   await patchImports("game.exe", { inPlace: true });
 * } catch (e) {
 *   if (!(e instanceof HeapshiftError)) throw e;
 *   if (e.kind === "bad-pe") console.error(`not a program: ${e.message}`);
 *   else throw e;
 * }
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
  processPath,
  waitForProcess,
  type WaitForProcessOptions,
} from "./src/processes.ts";
export { type ModuleInfo, modules } from "./src/module_list.ts";
export {
  eject,
  type EjectOptions,
  inject,
  type InjectOptions,
} from "./src/injection.ts";
export {
  type EndedInstance,
  waitAndInject,
  type WaitAndInjectOptions,
  type WaitedInjection,
} from "./src/wait_and_inject.ts";
export { launch, type LaunchOptions } from "./src/launcher.ts";
export { LaunchedProcess } from "./src/launched_process.ts";
export { attach, AttachedProcess } from "./src/attached_process.ts";
export { quoteArg } from "./src/command_line.ts";
export { crashStatus, ProcessEndedError } from "./src/_exit_status.ts";
export { imports, type ImportsOptions } from "./src/imported_dlls.ts";
export { patchImports, removeImport } from "./src/import_patch.ts";
export type {
  DllOptions,
  FileOptions,
  ImportedDll,
  ImportedSymbol,
  KeepAttributes,
  PatchBytesOptions,
  PatchFileOptions,
  PatchReport,
  PatchResult,
  RemoveBytesOptions,
  RemoveFileOptions,
} from "./pe/mod.ts";
export { stats } from "./src/live_stats.ts";
export { reasonMayPass } from "./src/stats_block.ts";
export type {
  HeapshiftCounters,
  HeapshiftReason,
  HeapshiftState,
  HeapshiftStats,
  HeapshiftTrim,
  HeapshiftTrimState,
} from "./src/stats_block.ts";
