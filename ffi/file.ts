/**
 * Files held open so that nobody can change them: a DLL verified by its
 * hash stays those bytes until the handle is closed.
 *
 * @module
 */

import { ERROR, fail } from "./win32_error.ts";
import { Handle, isInvalidHandle } from "./handle.ts";
import { kernel32 } from "./library.ts";
import { readWide, wide } from "./strings.ts";

const GENERIC_READ = 0x8000_0000;
const FILE_WRITE_ATTRIBUTES = 0x100;
const FILE_SHARE_READ = 0x1;
const OPEN_EXISTING = 3;
const FILE_ATTRIBUTE_NORMAL = 0x80;

/**
 * `CreateFileW(path, GENERIC_READ, FILE_SHARE_READ, …, OPEN_EXISTING)`:
 * opens an existing file for reading and shares it for reading only. While
 * the handle is open, every other open for writing or deleting (which a
 * rename or a replacement needs) fails with a sharing violation, in this
 * process and in all others; opens for reading and executing (a loader
 * mapping a DLL) go on. Throws a Win32Error (32: someone has it open for
 * writing or deleting now).
 *
 * The handle may also set the file's times ({@linkcode setAccessTime}) when
 * the file's security allows it: `FILE_WRITE_ATTRIBUTES` is not an access
 * that sharing weighs (only reading, writing data and deleting are), so
 * it keeps no loader out, whereas setting the times by the path opens the
 * file for writing, which this very handle (or a program that has the DLL
 * loaded) refuses.
 */
export function openDenyingWrites(path: string): Handle {
  const open = (access: number) =>
    kernel32().CreateFileW(
      wide(path),
      access,
      FILE_SHARE_READ,
      null,
      OPEN_EXISTING,
      FILE_ATTRIBUTE_NORMAL,
      null,
    );
  let h = open((GENERIC_READ | FILE_WRITE_ATTRIBUTES) >>> 0);
  if (isInvalidHandle(h) && kernel32().GetLastError() === ERROR.ACCESS_DENIED) {
    h = open(GENERIC_READ); // (its times then stay as they are)
  }
  if (isInvalidHandle(h)) fail("CreateFileW");
  return new Handle(h!);
}

/**
 * `SetFileTime(file, NULL, when, NULL)`: sets the last-access time of the
 * file `file` (opened with `FILE_WRITE_ATTRIBUTES`) and no other; false
 * when it cannot be.
 */
export function setAccessTime(file: Handle, when: Date): boolean {
  // FILETIME: 100 ns units since 1601-01-01 UTC
  const ft = new Uint8Array(8);
  new DataView(ft.buffer).setBigUint64(
    0,
    (BigInt(when.getTime()) + 11_644_473_600_000n) * 10_000n,
    true,
  );
  return kernel32().SetFileTime(file.raw, null, ft, null) !== 0;
}

/**
 * `GetShortPathNameW`: the 8.3 form of an existing path, or `undefined`
 * when it has none (8.3 names are off on that volume, or it is missing):
 * the volume keeps a long name's short alias in ASCII.
 */
export function shortPathName(path: string): string | undefined {
  const buf = new Uint16Array(32768);
  const n = kernel32().GetShortPathNameW(wide(path), buf, buf.length);
  if (n === 0 || n >= buf.length) return undefined;
  return readWide(new Uint8Array(buf.buffer), { maxChars: n });
}

/**
 * `path` in the form Windows' file calls take past MAX_PATH (260), by the
 * rule of Rust's std, which Deno's own file calls follow: a path in the
 * `\\?\` form or with the NT prefix `\??\` is taken as given, and so is
 * an absolute one (`C:\…`, `\\server\…`) of fewer than 247 characters;
 * any other is made full by `GetFullPathNameW` (which drops the trailing
 * dots and spaces Windows drops from a name, and reads the drive's own
 * current folder for `C:name`), and from 247 characters on given the
 * `\\?\` form (`\\?\UNC\` for a share; `\\.\` becomes `\\?\`). Deno
 * is not long-path aware, so a call given the plain form fails there, on a
 * file that Deno's own calls (the write beside it) reach; a short relative
 * name from a deep current folder is such a path too.
 */
export function longPathForm(path: string): string {
  if (path === "" || /^(\\\\\?\\|\\\?\?\\)/.test(path)) return path;
  const absolute = /^[^\\/]:([\\/]|$)|^[\\/]{2}/.test(path);
  if (absolute && path.length + 1 < LEGACY_MAX_PATH) return path;
  const full = fullPathName(path);
  if (full.length + 1 < LEGACY_MAX_PATH) return full;
  if (/^[^\\]:\\/.test(full)) return `\\\\?\\${full}`;
  if (full.startsWith("\\\\.\\")) return `\\\\?\\${full.slice(4)}`;
  if (full.startsWith("\\\\?\\")) return full;
  if (full.startsWith("\\\\")) return `\\\\?\\UNC\\${full.slice(2)}`;
  return full;
}

/** Rust's std's bound, counting the terminating NUL: 247 characters. */
const LEGACY_MAX_PATH = 248;

/** `GetFullPathNameW`: `path` made full, with Windows' own rewriting. */
function fullPathName(path: string): string {
  const name = wide(path);
  for (let size = 32768;;) {
    const buf = new Uint16Array(size);
    const n = kernel32().GetFullPathNameW(name, size, buf, null);
    if (n === 0) fail("GetFullPathNameW");
    if (n < size) return readWide(new Uint8Array(buf.buffer), { maxChars: n });
    size = n; // (too small: n counts the terminating NUL)
  }
}

/** FILE_ATTRIBUTE_* bits heapshift reads or sets. */
export const FILE_ATTRIBUTE = {
  READONLY: 0x1,
  HIDDEN: 0x2,
  SYSTEM: 0x4,
  ARCHIVE: 0x20,
  NORMAL: 0x80,
  TEMPORARY: 0x100,
  OFFLINE: 0x1000,
  NOT_CONTENT_INDEXED: 0x2000,
} as const;

const INVALID_FILE_ATTRIBUTES = 0xffff_ffff;

/**
 * `GetFileAttributesW`: the FILE_ATTRIBUTE_* bits of the file at `path`.
 * Throws a Win32Error (2: no such file).
 */
export function getFileAttributes(path: string): number {
  const a = kernel32().GetFileAttributesW(wide(longPathForm(path)));
  if (a === INVALID_FILE_ATTRIBUTES) fail("GetFileAttributesW");
  return a;
}

/**
 * The attributes a file written in another's place keeps of it: those a
 * user sets (attrib +h +s, "Hidden" in Explorer) and a rename loses.
 * Archive is left as the new file has it (set: it changed, which is what
 * backup programs look for); read-only is not set (a read-only file is
 * refused before it is replaced, so that the rename does not undo it).
 */
const KEPT_ATTRIBUTES = FILE_ATTRIBUTE.HIDDEN | FILE_ATTRIBUTE.SYSTEM |
  FILE_ATTRIBUTE.NOT_CONTENT_INDEXED;

/** What SetFileAttributesW takes of what GetFileAttributesW gives. */
const SETTABLE_ATTRIBUTES = FILE_ATTRIBUTE.READONLY | FILE_ATTRIBUTE.ARCHIVE |
  FILE_ATTRIBUTE.TEMPORARY | FILE_ATTRIBUTE.OFFLINE | KEPT_ATTRIBUTES;

/**
 * Gives the file `to` exactly the hidden, system and not-content-indexed
 * attributes of the file `from`, keeping its other settable ones. Nothing
 * is set when `from` has none of them. Throws a Win32Error.
 */
export function keepFileAttributes(from: string, to: string): void {
  const kept = getFileAttributes(from) & KEPT_ATTRIBUTES;
  if (kept === 0) return;
  const own = getFileAttributes(to) & SETTABLE_ATTRIBUTES & ~KEPT_ATTRIBUTES;
  const ok = kernel32().SetFileAttributesW(wide(longPathForm(to)), own | kept);
  if (ok === 0) fail("SetFileAttributesW");
}
