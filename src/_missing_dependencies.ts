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
  let deps: string[];
  try {
    deps = (await peImports(dll)).filter((d) => d.kind === "static").map((
      d,
    ) => d.dll);
  } catch {
    return [];
  }
  const names = new Set(loaded.map((m) => m.name.toLowerCase()));
  const system = `${systemRoot()}\\system32`;
  const dirs = [
    win32.dirname(dll),
    ...(loaded[0] ? [win32.dirname(loaded[0].path)] : []),
    system,
    ...(Deno.env.get("PATH") ?? "").split(";").filter(Boolean),
  ];
  return deps.filter((d) => {
    const lower = d.toLowerCase();
    if (names.has(lower) || /^(api|ext)-ms-/.test(lower)) return false;
    return !dirs.some((dir) => isFile(win32.join(dir, d)));
  });
}
