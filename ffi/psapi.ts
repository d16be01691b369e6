/**
 * The modules of a process through psapi (`K32EnumProcessModulesEx`, in
 * kernel32): unlike toolhelp it can be asked for the 32-bit modules of a
 * WOW64 process, and under Wine it is the only list of them that works.
 * Also its memory counters (`K32GetProcessMemoryInfo`).
 *
 * @module
 */

import { ERROR, Win32Error } from "./win32_error.ts";
import type { Handle } from "./handle.ts";
import { kernel32 } from "./library.ts";
import { readWide } from "./strings.ts";
import type { ModuleEntry } from "./toolhelp.ts";

/** `LIST_MODULES_*` filters of `EnumProcessModulesEx`. */
export const LIST_MODULES = {
  DEFAULT: 0,
  BIT32: 1,
  BIT64: 2,
  ALL: 3,
} as const;

/** Every HMODULE of the list, growing the buffer until it fits. */
function moduleHandles(process: Handle, filter: number): bigint[] {
  const k = kernel32();
  let slots = 256;
  for (let attempt = 0;; attempt++) {
    const buf = new BigUint64Array(slots);
    const needed = new Uint32Array(1);
    const ok = k.K32EnumProcessModulesEx(
      process.raw,
      new Uint8Array(buf.buffer),
      buf.byteLength,
      new Uint8Array(needed.buffer),
      filter,
    );
    if (!ok) {
      const code = k.GetLastError();
      // ERROR_PARTIAL_COPY: the loader was changing the list; read again.
      if (code === ERROR.PARTIAL_COPY && attempt < 10) continue;
      throw new Win32Error("K32EnumProcessModulesEx", code);
    }
    const n = needed[0] / 8;
    if (n <= slots) return [...buf.subarray(0, n)];
    slots = n + 16;
  }
}

/** The name (base or full path) of `module` in `process`, or undefined. */
function moduleName(
  process: Handle,
  module: bigint,
  fn: "K32GetModuleBaseNameW" | "K32GetModuleFileNameExW",
): string | undefined {
  const buf = new Uint16Array(32768);
  const n = kernel32()[fn](process.raw, module, buf, buf.length);
  if (n === 0) return undefined;
  return readWide(new Uint8Array(buf.buffer), { maxChars: n });
}

/**
 * The full path of the module loaded at `base` in `process` (opened with
 * QUERY_INFORMATION and VM_READ), from the loader's own Unicode string:
 * long paths whole; `undefined` when it cannot be read (unloaded meanwhile).
 */
export function moduleFilePath(
  process: Handle,
  base: bigint,
): string | undefined {
  return moduleName(process, base, "K32GetModuleFileNameExW");
}

/**
 * The modules of `process` (opened with QUERY_INFORMATION and VM_READ)
 * that `filter` selects ({@linkcode LIST_MODULES}), program first. A
 * module unloaded while the list is read is left out.
 */
export function processModules(
  process: Handle,
  filter: number = LIST_MODULES.DEFAULT,
): ModuleEntry[] {
  const out: ModuleEntry[] = [];
  // MODULEINFO (x64): lpBaseOfDll 0, SizeOfImage 8, EntryPoint 16.
  const info = new Uint8Array(24);
  const view = new DataView(info.buffer);
  const handles = moduleHandles(process, filter);
  let lastError = 0;
  for (const module of handles) {
    const k = kernel32();
    if (!k.K32GetModuleInformation(process.raw, module, info, info.length)) {
      lastError = k.GetLastError();
      continue;
    }
    const name = moduleName(process, module, "K32GetModuleBaseNameW");
    const path = moduleName(process, module, "K32GetModuleFileNameExW");
    if (name === undefined || path === undefined) continue;
    out.push({
      base: view.getBigUint64(0, true),
      size: view.getUint32(8, true),
      name,
      path,
    });
  }
  // None readable (rather than some unloaded meanwhile): a real failure.
  if (handles.length > 0 && out.length === 0) {
    throw new Win32Error("K32GetModuleInformation", lastError);
  }
  return out;
}

/** A process's memory counters (`PROCESS_MEMORY_COUNTERS`), in bytes. */
export interface ProcessMemory {
  workingSet: number;
  peakWorkingSet: number;
  /** Committed private memory (`PagefileUsage`). */
  privateBytes: number;
  peakPrivateBytes: number;
}

/**
 * The memory counters of `process` (opened with QUERY_LIMITED_INFORMATION
 * and VM_READ).
 */
export function processMemory(process: Handle): ProcessMemory {
  // PROCESS_MEMORY_COUNTERS (x64): cb 0, PageFaultCount 4, then SIZE_Ts:
  // PeakWorkingSetSize 8, WorkingSetSize 16, quota fields 24-48,
  // PagefileUsage 56, PeakPagefileUsage 64.
  const buf = new Uint8Array(72);
  const view = new DataView(buf.buffer);
  view.setUint32(0, buf.length, true);
  const k = kernel32();
  if (!k.K32GetProcessMemoryInfo(process.raw, buf, buf.length)) {
    throw new Win32Error("K32GetProcessMemoryInfo", k.GetLastError());
  }
  const size = (o: number) => Number(view.getBigUint64(o, true));
  return {
    peakWorkingSet: size(8),
    workingSet: size(16),
    privateBytes: size(56),
    peakPrivateBytes: size(64),
  };
}
