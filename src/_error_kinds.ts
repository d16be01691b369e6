/**
 * How the failures of the layers below (ffi/'s Win32Error and
 * NotWindowsError, pe/'s typed errors) become {@linkcode HeapshiftError}s
 * at the API: each function of mod.ts runs its body in {@linkcode guard}.
 *
 * @module
 */

import { NotWindowsError, Win32Error } from "../ffi/mod.ts";
import {
  OutputExistsError,
  PeFileError,
  PeFormatError,
  PePatchError,
} from "../pe/mod.ts";
import { HeapshiftError, type HeapshiftErrorKind } from "./heapshift_error.ts";

/** The kind of a failure of ffi/ or pe/; `undefined` for anything else. */
export function kindOf(e: unknown): HeapshiftErrorKind | undefined {
  if (e instanceof NotWindowsError) return "not-windows";
  if (e instanceof PeFormatError) return "bad-pe";
  if (e instanceof PePatchError) return "cannot-patch";
  if (e instanceof OutputExistsError) return "exists";
  if (e instanceof PeFileError) {
    return e.cause instanceof Deno.errors.NotFound
      ? "not-found"
      : e.cause instanceof Deno.errors.PermissionDenied
      ? "access-denied"
      : "bad-path";
  }
  if (e instanceof Win32Error) return "failed";
  return undefined;
}

/**
 * `e` as a HeapshiftError with the same message and `e` as its cause, when
 * it is a failure of ffi/ or pe/; anything else (a HeapshiftError, an
 * abort, a bug) as it is.
 */
export function heapshiftError(e: unknown): unknown {
  if (e instanceof HeapshiftError) return e;
  const kind = kindOf(e);
  return kind
    ? new HeapshiftError(kind, (e as Error).message, { cause: e })
    : e;
}

/** Runs `fn`; what ffi/ or pe/ throws comes out as a HeapshiftError. */
export function guard<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw heapshiftError(e);
  }
}

/** {@linkcode guard} for an async `fn`. */
export async function guardAsync<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw heapshiftError(e);
  }
}
