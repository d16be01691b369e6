/**
 * ntdll functions that kernel32 has no counterpart for, reached through
 * kernel32's `GetProcAddress`: ntdll is always loaded, and no other
 * library is opened.
 *
 * @module
 */

import { kernel32 } from "./library.ts";
import { ansi, wide } from "./strings.ts";

/** The address of ntdll's export `name`, or 0n when it has none. */
export function ntdllExport(name: string): bigint {
  const k = kernel32();
  const ntdll = BigInt(k.GetModuleHandleW(wide("ntdll.dll")));
  return ntdll === 0n ? 0n : BigInt(k.GetProcAddress(ntdll, ansi(name)));
}

/**
 * ntdll's export `name` as a function of signature `def`, found on the
 * first call of the returned getter.
 */
function lazyFn<const T extends Deno.ForeignFunction>(
  name: string,
  def: T,
): () => Deno.UnsafeFnPointer<T> {
  let f: Deno.UnsafeFnPointer<T> | undefined;
  return () => {
    if (f) return f;
    const at = ntdllExport(name);
    if (at === 0n) throw new Error(`ntdll has no ${name}`);
    return f = new Deno.UnsafeFnPointer(Deno.UnsafePointer.create(at)!, def);
  };
}

const query = lazyFn("NtQueryInformationThread", {
  parameters: ["pointer", "u32", "buffer", "u32", "pointer"],
  result: "i32",
});
const queryObject = lazyFn("NtQueryObject", {
  parameters: ["pointer", "u32", "buffer", "u32", "pointer"],
  result: "i32",
});
const toDos = lazyFn("RtlNtStatusToDosError", {
  parameters: ["i32"],
  result: "u32",
});
const querySystem = lazyFn("NtQuerySystemInformation", {
  parameters: ["u32", "buffer", "u32", "buffer"],
  result: "i32",
});
const adjust = lazyFn("RtlAdjustPrivilege", {
  parameters: ["u32", "u8", "u8", "buffer"],
  result: "i32",
});

/**
 * `NtQueryInformationThread(thread, cls, buffer)`: 0 (STATUS_SUCCESS) or
 * the Win32 error code `RtlNtStatusToDosError` gives for the failure.
 */
export function ntQueryInformationThread(
  thread: Deno.PointerValue,
  cls: number,
  buffer: Uint8Array,
): number {
  const status = query().call(thread, cls, buffer, buffer.length, null);
  return status === 0 ? 0 : toDos().call(status);
}

/**
 * `NtQueryObject(handle, cls, buffer)`: 0 (STATUS_SUCCESS) or the Win32
 * error code `RtlNtStatusToDosError` gives for the failure.
 */
export function ntQueryObject(
  handle: Deno.PointerValue,
  cls: number,
  buffer: Uint8Array,
): number {
  const status = queryObject().call(handle, cls, buffer, buffer.length, null);
  return status === 0 ? 0 : toDos().call(status);
}

/** SeDebugPrivilege's LUID (its low part; the high part is 0). */
export const SE_DEBUG_PRIVILEGE = 20;

/**
 * `RtlAdjustPrivilege(privilege, enable, FALSE)`: enables or disables a
 * privilege of this process's token. Whether it was enabled before, or
 * undefined when the token does not hold it (not elevated) or the call
 * fails.
 */
export function adjustPrivilege(
  privilege: number,
  enable: boolean,
): boolean | undefined {
  const was = new Uint8Array(1);
  const status = adjust().call(privilege, enable ? 1 : 0, 0, was);
  return status === 0 ? was[0] !== 0 : undefined;
}

// SYSTEM_INFORMATION_CLASS SystemProcessInformation; STATUS_INFO_LENGTH_MISMATCH.
const SYSTEM_PROCESS_INFORMATION = 5;
const INFO_LENGTH_MISMATCH = 0xc000_0004 | 0;
// SYSTEM_PROCESS_INFORMATION (winternl.h), x64 (this Deno's): its
// UniqueProcessId and SessionId.
const SPI_PID = 0x50;
const SPI_SESSION = 0x64;

/**
 * Each running process's session, by pid, from the system's process list
 * (`NtQuerySystemInformation(SystemProcessInformation)`, whose
 * `SessionId` winternl.h documents): no process is opened, so another
 * user's are listed too, which `ProcessIdToSessionId` refuses to a caller
 * not elevated. Undefined when the list cannot be had.
 */
export function systemProcessSessions(): Map<number, number> | undefined {
  const needed = new Uint32Array(1);
  let size = 1 << 20;
  for (let attempt = 0; attempt < 4; attempt++) {
    const buffer = new Uint8Array(size);
    const status = querySystem().call(
      SYSTEM_PROCESS_INFORMATION,
      buffer,
      buffer.length,
      new Uint8Array(needed.buffer),
    );
    if (status === INFO_LENGTH_MISMATCH) {
      // More processes since: room for the list as it was, and some.
      size = Math.max(size * 2, needed[0] + (64 << 10));
      continue;
    }
    if (status !== 0) return undefined;
    const view = new DataView(buffer.buffer);
    const sessions = new Map<number, number>();
    for (let at = 0;;) {
      if (at + SPI_SESSION + 4 > buffer.length) return undefined;
      const pid = Number(view.getBigUint64(at + SPI_PID, true));
      sessions.set(pid, view.getUint32(at + SPI_SESSION, true));
      const next = view.getUint32(at, true);
      if (next === 0) return sessions;
      at += next;
    }
  }
  return undefined;
}
