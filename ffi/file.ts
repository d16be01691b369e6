/**
 * Files held open so that nobody can change them: a DLL verified by its
 * hash stays those bytes until the handle is closed.
 *
 * @module
 */

import { fail } from "./win32_error.ts";
import { Handle, isInvalidHandle } from "./handle.ts";
import { kernel32 } from "./library.ts";
import { readWide, wide } from "./strings.ts";

const GENERIC_READ = 0x8000_0000;
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
 */
export function openDenyingWrites(path: string): Handle {
  const h = kernel32().CreateFileW(
    wide(path),
    GENERIC_READ,
    FILE_SHARE_READ,
    null,
    OPEN_EXISTING,
    FILE_ATTRIBUTE_NORMAL,
    null,
  );
  if (isInvalidHandle(h)) fail("CreateFileW");
  return new Handle(h!);
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
