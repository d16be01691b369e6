/**
 * Which static imports of a DLL a target process cannot find: used to say
 * *what* is missing when the target's loader reports error 126.
 *
 * @module
 */

import { win32 } from "node:path";
import { imports as peImports } from "../pe/mod.ts";
import type { ModuleInfo } from "./module_list.ts";
import { isFile } from "./_paths.ts";
import { systemRoot } from "./_system_dll.ts";
import { ARCH_MACHINE } from "./arch.ts";
import { peKind, readHead } from "./_image_kind.ts";
import { wow64Path } from "./_wow64_path.ts";

/**
 * The static imports of `dll` that are neither loaded in the target (its
 * `loaded` modules) nor present next to the DLL, next to the program, in
 * the system directory or on PATH (ours: an approximation of the
 * target's). API sets (`api-ms-*`, `ext-ms-*`) are never reported.
 */
export async function missingDependencies(
  dll: string,
  loaded: ModuleInfo[],
): Promise<string[]> {
  return (await dependencyPlaces(dll, loaded)).missing;
}

/**
 * {@linkcode missingDependencies}, and the imports found only on this
 * process's PATH, with the folder: an injector's PATH is not its target's,
 * so the target may lack those too (a launched program inherits it).
 */
export async function dependencyPlaces(
  dll: string,
  loaded: ModuleInfo[],
): Promise<{ missing: string[]; onOurPath: { dll: string; dir: string }[] }> {
  let deps: string[];
  try {
    deps = (await peImports(dll)).filter((d) => d.kind === "static").map((
      d,
    ) => d.dll);
  } catch {
    return { missing: [], onOurPath: [] };
  }
  const names = new Set(loaded.map((m) => m.name.toLowerCase()));
  const root = systemRoot();
  const seen = isX86(dll) ? (d: string) => wow64Path(d, root) : String;
  const dirs = [
    win32.dirname(dll),
    ...(loaded[0] ? [win32.dirname(loaded[0].path)] : []),
    `${root}\\system32`,
  ].map(seen);
  const path = (Deno.env.get("PATH") ?? "").split(";").filter(Boolean)
    .map(seen);
  const missing: string[] = [];
  const onOurPath: { dll: string; dir: string }[] = [];
  for (const d of deps) {
    const lower = d.toLowerCase();
    if (names.has(lower) || /^(api|ext)-ms-/.test(lower)) continue;
    if (dirs.some((dir) => isFile(win32.join(dir, d)))) continue;
    const dir = path.find((dir) => isFile(win32.join(dir, d)));
    if (dir === undefined) missing.push(d);
    else onOurPath.push({ dll: d, dir });
  }
  return { missing, onOurPath };
}

/** Whether `dll` is a 32-bit (x86) file. */
function isX86(dll: string): boolean {
  try {
    return peKind(readHead(dll))?.machine === ARCH_MACHINE.x86;
  } catch {
    return false; // (its imports were read: it was there a moment ago)
  }
}
