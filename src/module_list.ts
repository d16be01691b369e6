/**
 * The modules (EXE and DLLs) loaded in a process.
 *
 * @module
 */

import {
  LIST_MODULES,
  moduleEntries,
  type ModuleEntry,
  moduleFilePath,
  PROCESS,
  processModules,
  withDebugPrivilegeRetry,
} from "../ffi/mod.ts";
import {
  exitedError,
  openTarget,
  processError,
  type TargetProcess,
} from "./_target.ts";
import { guard } from "./_error_kinds.ts";

/**
 * A module (EXE or DLL) loaded in a process.
 *
 * @example Print a module map
 * ```ts
 * import { modules } from "@heapshift/heapshift";
 * for (const m of modules(1234)) {
 *   console.log(`0x${m.base.toString(16)} ${m.size} ${m.path}`);
 * }
 * ```
 */
export interface ModuleInfo {
  /** File name, e.g. `KERNEL32.DLL`. */
  name: string;
  /** Full path of the file. */
  path: string;
  /** Base address in the process. */
  base: bigint;
  /** Size of the mapped image in bytes. */
  size: number;
}

/** Access {@linkcode modules} needs to read a module list. */
const LIST_ACCESS = PROCESS.QUERY_INFORMATION | PROCESS.VM_READ;

/**
 * Lists the modules loaded in process `pid`: name, path, base and size,
 * the program first. For a 32-bit process these are its 32-bit modules.
 *
 * @example Is a DLL loaded?
 * ```ts
 * import { modules } from "@heapshift/heapshift";
 * const pid = 1234;
 * const loaded = modules(pid).some((m) => m.name.toLowerCase() === "heapshift.dll");
 * ```
 */
export function modules(pid: number): ModuleInfo[] {
  return guard(() => {
    using target = openTarget(pid, {
      access: LIST_ACCESS,
      doing: "list the modules of",
    });
    return targetModules(target);
  });
}

/**
 * The modules of an opened target (with QUERY_INFORMATION and VM_READ):
 * toolhelp for x64; psapi's 32-bit list for x86, because toolhelp cannot
 * list a WOW64 process's modules under Wine (error 998) and lists only
 * its 64-bit ones by default on Windows.
 */
export function targetModules(target: TargetProcess): ModuleInfo[] {
  try {
    return target.arch === "x86"
      ? processModules(target.process, LIST_MODULES.BIT32)
      : snapshotModules(target.pid).map((m) => wholePath(target, m));
  } catch (e) {
    // An ended process (its handle held open by someone) has no module
    // list: Wine says access denied, Windows a partial copy.
    const doing = "list the modules of";
    throw exitedError(target, { doing }) ??
      processError(e, { pid: target.pid, doing });
  }
}

/**
 * Toolhelp's list of `pid`'s modules. Toolhelp opens the process itself,
 * by its id: another user's process or a service, which openTarget opened
 * with SeDebugPrivilege enabled for its own open only, refuses it unless
 * the privilege is enabled again for the snapshot.
 */
function snapshotModules(pid: number): ModuleEntry[] {
  return withDebugPrivilegeRetry(() => moduleEntries(pid));
}

/**
 * Toolhelp's path of `m`, or the loader's where toolhelp's may have lost
 * something: toolhelp keeps 259 characters, and on Windows goes through
 * the ANSI code page ('?' for what it cannot hold; no file name has one).
 * psapi reads the loader's Unicode string, one module at a time (slower:
 * only where needed).
 */
function wholePath(target: TargetProcess, m: ModuleEntry): ModuleEntry {
  if (m.path.length < 255 && !m.path.includes("?")) return m;
  const path = moduleFilePath(target.process, m.base);
  if (path === undefined) return m;
  return { ...m, path, name: path.slice(path.lastIndexOf("\\") + 1) };
}

/**
 * `path` in lower case without a `\\?\` prefix (`\\?\UNC\` for `\\`): the
 * same file as named without it, as the loader may list it.
 */
function pathKey(path: string): string {
  return path.toLowerCase().replace(/^\\\\\?\\unc\\/, "\\\\")
    .replace(/^\\\\\?\\/, "");
}

/**
 * The module in `list` whose name or path is `nameOrPath` (any case; a
 * path with or without a `\\?\` prefix).
 */
export function moduleNamed(
  list: ModuleInfo[],
  nameOrPath: string,
): ModuleInfo | undefined {
  const want = nameOrPath.toLowerCase();
  const path = pathKey(nameOrPath);
  return list.find((m) =>
    m.name.toLowerCase() === want || pathKey(m.path) === path
  );
}

/** The module of `pid` whose name or path matches `nameOrPath`, if any. */
export function findModule(
  pid: number,
  nameOrPath: string,
): ModuleInfo | undefined {
  return moduleNamed(modules(pid), nameOrPath);
}
