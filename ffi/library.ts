/**
 * Lazy loading of the Windows libraries: nothing is opened at import time,
 * so modules that import ffi/ still load on Linux and macOS; the first call
 * that needs Windows opens the library (or says it needs Windows).
 *
 * @module
 */

import { type Dbghelp, DBGHELP_SYMBOLS } from "./dbghelp_symbols.ts";
import { type Kernel32, KERNEL32_SYMBOLS } from "./kernel32_symbols.ts";

/** Raised when a Windows-only function is called on another system. */
export class NotWindowsError extends Error {
  override name = "NotWindowsError";
  constructor(what: string) {
    super(
      `${what} needs Windows (this is ${Deno.build.os}); run it with the Windows deno.exe, e.g. under Wine with \`deno task env run -- windeno …\``,
    );
  }
}

let kernel32Lib: Kernel32 | undefined;
let dbghelpLib: Dbghelp | undefined;

/** Whether the Windows libraries can be used here. */
export const isWindows: boolean = Deno.build.os === "windows";

/** kernel32's symbols, opening the library on first use. */
export function kernel32(): Kernel32 {
  if (!isWindows) throw new NotWindowsError("kernel32");
  return kernel32Lib ??= Deno.dlopen("kernel32.dll", KERNEL32_SYMBOLS).symbols;
}

/** dbghelp's symbols, opening the library on first use. */
export function dbghelp(): Dbghelp {
  if (!isWindows) throw new NotWindowsError("dbghelp");
  return dbghelpLib ??= Deno.dlopen("dbghelp.dll", DBGHELP_SYMBOLS).symbols;
}
