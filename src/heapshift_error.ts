/**
 * The one error type of heapshift's API (every function of mod.ts), with a
 * `kind` to branch on and the failure of the layer below (ffi/'s
 * Win32Error, pe/'s typed errors) as its `cause`.
 *
 * @module
 */

/**
 * What went wrong, for programs that branch on it.
 *
 * @example Branch on the kind
 * ```ts
 * import { HeapshiftError, inject } from "@heapshift/heapshift";
 * try {
 *   await inject(1234, "build/heapshift.dll");
 * } catch (e) {
 *   if (e instanceof HeapshiftError && e.kind === "access-denied") {
 *     console.error("try an elevated prompt");
 *   } else throw e;
 * }
 * ```
 */
export type HeapshiftErrorKind =
  /** No process with that pid or name, or no such module in it. */
  | "not-found"
  /**
   * A name that several running processes have (`findProcess`, and
   * `waitAndInject` when called): the message names their pids; pass one
   * of them instead.
   */
  | "ambiguous"
  /** The system refused access (elevation may be needed). */
  | "access-denied"
  /**
   * Not supported: a target or program that is neither x64 nor x86 (ARM64,
   * or x64 emulated on ARM64 Windows), an IL-only .NET program given to
   * `launch` with DLLs, a second heapshift in a process, or an `eject`
   * that could crash the program (the program itself, a core system DLL,
   * a module heapshift did not load, one a thread runs in).
   */
  | "unsupported"
  /**
   * The DLL path is missing, or the file is not a DLL of the target's
   * bitness (`build/heapshift32.dll` for a 32-bit one).
   */
  | "bad-dll"
  /** The DLL was found but failed to load inside the target. */
  | "load-failed"
  /** The module stays loaded after FreeLibrary (pinned, or held by another reference). */
  | "pinned"
  /** The process has no heapshift loaded (no stats block). */
  | "no-heapshift"
  /** Something did not happen within the allowed time. */
  | "timeout"
  /**
   * It needs Windows (natively, or the Windows `deno.exe` under Wine) and
   * runs on another system.
   */
  | "not-windows"
  /**
   * The file is not a well-formed PE file; `cause` is pe/'s
   * `PeFormatError` (its `field` and `offset` say where), or dbghelp's
   * Win32Error.
   */
  | "bad-pe"
  /**
   * A valid PE file that cannot be patched as asked (no room for the new
   * import table, a DLL heapshift did not add, a program of another
   * machine, an IL-only .NET assembly, or a driver, native program or EFI
   * image); `cause` is pe/'s `PePatchError`.
   */
  | "cannot-patch"
  /**
   * The output or backup file exists and `force` was not given; `cause` is
   * pe/'s `OutputExistsError` (its `path`).
   */
  | "exists"
  /**
   * A path the file functions cannot use: not a regular file (a
   * directory, a FIFO, a device), a file with several hard links, or a
   * failed write; `cause` is pe/'s `PeFileError`. (A missing path is
   * `not-found`, a refused one `access-denied`.)
   */
  | "bad-path"
  /**
   * An argument out of range or of the wrong type (from JavaScript), e.g.
   * a timeout that is not a positive number of milliseconds, an argument
   * or environment value with a NUL in it, `null` options, or a
   * `LaunchedProcess` or `AttachedProcess` used after `close()`.
   */
  | "bad-argument"
  /**
   * The process ended (exited, or crashed) before or while heapshift
   * worked in it (`inject`, `eject`, `modules`; also one that had ended
   * while a handle kept its pid). `cause` is a `ProcessEndedError`: its
   * `exitCode`, and `crash`, the crash behind it, if any (e.g.
   * `0xC0000409, stack buffer overrun / fail-fast`). `waitAndInject`:
   * the last instance to start ended, none injected into runs (no cause
   * when it had gone before its exit code could be read).
   */
  | "ended"
  /**
   * Any other failure; `cause` holds the Win32Error, if the system refused
   * (`waitAndInject`'s: a `ProcessEndedError` when an instance crashed
   * before its injection, none when 16 ended one after the other).
   */
  | "failed";

/**
 * A failure of a heapshift operation, with a message meant for people.
 *
 * @example Report a failure
 * ```ts
 * import { HeapshiftError, modules } from "@heapshift/heapshift";
 * try {
 *   modules(1234);
 * } catch (e) {
 *   if (!(e instanceof HeapshiftError)) throw e;
 *   console.error(`${e.kind}: ${e.message}`); // not-found: Cannot list …
 * }
 * ```
 */
export class HeapshiftError extends Error {
  /** Always `"HeapshiftError"`. */
  override name = "HeapshiftError";
  /** What went wrong. */
  readonly kind: HeapshiftErrorKind;

  /** Creates an error of `kind`; `options.cause` keeps the low-level error. */
  constructor(
    kind: HeapshiftErrorKind,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.kind = kind;
  }
}
