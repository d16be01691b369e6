/**
 * An owned Win32 `HANDLE`: closed exactly once, by `close()` or by `using`.
 * Callers above ffi/ never see the raw pointer.
 *
 * @module
 */

import { checkBool, ERROR, Win32Error } from "./win32_error.ts";
import { kernel32 } from "./library.ts";

/** An open kernel handle (process, thread, snapshot, mapping). */
export class Handle implements Disposable {
  #raw: Deno.PointerObject | null;

  /** Wraps a non-null raw handle (ffi/ internal). */
  constructor(raw: Deno.PointerObject) {
    this.#raw = raw;
  }

  /**
   * The raw handle (ffi/ internal); once closed, a Win32Error with
   * ERROR_INVALID_HANDLE, as the system gives for a closed handle.
   */
  get raw(): Deno.PointerObject {
    if (!this.#raw) {
      throw new Win32Error("Handle", ERROR.INVALID_HANDLE, {
        text: "the handle was already closed",
      });
    }
    return this.#raw;
  }

  /** Whether `close()` has run. */
  get closed(): boolean {
    return this.#raw === null;
  }

  /** Closes the handle; later calls do nothing. */
  close(): void {
    const raw = this.#raw;
    if (!raw) return;
    this.#raw = null;
    checkBool("CloseHandle", kernel32().CloseHandle(raw));
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** INVALID_HANDLE_VALUE ((HANDLE)-1), as returned by toolhelp on failure. */
export function isInvalidHandle(p: Deno.PointerValue): boolean {
  return p === null ||
    BigInt(Deno.UnsafePointer.value(p)) === 0xffff_ffff_ffff_ffffn;
}

const DUPLICATE_SAME_ACCESS = 2;

/**
 * `DuplicateHandle` of our `handle` into the process behind `process`
 * (opened with PROCESS_DUP_HANDLE), with the same access: the object then
 * lives as long as that process keeps the copy. Returns the copy's value
 * there (a number in that process, not a handle here). Throws a
 * Win32Error from `DuplicateHandle`.
 */
export function duplicateHandleInto(handle: Handle, process: Handle): bigint {
  const k = kernel32();
  const out = new BigUint64Array(1);
  checkBool(
    "DuplicateHandle",
    k.DuplicateHandle(
      k.GetCurrentProcess(),
      handle.raw,
      process.raw,
      out,
      0,
      0,
      DUPLICATE_SAME_ACCESS,
    ),
  );
  return out[0];
}
