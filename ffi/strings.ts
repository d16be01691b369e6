/**
 * UTF-16 strings as Windows wants them, and back.
 *
 * @module
 */

/** A NUL-terminated UTF-16LE copy of `s`, for `LPCWSTR` parameters. */
export function wide(s: string): Uint16Array {
  const out = new Uint16Array(s.length + 1);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/** A NUL-terminated ASCII copy of `s`, for `LPCSTR` parameters. */
export function ansi(s: string): Uint8Array {
  return new TextEncoder().encode(`${s}\0`);
}

/** Where {@linkcode readWide} reads. */
export interface ReadWideOptions {
  /** Byte offset of the string (default 0). */
  offset?: number;
  /** Most characters to read (default: up to the end of `bytes`). */
  maxChars?: number;
}

/** Reads a UTF-16LE string of at most `maxChars`, stopping at the first NUL. */
export function readWide(
  bytes: Uint8Array,
  options: ReadWideOptions = {},
): string {
  const offset = options.offset ?? 0;
  const maxChars = options.maxChars ?? (bytes.byteLength - offset) >> 1;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let s = "";
  for (let i = 0; i < maxChars; i++) {
    const c = view.getUint16(offset + 2 * i, true);
    if (c === 0) break;
    s += String.fromCharCode(c);
  }
  return s;
}

/** The UTF-16LE bytes of `s` with a terminating NUL (for remote writes). */
export function wideBytes(s: string): Uint8Array {
  const w = wide(s);
  return new Uint8Array(w.buffer, w.byteOffset, w.byteLength);
}
