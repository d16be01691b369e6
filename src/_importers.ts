/**
 * Which modules loaded in a process import a given one (internal): eject
 * must not unload a DLL from under the code that calls it.
 *
 * @module
 */

import {
  FileSource,
  headerLocator,
  readAllImports,
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

/**
 * The DLLs the module at `path` imports (static and delay-load) and
 * forwards exports to, from one read of its headers. Each directory is read
 * on its own: an export table that cannot be read (a packed DLL's) must not
 * hide the module's imports.
 */
function linkedTo(path: string): string[] {
  using src = FileSource.open(path);
  const h = readHeaders(src);
  const dlls: string[] = [];
  try {
    const imported = readAllImports(src, headerLocator(h), { symbols: false });
    dlls.push(...imported.map((d) => d.dll));
  } catch { /* imports nothing we can see */ }
  try {
    for (const s of readExports(src, h)?.symbols ?? []) {
      if (s.forwarder) {
        dlls.push(s.forwarder.slice(0, s.forwarder.lastIndexOf(".")));
      }
    }
  } catch { /* forwards nothing we can see */ }
  return dlls;
}

/**
 * The modules of `loaded` whose files import `mod`, statically or
 * delay-loaded, or forward exports to it (whoever imported those got its
 * addresses), in list order (the program first). Only headers, import and
 * export directories are read; what cannot be read counts as importing
 * (or forwarding) nothing.
 */
export function importersOf(
  loaded: ModuleInfo[],
  mod: ModuleInfo,
): ModuleInfo[] {
  const want = mod.name.toLowerCase();
  return loaded.filter((m) => {
    if (m.base === mod.base) return false;
    try {
      return linkedTo(m.path).some((d) => names(d, want));
    } catch {
      return false; // its file or headers cannot be read
    }
  });
}
