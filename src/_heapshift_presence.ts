// Whether a process has heapshift loaded (internal): a second copy under
// another name stays idle and pins itself.

import { HeapshiftError } from "./heapshift_error.ts";
import { stats } from "./live_stats.ts";
import { type ModuleInfo, targetModules } from "./module_list.ts";
import { moduleImage } from "./_remote_exports.ts";
import { isEnded, type TargetProcess } from "./_target.ts";
import { DEFAULT_SYMBOL, exportsName, readMappedHeaders } from "../pe/mod.ts";

/** How a loaded heapshift was found. */
export type Presence = { by: "stats" } | { by: "module"; module: ModuleInfo };

/**
 * Whether `target` (opened with VM_READ) has heapshift loaded: its stats
 * block exists, also one that cannot be read (not initialised yet while
 * heapshift loads, or of another layout: another heapshift's); or, where
 * no block can be seen (made without one, or in a session whose names
 * cannot be reached from here), a module of `options.modules` (default: its
 * module list) other than Windows' own exports heapshift's anchor.
 */
export function heapshiftPresence(
  target: TargetProcess,
  options: { modules?: ModuleInfo[]; isSystem?: (path: string) => boolean } =
    {},
): Presence | undefined {
  try {
    stats(target.pid);
    return { by: "stats" };
  } catch (e) {
    if (!(e instanceof HeapshiftError)) throw e;
    // `failed`: the block is there, but its contents are not readable.
    if (e.kind === "failed") return { by: "stats" };
  }
  const module = (options.modules ?? targetModules(target)).find((m) =>
    !options.isSystem?.(m.path) && exportsAnchor(target, m)
  );
  return module && { by: "module", module };
}

/** Whether loaded module `m` exports heapshift's anchor (false when its
 * image cannot be read: a module unloading as we look; an `ended` error
 * once the process has ended). */
function exportsAnchor(target: TargetProcess, m: ModuleInfo): boolean {
  try {
    const src = moduleImage(target, m);
    return exportsName(src, readMappedHeaders(src), DEFAULT_SYMBOL);
  } catch (e) {
    if (isEnded(e)) throw e;
    return false;
  }
}
