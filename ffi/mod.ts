/**
 * heapshift's Windows bindings: kernel32 and dbghelp through Deno FFI,
 * opened lazily, with typed results and {@linkcode Win32Error} failures.
 *
 * @module
 */

export * from "./debug.ts";
export * from "./win32_error.ts";
export * from "./handle.ts";
export * from "./library.ts";
export * from "./memory.ts";
export * from "./loader.ts";
export * from "./process.ts";
export * from "./error_mode.ts";
export * from "./strings.ts";
export * from "./thread.ts";
export * from "./toolhelp.ts";
export * from "./wine.ts";
export * from "./remote_call.ts";
export * from "./dbghelp.ts";
export * from "./mapping.ts";
export * from "./event.ts";
export * from "./mutex.ts";
export * from "./psapi.ts";
export * from "./file.ts";
export * from "./job.ts";
