/**
 * Registry string values, read with `RegGetValueW`: no reg.exe (which a
 * group policy, "Prevent access to registry editing tools", may block, and
 * whose export needs a temporary file) and no console code page.
 *
 * @module
 */

import { Win32Error } from "./win32_error.ts";
import { advapi32 } from "./library.ts";
import { readWide, wide } from "./strings.ts";

/** The predefined keys a path may start with (their HKEY values). */
const ROOTS: Record<string, bigint> = {
  HKCU: 0xffff_ffff_8000_0001n,
  HKEY_CURRENT_USER: 0xffff_ffff_8000_0001n,
  HKLM: 0xffff_ffff_8000_0002n,
  HKEY_LOCAL_MACHINE: 0xffff_ffff_8000_0002n,
};

const RRF_RT_REG_SZ = 0x2;
const RRF_RT_REG_EXPAND_SZ = 0x4;
// REG_EXPAND_SZ as stored (%VARS% in it): expanded by the caller
const RRF_NOEXPAND = 0x1000_0000;
const ERROR_FILE_NOT_FOUND = 2;
const ERROR_MORE_DATA = 234;
const ERROR_UNSUPPORTED_TYPE = 1630;

/**
 * The string value `name` (REG_SZ, or REG_EXPAND_SZ unexpanded) of the key
 * `key` (`HKCU\Software\…` or `HKLM\…`); `undefined` when the key or the
 * value does not exist or the value is not a string. Throws a Win32Error
 * from `RegGetValueW` otherwise (e.g. access denied), and a TypeError for
 * a key under another root.
 */
export function regString(key: string, name: string): string | undefined {
  const sep = key.indexOf("\\");
  const root = ROOTS[(sep < 0 ? key : key.slice(0, sep)).toUpperCase()];
  if (root === undefined) {
    throw new TypeError(`not a key under HKCU or HKLM: ${key}`);
  }
  const hkey = Deno.UnsafePointer.create(root);
  const subkey = wide(sep < 0 ? "" : key.slice(sep + 1));
  const value = wide(name);
  const flags = RRF_RT_REG_SZ | RRF_RT_REG_EXPAND_SZ | RRF_NOEXPAND;
  let data = new Uint8Array(520);
  // The value may grow between the calls: ask again with the size it has.
  for (let i = 0; i < 8; i++) {
    const size = new Uint32Array([data.byteLength]);
    const status = advapi32().RegGetValueW(
      hkey,
      subkey,
      value,
      flags,
      null,
      data,
      new Uint8Array(size.buffer),
    );
    if (status === 0) return readWide(data, { maxChars: size[0] >> 1 });
    if (status === ERROR_FILE_NOT_FOUND) return undefined;
    if (status === ERROR_UNSUPPORTED_TYPE) return undefined;
    if (status !== ERROR_MORE_DATA) {
      throw new Win32Error("RegGetValueW", status);
    }
    data = new Uint8Array(size[0] + 2);
  }
  throw new Win32Error("RegGetValueW", ERROR_MORE_DATA);
}
