/**
 * Which modules heapshift loaded (internal): eject unloads only those
 * unless forced, since a DLL the program loaded itself may still be called
 * by it. Each load of ours leaves a named event
 * `Local\heapshift-loaded-<pid>-<base hex>-<name>` (`Global\` as
 * {@linkcode namespaceOf} says) duplicated into the target, so it lives as
 * long as the target does, and no longer: no pid reuse can find it.
 * Unsignalled, it says our reference is held; eject signals it once it has
 * given the reference back. (The handle in the target is not closed: its
 * value would have to be kept somewhere, and the event is small. Signalled,
 * it misleads no one; reset, it is reused by our next load of that module
 * at that base.)
 *
 * @module
 */

import {
  duplicateHandleInto,
  isSignaled,
  openNamedEvent,
  openOrCreateEvent,
  PROCESS,
  resetEvent,
  setEvent,
} from "../ffi/mod.ts";
import { HeapshiftError } from "./heapshift_error.ts";
import { namespaceOf } from "./live_stats.ts";
import { openTarget } from "./_target.ts";
import type { ModuleInfo } from "./module_list.ts";

/**
 * The marker's name for `mod` in process `pid`, or undefined when this
 * process cannot see that process's names (another user's session). The
 * name is there as well as the base: another DLL may be mapped at a freed
 * base later.
 */
function markerName(pid: number, mod: ModuleInfo): string | undefined {
  const { namespace } = namespaceOf(pid);
  if (!namespace) return undefined;
  // An object name cannot hold a backslash; a module name has none.
  const name = mod.name.toLowerCase();
  return `${namespace}\\heapshift-loaded-${pid}-${
    mod.base.toString(16)
  }-${name}`;
}

/**
 * Records that heapshift took a reference to `mod` in process `pid`. Best
 * effort: without a marker eject asks for `anyOrigin`, which is safe.
 */
export function markLoaded(pid: number, mod: ModuleInfo): void {
  const name = markerName(pid, mod);
  if (!name) return;
  try {
    const { handle, existed } = openOrCreateEvent(name);
    using _event = handle;
    // Only the target holds it between our calls: an earlier load of ours
    // at that base, ejected since.
    if (existed) return resetEvent(handle);
    // As the target was opened: with SeDebugPrivilege if it takes that
    // (another user's process, a service), which inject held only for its
    // own open; without it such a target would get no marker, and eject
    // would say heapshift had not loaded the module.
    using target = openTarget(pid, {
      access: PROCESS.DUP_HANDLE | PROCESS.QUERY_LIMITED_INFORMATION,
      doing: "mark a load in",
    });
    duplicateHandleInto(handle, target.process);
  } catch { /* no marker: eject will need anyOrigin */ }
}

/**
 * Whether heapshift holds a reference to `mod` in `pid` it took itself;
 * undefined when that cannot be told: a process in another user's session,
 * whose names (the marker's) this one does not see.
 */
export function loadedByHeapshift(
  pid: number,
  mod: ModuleInfo,
): boolean | undefined {
  const name = markerName(pid, mod);
  if (!name) return undefined;
  try {
    using event = openNamedEvent(name);
    return event !== undefined && !isSignaled(event);
  } catch {
    return false;
  }
}

/** Records that heapshift's reference to `mod` in `pid` was given back. */
export function markUnloaded(pid: number, mod: ModuleInfo): void {
  const name = markerName(pid, mod);
  if (!name) return;
  try {
    using event = openNamedEvent(name);
    if (event) setEvent(event);
  } catch { /* then a later eject may free a reference that is not ours */ }
}

/**
 * Eject's refusal of a module heapshift holds no reference to that it
 * knows of ({@linkcode loadedByHeapshift}); `options.session`: the
 * session of a target in another user's session, where that is not known.
 * It names `anyOrigin`, which skips this check alone: `force` would skip
 * the look at the module's threads too.
 */
export function unmarkedError(
  pid: number,
  options: { doing: string; module: string; session?: number },
): HeapshiftError {
  const { doing, module, session } = options;
  const why = session === undefined
    ? `heapshift did not load ${module} (or has unloaded it already)`
    : `it runs in another user's session (${session}), whose names (where heapshift marks the modules it loads) this one does not see, so whether heapshift loaded ${module} cannot be told`;
  return new HeapshiftError(
    "unsupported",
    `Cannot ${doing} process ${pid}: ${why}: the program may have loaded it itself and still call it, so unloading it could crash the program; pass anyOrigin: true (--any-origin on the command line) to unload it whoever loaded it (a thread running in it still stops the eject)${
      session === undefined ? "" : ", or eject it from that session"
    }`,
  );
}
