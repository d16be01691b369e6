// Bounds-checked little-endian reads over a ByteSource (internal).

import { PeFormatError } from "./errors.ts";
import type { ByteSource } from "./source.ts";

/** Reads `length` bytes or throws a PeFormatError naming `field`. */
export function need(
  src: ByteSource,
  offset: number,
  length: number,
  field: string,
): Uint8Array {
  if (
    !Number.isSafeInteger(offset) || offset < 0 || length < 0 ||
    offset + length > src.size
  ) {
    throw new PeFormatError(
      field,
      offset,
      src.size === 0
        ? "the file is empty"
        : `needs ${length} bytes but the file ends at 0x${
          src.size.toString(16)
        }`,
    );
  }
  return src.read(offset, length);
}

/** Little-endian u16 from bytes. */
export function u16(b: Uint8Array, at: number): number {
  return b[at] | (b[at + 1] << 8);
}

/** Little-endian u32 from bytes. */
export function u32(b: Uint8Array, at: number): number {
  return (b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24)) >>>
    0;
}

/** Little-endian u64 from bytes, as a bigint. */
export function u64(b: Uint8Array, at: number): bigint {
  return BigInt(u32(b, at)) | (BigInt(u32(b, at + 4)) << 32n);
}

/** Writes a little-endian u16. */
export function put16(b: Uint8Array, at: number, v: number): void {
  b[at] = v & 0xff;
  b[at + 1] = (v >>> 8) & 0xff;
}

/** Writes a little-endian u32. */
export function put32(b: Uint8Array, at: number, v: number): void {
  b[at] = v & 0xff;
  b[at + 1] = (v >>> 8) & 0xff;
  b[at + 2] = (v >>> 16) & 0xff;
  b[at + 3] = (v >>> 24) & 0xff;
}

/** Writes a little-endian u64. */
export function put64(b: Uint8Array, at: number, v: bigint): void {
  put32(b, at, Number(v & 0xffffffffn));
  put32(b, at + 4, Number((v >> 32n) & 0xffffffffn));
}

/** Rounds `v` up to a multiple of `align` (a power of two or any positive). */
export function alignUp(v: number, align: number): number {
  return Math.ceil(v / align) * align;
}

const utf8 = new TextDecoder();

/**
 * Reads a NUL-terminated string of at most `max` characters at a file
 * offset, one character per byte; a missing terminator or a control
 * character is a format error.
 */
export function cString(
  src: ByteSource,
  offset: number,
  field: string,
  max = 512,
): string {
  if (offset < 0 || offset >= src.size) {
    throw new PeFormatError(field, offset, "string outside the file");
  }
  const avail = Math.min(max + 1, src.size - offset);
  const b = src.read(offset, avail);
  const end = b.indexOf(0);
  if (end < 0) {
    throw new PeFormatError(
      field,
      offset,
      avail > max ? `string longer than ${max} bytes` : "unterminated string",
    );
  }
  let high = false;
  for (let i = 0; i < end; i++) {
    if (b[i] < 0x20 || b[i] === 0x7f) {
      throw new PeFormatError(field, offset + i, "control character in name");
    }
    if (b[i] > 0x7f) high = true;
  }
  const bytes = b.subarray(0, end);
  // Other bytes than ASCII map one to one to U+0080..U+00FF, so that
  // writing the name back gives the same bytes; short names are cheaper
  // to build here than to hand to the decoder.
  return high || end <= 32
    ? String.fromCharCode.apply(null, bytes as unknown as number[])
    : utf8.decode(bytes);
}

/** Formats a number as 0x-prefixed hex. */
export function hex(v: number | bigint): string {
  return `0x${v.toString(16)}`;
}
