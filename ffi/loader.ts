/**
 * Exports of system DLLs already loaded here. kernel32's functions are at
 * the same address in every process of a session, so their addresses here
 * are valid remote thread entry points in a target.
 *
 * @module
 */

import { fail } from "./win32_error.ts";
import { kernel32 } from "./library.ts";
import { ansi, wide } from "./strings.ts";

/** `GetModuleHandleW` + `GetProcAddress`: the address of `dll!name`. */
export function procAddress(dll: string, name: string): bigint {
  const k = kernel32();
  const mod = k.GetModuleHandleW(wide(dll));
  if (BigInt(mod) === 0n) fail("GetModuleHandleW");
  const addr = k.GetProcAddress(mod, ansi(name));
  if (BigInt(addr) === 0n) fail("GetProcAddress");
  return BigInt(addr);
}

/**
 * `LoadLibraryW(path)` in this process: the module's base address. Throws
 * a Win32Error (126 for a missing dependency, 193 for a DLL of the other
 * architecture, 1114 when its initialisation failed).
 */
export function loadLibrary(path: string): bigint {
  const mod = BigInt(kernel32().LoadLibraryW(wide(path)));
  if (mod === 0n) fail("LoadLibraryW");
  return mod;
}
