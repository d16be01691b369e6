/**
 * What a process's exit code says about how it ended.
 *
 * @module
 */

/** How a console program that does not handle Ctrl+C ends: no crash. */
const STATUS_CONTROL_C_EXIT = 0xC000013A;

/** Names of the NTSTATUS codes crashed processes usually end with. */
const CRASH_NAMES: ReadonlyMap<number, string> = new Map([
  [0xC0000005, "access violation"],
  [0xC0000409, "stack buffer overrun / fail-fast"],
  [0xC0000602, "fail-fast"], // STATUS_FAIL_FAST_EXCEPTION
  [0xC0000374, "heap corruption"],
  [0xC00000FD, "stack overflow"],
  [0xC0000135, "a DLL it needs was not found"],
  [0xC0000142, "a DLL failed to initialise"],
  [0xC000007B, "a DLL of the wrong architecture or a corrupt one"],
]);

/**
 * The crash behind exit code `code`, e.g. `0xC0000005, access violation`
 * (the hex code alone when its name is not known), or undefined for an
 * ordinary exit code. An unhandled exception or a fail-fast ends a process
 * with its NTSTATUS error code (0xC0000000 to 0xC0FFFFFF), which a program
 * does not return on purpose (Ctrl+C's 0xC000013A aside). `code` may be
 * given unsigned (as `LaunchedProcess.wait` returns it) or as a signed
 * 32-bit number.
 *
 * @example Did a launched program exit cleanly?
 * ```ts
 * import { crashStatus, launch } from "@heapshift/heapshift";
 * using proc = await launch("C:\\tools\\job.exe", { dlls: ["build/heapshift.dll"] });
 * const code = await proc.wait();
 * const crash = crashStatus(code);
 * console.log(crash ? `crashed: ${crash}` : `exited with ${code}`);
 * ```
 */
export function crashStatus(code: number): string | undefined {
  const status = code >>> 0;
  // Error severity with a small facility: exit(-1) is 0xFFFFFFFF.
  if (status < 0xC0000000 || status > 0xC0FFFFFF) return undefined;
  if (status === STATUS_CONTROL_C_EXIT) return undefined;
  const hex = `0x${status.toString(16).toUpperCase().padStart(8, "0")}`;
  const name = CRASH_NAMES.get(status);
  return name ? `${hex}, ${name}` : hex;
}

/**
 * The cause of an `ended` `HeapshiftError`: the process ended
 * (exited, or crashed) before or while heapshift worked in it. Its exit
 * code, and the crash behind it ({@linkcode crashStatus}), if any.
 *
 * @example Tell "the program died while we injected" from a failure
 * ```ts
 * import { HeapshiftError, inject, ProcessEndedError } from "@heapshift/heapshift";
 * try {
 *   await inject(1234, "build/heapshift.dll");
 * } catch (e) {
 *   if (!(e instanceof HeapshiftError) || e.kind !== "ended") throw e;
 *   const { exitCode, crash } = e.cause as ProcessEndedError;
 *   console.error(crash ? `it crashed: ${crash}` : `it exited with ${exitCode}`);
 * }
 * ```
 */
export class ProcessEndedError extends Error {
  /** Always `"ProcessEndedError"`. */
  override name = "ProcessEndedError";
  /** The process's exit code, unsigned (a crash's NTSTATUS, e.g. 0xC0000005). */
  readonly exitCode: number;
  /**
   * The crash behind the exit code, e.g. `0xC0000005, access violation`
   * ({@linkcode crashStatus}); `undefined` for an ordinary exit.
   */
  readonly crash: string | undefined;

  /** The end of a process that ended with `exitCode`. */
  constructor(exitCode: number) {
    const crash = crashStatus(exitCode);
    super(crash ? `crashed (${crash})` : `exited (code ${exitCode})`);
    this.exitCode = exitCode;
    this.crash = crash;
  }
}

/** The ProcessEndedError behind `e` (its cause), if there is one. */
export function processEnded(e: unknown): ProcessEndedError | undefined {
  const cause = e instanceof Error ? e.cause : undefined;
  return cause instanceof ProcessEndedError ? cause : undefined;
}
