/**
 * Win32 failures: {@linkcode Win32Error} carries the failing call, the
 * Win32 error code and the system's message text.
 *
 * @module
 */

import { kernel32 } from "./library.ts";
import { readWide } from "./strings.ts";

const FORMAT_MESSAGE_IGNORE_INSERTS = 0x200;
const FORMAT_MESSAGE_FROM_SYSTEM = 0x1000;

/** Win32 error codes heapshift reacts to. */
export const ERROR = {
  FILE_NOT_FOUND: 2,
  PATH_NOT_FOUND: 3,
  ACCESS_DENIED: 5,
  INVALID_HANDLE: 6,
  NOT_ENOUGH_MEMORY: 8,
  NO_MORE_FILES: 18,
  SHARING_VIOLATION: 32,
  BAD_LENGTH: 24,
  INVALID_PARAMETER: 87,
  MOD_NOT_FOUND: 126,
  PROC_NOT_FOUND: 127,
  ALREADY_EXISTS: 183,
  BAD_EXE_FORMAT: 193,
  DIRECTORY: 267,
  PARTIAL_COPY: 299,
  INVALID_IMAGE_HASH: 577,
  NOACCESS: 998,
  DLL_INIT_FAILED: 1114,
  DYNAMIC_CODE_BLOCKED: 1655,
} as const;

/** Options for {@linkcode formatMessage}. */
export interface FormatMessageOptions {
  /**
   * What the message's inserts (`%1`, e.g. error 193's "%1 is not a valid
   * Win32 application") stand for; default "the file", as the messages
   * that have one name a file.
   */
  insert?: string;
}

/**
 * The system's message for a Win32 error code, without trailing newline,
 * its inserts filled ({@linkcode FormatMessageOptions.insert}): never a
 * raw `%1`.
 */
export function formatMessage(
  code: number,
  options: FormatMessageOptions = {},
): string {
  const buf = new Uint16Array(1024);
  const n = kernel32().FormatMessageW(
    FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS,
    null,
    code,
    0,
    buf,
    buf.length,
    null,
  );
  if (n === 0) return `unknown error ${code}`;
  const text = readWide(new Uint8Array(buf.buffer), { maxChars: n }).trim();
  // (ignored inserts stay as %1 or %1!s! in the text)
  return fillInserts(text, options.insert ?? "the file");
}

/**
 * `text` with each insert (`%1`, `%1!s!`) replaced by `insert`, as it is:
 * a file name may hold `$&` or `$'`, which a replacement string would
 * expand (internal; exported for its test).
 */
export function fillInserts(text: string, insert: string): string {
  return text.replace(/%[1-9][0-9]?(![^!]*!)?/g, () => insert);
}

/** A failed Win32 call: which call, its error code and the system's text. */
export class Win32Error extends Error {
  override name = "Win32Error";
  /** The Win32 function that failed, e.g. `OpenProcess`. */
  readonly call: string;
  /** The `GetLastError` code. */
  readonly code: number;
  /** The system's message for `code`. */
  readonly text: string;

  constructor(call: string, code: number, options: { text?: string } = {}) {
    const text = options.text ?? formatMessage(code);
    super(`${call} failed: ${text} (error ${code})`);
    this.call = call;
    this.code = code;
    this.text = text;
  }
}

/**
 * Reads `GetLastError` now and throws a {@linkcode Win32Error} for `call`.
 * Call it immediately after the failing call, with nothing in between.
 */
export function fail(call: string): never {
  const code = kernel32().GetLastError();
  throw new Win32Error(call, code);
}

/** Throws a {@linkcode Win32Error} for `call` when `ok` is 0 (a FALSE BOOL). */
export function checkBool(call: string, ok: number): void {
  if (ok === 0) fail(call);
}
