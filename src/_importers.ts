/**
 * Which modules loaded in a process import a given one (internal): eject
 * must not unload a DLL from under the code that calls it.
 *
 * @module
 */

import {
  FileSource,
  type ImportedDll,
  imports as peImports,
  readExports,
  readHeaders,
} from "../pe/mod.ts";
import type { ModuleInfo } from "./module_list.ts";

/** Whether the import-table name `dll` loads the file named `want` (lower case). */
function names(dll: string, want: string): boolean {
  const n = dll.toLowerCase();
  // The loader adds `.dll` to a name without an extension.
  const file = n.includes(".") ? n : `${n}.dll`;
  // Other API sets resolve to system DLLs, which eject refuses anyway.
  return file === want ||
    (want === "ucrtbase.dll" && file.startsWith("api-ms-win-crt-"));
}

/** The DLLs the exports of the module at `path` forward to. */
function forwardedTo(path: string): string[] {
  using src = FileSource.open(path);
  const symbols = readExports(src, readHeaders(src))?.symbols ?? [];
  return symbols.flatMap((s) =>
    s.forwarder ? [s.forwarder.slice(0, s.forwarder.lastIndexOf("."))] : []
  );
}

/**
 * The modules of `loaded` whose files import `mod`, statically or
 * delay-loaded, or forward exports to it (whoever imported those got its
 * addresses), in list order (the program first). Only headers, import and
 * export directories are read; what cannot be read counts as importing
 * (or forwarding) nothing.
 */
export async function importersOf(
  loaded: ModuleInfo[],
  mod: ModuleInfo,
): Promise<ModuleInfo[]> {
  const want = mod.name.toLowerCase();
  const found: ModuleInfo[] = [];
  for (const m of loaded) {
    if (m.base === mod.base) continue;
    // Each read on its own: an export table that cannot be read (a packed
    // DLL's) must not hide the module's imports.
    let dlls: ImportedDll[] = [];
    let forwards: string[] = [];
    try {
      dlls = await peImports(m.path, { symbols: false });
    } catch { /* imports nothing we can see */ }
    try {
      forwards = forwardedTo(m.path);
    } catch { /* forwards nothing we can see */ }
    if (
      dlls.some((d) => names(d.dll, want)) ||
      forwards.some((d) => names(d, want))
    ) found.push(m);
  }
  return found;
}
