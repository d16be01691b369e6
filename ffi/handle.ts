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
