/**
 * Which modules heapshift loaded (internal): eject unloads only those
 * unless forced, since a DLL the program loaded itself may still be called
 * by it. Each load of ours leaves a named event
 * `Local\heapshift-loaded-<pid>-<base hex>-<name>` in the target's session
 * (from another session `Global\` or `Session\<id>\`, as
 * {@linkcode namespaceOf} says), made by the heapshift that loaded it, with
 * its token's default DACL (its user, or Administrators when elevated, and
 * SYSTEM), and duplicated into the target, so it lives as long as the
 * target does, and no longer: no pid reuse can find it. Unsignalled, it
 * says our reference is held; eject signals it once it has given the
 * reference back. (The handle in the target is not closed: its value would
 * have to be kept somewhere, and the event is small. Signalled, it misleads
 * no one; reset, it is reused by our next load of that module at that
 * base.)
 *
 * @module
 */

import {
  duplicateHandleInto,
  ERROR,
  isSignaled,
  openNamedEvent,
  openOrCreateEvent,
  PROCESS,
  resetEvent,
  setEvent,
  Win32Error,
} from "../ffi/mod.ts";
import { HeapshiftError } from "./heapshift_error.ts";
import { namespaceOf, type SessionOf } from "./live_stats.ts";
import { openTarget } from "./_target.ts";
import type { ModuleInfo } from "./module_list.ts";

/**
 * The marker's name for `mod` in process `pid`, as this process sees the
 * target's session's names, and the target's session when known. The
 * name is there as well as the base: another DLL may be mapped at a freed
 * base later.
 */
function markerName(
  pid: number,
  mod: ModuleInfo,
  options: { session?: SessionOf },
): { name: string; session: number | undefined } {
  const { namespace, session } = namespaceOf(pid, options);
  // An object name cannot hold a backslash; a module name has none.
  const name = mod.name.toLowerCase();
  return {
    name: `${namespace}\\heapshift-loaded-${pid}-${
      mod.base.toString(16)
    }-${name}`,
    session,
  };
}

/**
 * Records that heapshift took a reference to `mod` in process `pid`. Best
 * effort: without a marker eject asks for `anyOrigin`, which is safe.
 * `options.session` tells a process's session (tests replace it).
 */
export function markLoaded(
  pid: number,
  mod: ModuleInfo,
  options: { session?: SessionOf } = {},
): void {
  const { name } = markerName(pid, mod, options);
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
 * Why whether heapshift loaded a module cannot be told: its marker `name`
 * may not be opened by this user (`denied`: made by another user, or by
 * an elevated heapshift, whose default DACL admits only Administrators),
 * or the names of the target's `session` cannot be reached from here
 * (`unreachable`).
 */
export interface MarkUnseen {
  why: "denied" | "unreachable";
  name: string;
  session: number | undefined;
}

/**
 * Whether heapshift holds a reference to `mod` in `pid` it took itself,
 * looked for in the target's session also when that is another user's
 * ({@linkcode namespaceOf}); {@linkcode MarkUnseen} when that cannot be
 * told. `options.session` tells a process's session (tests replace it).
 */
export function loadedByHeapshift(
  pid: number,
  mod: ModuleInfo,
  options: { session?: SessionOf } = {},
): boolean | MarkUnseen {
  const { name, session } = markerName(pid, mod, options);
  try {
    using event = openNamedEvent(name);
    return event !== undefined && !isSignaled(event);
  } catch (e) {
    if (e instanceof Win32Error && e.code === ERROR.ACCESS_DENIED) {
      return { why: "denied", name, session };
    }
    if (
      e instanceof Win32Error && e.code === ERROR.PATH_NOT_FOUND &&
      name.startsWith("Session\\")
    ) {
      return { why: "unreachable", name, session };
    }
    return false;
  }
}

/** Records that heapshift's reference to `mod` in `pid` was given back. */
export function markUnloaded(
  pid: number,
  mod: ModuleInfo,
  options: { session?: SessionOf } = {},
): void {
  const { name } = markerName(pid, mod, options);
  try {
    using event = openNamedEvent(name);
    if (event) setEvent(event);
  } catch { /* then a later eject may free a reference that is not ours */ }
}

/**
 * Eject's refusal of a module heapshift holds no reference to that it
 * knows of ({@linkcode loadedByHeapshift}); `options.unseen`: why that
 * cannot be told, where it cannot. It names `anyOrigin`, which skips this
 * check alone: `force` would skip the look at the module's threads too.
 */
export function unmarkedError(
  pid: number,
  options: { doing: string; module: string; unseen?: MarkUnseen },
): HeapshiftError {
  const { doing, module, unseen } = options;
  const unknown = `so whether heapshift loaded ${module} cannot be told`;
  const why = unseen === undefined
    ? `heapshift did not load ${module} (or has unloaded it already)`
    : unseen.why === "unreachable"
    ? `it runs in session ${unseen.session}, whose names cannot be reached from this one (where heapshift marks the modules it loads: ${unseen.name}), ${unknown}`
    : `heapshift's mark of its load there (${unseen.name}) may not be opened by this user (access denied: it was made by another user, or by an elevated heapshift), ${unknown}`;
  const where = unseen === undefined
    ? ""
    : unseen.why === "unreachable"
    ? ", or eject it from that session"
    : ", or eject it as the user that injected it (elevated if that one was)";
  return new HeapshiftError(
    "unsupported",
    `Cannot ${doing} process ${pid}: ${why}: the program may have loaded it itself and still call it, so unloading it could crash the program; pass anyOrigin: true (--any-origin on the command line) to unload it whoever loaded it (a thread running in it still stops the eject)${where}`,
  );
}
