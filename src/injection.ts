/**
 * Loading a DLL into a running process, and unloading it.
 *
 * @module
 */

import { ARCH_MACHINE } from "./arch.ts";
import { checkDllArch, readDll } from "./_dll_file.ts";
import { baseName } from "./_paths.ts";
import { HeapshiftError } from "./heapshift_error.ts";
import { missingDependencies } from "./_missing_dependencies.ts";
import { timeoutMs } from "./_timeout.ts";
import {
  callRemote,
  ERROR,
  formatMessage,
  INJECT_ACCESS,
  isBeingDebugged,
  type RemoteResult,
  RemoteTimeoutError,
  wideBytes,
} from "../ffi/mod.ts";
import { exportAddress } from "./_remote_exports.ts";
import { isHeapshiftDll } from "../pe/mod.ts";
import { type ModuleInfo, moduleNamed, targetModules } from "./module_list.ts";
import {
  exitedError,
  openTarget,
  processError,
  type TargetProcess,
} from "./_target.ts";
import { hasHeapshift } from "./_heapshift_presence.ts";
import { guardAsync } from "./_error_kinds.ts";
import { importersOf } from "./_importers.ts";
import { isSystemDll } from "./_system_dll.ts";

/**
 * Options for {@linkcode inject} and {@linkcode eject}.
 *
 * @example Give a slow DLL more time
 * ```ts
 * import { inject } from "@heapshift/heapshift";
 * await inject(1234, "build/heapshift.dll", { timeout: 30_000 });
 * ```
 */
export interface InjectOptions {
  /** Milliseconds to wait for the remote call (default 10000). */
  timeout?: number;
}

/** Modules no process survives losing. */
const SYSTEM_CORE = new Set(["ntdll.dll", "kernel32.dll", "kernelbase.dll"]);

/** One remote call of a kernel32 function, for {@linkcode callKernel32}. */
interface Kernel32Call {
  /** The kernel32 export to call, e.g. `LoadLibraryW`. */
  fn: string;
  /** Its argument: an address (number) or bytes copied into the target. */
  arg: bigint | Uint8Array;
  /** Milliseconds to wait. */
  timeout: number;
  /** For messages: the process id and what was being done to it. */
  pid: number;
  doing: string;
  /** Added to the timeout message, e.g. why the call may hang. */
  stuckHint?: string;
}

/**
 * Calls kernel32's `call.fn` in `target` (its 32-bit kernel32 in an x86
 * process) and maps failures to HeapshiftErrors (a `timeout` one when it
 * does not return in time).
 */
export async function callKernel32(
  target: TargetProcess,
  call: Kernel32Call,
): Promise<RemoteResult> {
  const { fn, arg, timeout, pid, doing } = call;
  const address = exportAddress(target, { dll: "kernel32.dll", fn });
  const machine = ARCH_MACHINE[target.arch];
  try {
    return await callRemote(
      target.process,
      address,
      arg instanceof Uint8Array
        ? { data: arg, timeout, machine }
        : { arg, timeout, machine },
    );
  } catch (e) {
    // A target that ended during the call fails it with access errors.
    const gone = exitedError(target, { doing, during: call.fn });
    if (gone) throw gone;
    if (e instanceof RemoteTimeoutError) {
      const hints = [
        ...(call.stuckHint ? [call.stuckHint] : []),
        ...(debugged(target)
          ? ["a debugger is attached to it and may be holding its threads"]
          : []),
      ];
      throw new HeapshiftError(
        "timeout",
        `Cannot ${doing} process ${pid}: ${fn} did not return within ${timeout} ms${
          hints.length ? ` (${hints.join("; ")})` : ""
        }; the call goes on in the target and may still finish: check with \`modules ${pid}\``,
        { cause: e },
      );
    }
    throw processError(e, { pid, doing });
  }
}

function debugged(target: TargetProcess): boolean {
  try {
    return isBeingDebugged(target.process);
  } catch {
    return false;
  }
}

/**
 * Loads the DLL at `dllPath` into the running process `pid` with a remote
 * `LoadLibraryW`, and returns the module as the target lists it. Success is
 * proven by finding the module in the target. When the DLL fails to load,
 * the error carries the loader's own error from inside the target (for
 * example a missing dependency). A 32-bit (x86) process takes a 32-bit
 * DLL, loaded by its own 32-bit `LoadLibraryW`; a DLL of the other
 * architecture is a `bad-dll` error, before the process is touched.
 *
 * @example Inject heapshift into a running program
 * ```ts
 * import { findProcesses, inject } from "@heapshift/heapshift";
 * const [target] = findProcesses("game.exe");
 * const mod = await inject(target.pid, "build/heapshift.dll", { timeout: 5000 });
 * console.log(`loaded at 0x${mod.base.toString(16)}`);
 * ```
 */
export function inject(
  pid: number,
  dllPath: string,
  options: InjectOptions = {},
): Promise<ModuleInfo> {
  return guardAsync(() => loadInto(pid, dllPath, options));
}

async function loadInto(
  pid: number,
  dllPath: string,
  options: InjectOptions,
): Promise<ModuleInfo> {
  const file = readDll(dllPath);
  const dll = file.path;
  const doing = `inject ${baseName(dll)} into`;
  const timeout = timeoutMs(options.timeout, {
    fallback: 10_000,
    doing: `${doing} process ${pid}`,
  });
  using target = openTarget(pid, { access: INJECT_ACCESS, doing });
  checkDllArch(file, {
    arch: target.arch,
    noun: "process",
    doing: `${doing} process ${pid}`,
  });
  // Loaded already: another LoadLibraryW would only add a reference, which
  // a later eject could not take back.
  const already = moduleNamed(targetModules(target), dll);
  if (already) return already;
  // A second heapshift (a copy under another name) would stay idle, pinned
  // for good.
  if (isHeapshiftDll(dll) && hasHeapshift(pid)) {
    throw new HeapshiftError(
      "unsupported",
      `Cannot ${doing} process ${pid}: heapshift is loaded in it already (\`stats ${pid}\` shows it); a second copy would stay idle and could never be unloaded`,
    );
  }
  const result = await callKernel32(target, {
    fn: "LoadLibraryW",
    arg: wideBytes(dll),
    timeout,
    pid,
    doing,
    stuckHint: "the DLL's initialisation may be stuck",
  });
  if (result.complete && result.value === 0n) {
    let hint = "";
    if (result.lastError === ERROR.MOD_NOT_FOUND) {
      const missing = await missingDependencies(dll, targetModules(target));
      hint = missing.length
        ? `; ${baseName(dll)} needs ${
          missing.join(", ")
        }, which the target cannot find (not loaded, not next to the DLL or the program, not in the system directory or on PATH)`
        : `; the DLL exists, so one of its dependencies is probably missing`;
    }
    throw new HeapshiftError(
      "load-failed",
      `Cannot ${doing} process ${pid}: the target's loader reports: ${
        formatMessage(result.lastError)
      } (error ${result.lastError})${hint}`,
    );
  }
  // Without the stub (the target forbids dynamic code) only the low 32
  // bits of the HMODULE are known, and possibly 0 for a loaded module.
  const base = (m: ModuleInfo) =>
    result.complete ? m.base : m.base & 0xffff_ffffn;
  const loaded = targetModules(target);
  const mod =
    (result.value !== 0n
      ? loaded.find((m) => base(m) === result.value)
      : undefined) ?? moduleNamed(loaded, dll);
  if (!mod) {
    throw new HeapshiftError(
      "load-failed",
      result.complete
        ? `Cannot ${doing} process ${pid}: LoadLibraryW returned 0x${
          result.value.toString(16)
        } but the module is not in the process's module list`
        : `Cannot ${doing} process ${pid}: LoadLibraryW failed in the target; it forbids dynamic code (Arbitrary Code Guard), so the loader's error cannot be read`,
    );
  }
  return mod;
}

/**
 * Unloads the module `moduleName` (file name or full path) from process
 * `pid` with a remote `FreeLibrary`, and checks it is gone. A pinned module
 * (heapshift.dll pins itself: its hooks must never be unmapped) stays, and
 * is reported as a `pinned` error.
 *
 * @example Unload a DLL that was injected earlier
 * ```ts
 * import { eject } from "@heapshift/heapshift";
 * await eject(1234, "probe.dll");
 * ```
 */
export function eject(
  pid: number,
  moduleName: string,
  options: InjectOptions = {},
): Promise<void> {
  return guardAsync(() => unloadFrom(pid, moduleName, options));
}

async function unloadFrom(
  pid: number,
  moduleName: string,
  options: InjectOptions,
): Promise<void> {
  const doing = `eject ${baseName(moduleName)} from`;
  const timeout = timeoutMs(options.timeout, {
    fallback: 10_000,
    doing: `${doing} process ${pid}`,
  });
  using target = openTarget(pid, { access: INJECT_ACCESS, doing });
  const all = targetModules(target);
  const mod = moduleNamed(all, moduleName);
  if (!mod) {
    throw new HeapshiftError(
      "not-found",
      `Cannot ${doing} process ${pid}: no module ${moduleName} is loaded in it`,
    );
  }
  if (mod === all[0] || SYSTEM_CORE.has(mod.name.toLowerCase())) {
    throw new HeapshiftError(
      "unsupported",
      `Cannot ${doing} process ${pid}: ${mod.name} is ${
        mod === all[0] ? "the program itself" : "a core system DLL"
      }, which cannot be unloaded`,
    );
  }
  const importers = importersOf(all, mod);
  if (importers[0] === all[0]) {
    throw new HeapshiftError(
      "unsupported",
      `Cannot ${doing} process ${pid}: the program imports ${mod.name}, so it was loaded with the program, whose code calls into it; unloading it would crash the program`,
    );
  }
  if (importers.length) {
    // FreeLibrary would drop the reference the importer's load took: the
    // DLL is unmapped while the importer's import table still points in.
    const list = nameList(importers.map((m) => m.name));
    throw new HeapshiftError(
      "unsupported",
      importers.length === 1
        ? `Cannot ${doing} process ${pid}: ${list} imports it, so unloading it would crash the program when ${list} calls it; eject ${list} first`
        : `Cannot ${doing} process ${pid}: ${list} import it, so unloading it would crash the program when one of them calls it; eject them first`,
    );
  }
  if (isSystemModule(mod.path)) {
    throw new HeapshiftError(
      "unsupported",
      `Cannot ${doing} process ${pid}: ${mod.name} is a system DLL (${mod.path}), which Windows and the program load for each other, also through API sets and forwarders; unloading it could crash the program`,
    );
  }
  const result = await callKernel32(target, {
    fn: "FreeLibrary",
    arg: mod.base,
    timeout,
    pid,
    doing,
  });
  if ((result.value & 0xffff_ffffn) === 0n) {
    throw new HeapshiftError(
      "failed",
      `Cannot ${doing} process ${pid}: FreeLibrary failed in the target: ${
        formatMessage(result.lastError)
      } (error ${result.lastError})`,
    );
  }
  if (targetModules(target).some((m) => m.base === mod.base)) {
    throw new HeapshiftError(
      "pinned",
      `Cannot ${doing} process ${pid}: it stays loaded after FreeLibrary; the module is pinned (heapshift.dll pins itself so its hooks are never unmapped) or was loaded more than once`,
    );
  }
}

/** Whether `path` is one of Windows' own DLLs ({@linkcode isSystemDll}). */
function isSystemModule(path: string): boolean {
  let root = "C:\\Windows";
  try {
    root = Deno.env.get("SystemRoot") ?? root;
  } catch { /* no env permission: the default */ }
  return isSystemDll(path, root);
}

/** `a`, `a and b`, `a, b and c`; past five, `a, b, c, d, e and 3 others`. */
function nameList(names: string[]): string {
  const shown = names.length > 5
    ? [...names.slice(0, 5), `${names.length - 5} others`]
    : names;
  return shown.length === 1
    ? shown[0]
    : `${shown.slice(0, -1).join(", ")} and ${shown.at(-1)}`;
}
