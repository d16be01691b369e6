/**
 * Which modules loaded in a process import a given one (internal): eject
 * must not unload a DLL from under the code that calls it.
 *
 * @module
 */

import {
  type ByteSource,
  FileSource,
  headerLocator,
  type PeHeaders,
  readAllImports,
  readExports,
  readHeaders,
  readMappedHeaders,
} from "../pe/mod.ts";
import type { ModuleInfo } from "./module_list.ts";
import { isEnded } from "./_target.ts";

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
 * The DLLs an image imports (static and delay-load) and forwards exports
 * to, from one read of its headers `h`. Throws when its headers or imports
 * cannot be read. An export table that cannot be read (a packed DLL's)
 * forwards nothing: it must not hide the module's imports.
 */
function linkedTo(src: ByteSource, h: PeHeaders): string[] {
  const imported = readAllImports(src, headerLocator(h), { symbols: false });
  const dlls = imported.map((d) => d.dll);
  try {
    for (const s of readExports(src, h)?.symbols ?? []) {
      if (s.forwarder) {
        dlls.push(s.forwarder.slice(0, s.forwarder.lastIndexOf(".")));
      }
    }
  } catch (e) {
    // forwards nothing we can see, unless the process it is read from ended
    if (isEnded(e)) throw e;
  }
  return dlls;
}

/** {@linkcode linkedTo} of the file at `path`. */
function fileLinks(path: string): string[] {
  using src = FileSource.open(path);
  return linkedTo(src, readHeaders(src));
}

/** What {@linkcode importersOf} found. */
export interface Importers {
  /** The modules that import the module (or forward to it), in list order. */
  importers: ModuleInfo[];
  /** Those whose imports could be read neither from file nor from memory. */
  unreadable: ModuleInfo[];
}

/**
 * The modules of `loaded` whose images import `mod`, statically or
 * delay-loaded, or forward exports to it (whoever imported those got its
 * addresses), in list order (the program first). Only headers, import and
 * export directories are read: from each module's file, or, when that
 * cannot be read (renamed or deleted since it was loaded), from its image
 * as `options.image` reads it in the process. One readable neither way is
 * `unreadable`: it may import `mod`. A process that has ended is an
 * `ended` error, not a list of unreadable modules.
 */
export function importersOf(
  loaded: ModuleInfo[],
  mod: ModuleInfo,
  options: { image?: (m: ModuleInfo) => ByteSource } = {},
): Importers {
  const want = mod.name.toLowerCase();
  const found: Importers = { importers: [], unreadable: [] };
  for (const m of loaded) {
    if (m.base === mod.base) continue;
    const links = linksOf(m, options.image);
    if (!links) found.unreadable.push(m);
    else if (links.some((d) => names(d, want))) found.importers.push(m);
  }
  return found;
}

function linksOf(
  m: ModuleInfo,
  image: ((m: ModuleInfo) => ByteSource) | undefined,
): string[] | undefined {
  try {
    return fileLinks(m.path);
  } catch { /* read its image */ }
  if (!image) return undefined;
  try {
    const src = image(m);
    return linkedTo(src, readMappedHeaders(src));
  } catch (e) {
    if (isEnded(e)) throw e;
    return undefined;
  }
}
