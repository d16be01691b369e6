/**
 * Whether a launched program's loader loaded the added DLLs: a remote
 * thread asks, or the program's exit status tells why it could not.
 *
 * @module
 */

import { ARCH_MACHINE } from "./arch.ts";
import { baseName } from "./_paths.ts";
import { HeapshiftError } from "./heapshift_error.ts";
import {
  callRemote,
  errorMode,
  isSignaled,
  RemoteTimeoutError,
  SEM,
  waitSignaled,
  wideBytes,
} from "../ffi/mod.ts";
import { exportAddress } from "./_remote_exports.ts";
import { type ModuleInfo, moduleNamed, targetModules } from "./module_list.ts";
import { processError, type TargetProcess } from "./_target.ts";
import { missingDependencies } from "./_missing_dependencies.ts";
import { signaturePolicy } from "./_load_hint.ts";
import { type LaunchedProcess, launchedTarget } from "./launched_process.ts";

/** The loader did not get as far as kernel32 in time; `cause`: why not. */
class NotStartedError extends Error {
  override name = "NotStartedError";
}

/**
 * `GetModuleHandleW` as the launched program calls it, once its loader has
 * mapped kernel32, or `undefined` when it exited first. Until then its
 * main thread has not begun process initialisation, and Windows runs that
 * (every DLL's `DllMain`, TLS callbacks) on whichever of the process's
 * threads gets there first: a remote thread created earlier could be the
 * one, and a short-lived foreign thread would then initialise the
 * program's DLLs, heapshift's among them. (An x86 program's 32-bit
 * kernel32 also has to be listed before its exports can be read.)
 */
async function moduleHandleFunction(
  target: TargetProcess,
  deadline: number,
): Promise<bigint | undefined> {
  const want = { dll: "kernel32.dll", fn: "GetModuleHandleW" };
  let last: unknown;
  for (;;) {
    if (isSignaled(target.process)) return undefined;
    let modules: ModuleInfo[] | undefined;
    try {
      // (a process still initialising may not be listable yet)
      modules = targetModules(target);
    } catch (e) {
      last = e;
    }
    if (modules && moduleNamed(modules, want.dll)) {
      try {
        return exportAddress(target, want, { modules });
      } catch (e) {
        if (target.arch === "x64") throw e;
        last = e;
      }
    }
    if (Date.now() >= deadline) {
      throw new NotStartedError("kernel32.dll not listed", { cause: last });
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * What the check saw, as a verdict: `loaded` (a non-zero module handle
 * proves it, whatever the program did next, including exiting with a code
 * that looks like a loader's), a loader failure (no proof, and the process
 * ended with a loader status), `ran` (no proof, but the program ended with
 * any other code: it got past its loader), `not-loaded` (running, and the
 * DLL is not there) or `unknown` (running, no answer).
 */
export function loadVerdict(
  seen: { handle: bigint | undefined; exitCode: number | undefined },
):
  | "loaded"
  | "ran"
  | "not-loaded"
  | "unknown"
  | { failure: string; code: number } {
  if (seen.handle !== undefined && seen.handle !== 0n) return "loaded";
  if (seen.exitCode !== undefined) {
    const why = LOADER_FAILURES[seen.exitCode];
    return why ? { failure: why, code: seen.exitCode } : "ran";
  }
  return seen.handle === 0n ? "not-loaded" : "unknown";
}

/** NTSTATUS exit codes of a process whose loader gave up, and why. */
const LOADER_FAILURES: Record<number, string> = {
  0xc0000135: "a DLL it needs was not found (STATUS_DLL_NOT_FOUND)",
  0xc0000142: "a DLL failed to initialise (STATUS_DLL_INIT_FAILED)",
  0xc0000139:
    "an imported function was not found (STATUS_ENTRYPOINT_NOT_FOUND)",
  0xc000007b:
    "a DLL has the wrong format or machine (STATUS_INVALID_IMAGE_FORMAT)",
  // Without a name: Windows' own "bad image" box blames a damaged file.
  0xc0000428:
    `a DLL was refused for its signature (STATUS_INVALID_IMAGE_HASH): ${
      signaturePolicy("the added DLL")
    }`,
};

/** What a launch that timed out with Windows' error boxes on adds. */
const ERROR_BOX_HINT =
  "; if Windows showed it an error box (a DLL not found, or one that failed to initialise), that box waits for a click: launch it with errorDialogs: false (--no-error-dialogs on the command line) to have the loader's error reported instead";

/**
 * Waits until the program's loader has initialised every added DLL: a
 * remote thread calls `GetModuleHandleW(dll)`. It is created once the main
 * thread has begun process initialisation, so it waits for that to end,
 * and its answer proves the DLLs loaded and initialised. If the process
 * ends instead, an exit with a loader status means a DLL failed to load;
 * any other exit means the program ran (so the DLLs had loaded).
 * `errorDialogs`: whether Windows may show the program its error boxes
 * (launch's option; unsaid, the mode is inherited: they may unless this
 * process has them off), which a timeout's message mentions.
 */
export async function confirmLoaded(
  launched: LaunchedProcess,
  options: {
    /** The program as `launch` was given it, for the messages. */
    exe: string;
    dlls: string[];
    timeout: number;
    errorDialogs?: boolean;
  },
): Promise<void> {
  if (options.dlls.length === 0) return;
  // With the program's name: a script that launches several is told which.
  const names = `${options.exe} with ${options.dlls.map(baseName).join(", ")}`;
  const target = launchedTarget(launched);
  const deadline = Date.now() + options.timeout;
  let handle: bigint | undefined;
  try {
    const fn = await moduleHandleFunction(target, deadline);
    if (fn !== undefined) {
      const result = await callRemote(target.process, fn, {
        data: wideBytes(options.dlls[0]),
        timeout: Math.max(deadline - Date.now(), 1),
        machine: ARCH_MACHINE[target.arch],
      });
      // Without the stub only 32 bits are known: on x64 a handle may have
      // them all 0, so only a non-zero value proves anything; a 32-bit
      // handle is all there is on x86. A thread ended before it returned
      // (something in the program ends threads it did not start) answered
      // nothing: its 0 is no "not loaded".
      handle = !result.returned
        ? undefined
        : result.complete || target.arch === "x86" || result.value !== 0n
        ? result.value
        : undefined;
    }
  } catch (e) {
    if (e instanceof RemoteTimeoutError || e instanceof NotStartedError) {
      // (the caller stops the program)
      const last = e instanceof NotStartedError && e.cause instanceof Error
        ? ` (last error: ${e.cause.message})`
        : "";
      // A loader failure with the dialogs on waits for a click on the
      // box before the program ends: only the timeout tells. Unsaid, the
      // program got our mode: with the loader's box off there (a CI agent,
      // a service) no box waited, and --no-error-dialogs would change
      // nothing.
      const off = options.errorDialogs === false ||
        (options.errorDialogs === undefined &&
          (errorMode() & SEM.FAILCRITICALERRORS) !== 0);
      const box = off ? "" : ERROR_BOX_HINT;
      throw new HeapshiftError(
        "timeout",
        `Cannot launch ${names}: the program did not finish loading them within ${options.timeout} ms (it was stopped)${last}${box}`,
        { cause: e },
      );
    }
    // The process may have died under the remote thread: look below.
    if (!(await waitSignaled(target.process, 1000))) {
      throw processError(e, {
        pid: launched.pid,
        doing: `check that ${options.dlls.map(baseName).join(", ")} loaded in`,
      });
    }
  }
  const verdict = loadVerdict({ handle, exitCode: launched.exitCode() });
  if (typeof verdict === "object") {
    const { failure: why, code } = verdict;
    const missing = code === 0xc0000135
      ? [
        ...new Set(
          (await Promise.all(
            options.dlls.map((d) => missingDependencies(d, [])),
          )).flat(),
        ),
      ]
      : [];
    throw new HeapshiftError(
      "load-failed",
      `Cannot launch ${names}: the program's loader stopped it with 0x${
        code.toString(16).toUpperCase()
      }: ${why}${missing.length ? `; missing: ${missing.join(", ")}` : ""}`,
    );
  }
  if (verdict === "not-loaded") {
    throw new HeapshiftError(
      "load-failed",
      `Cannot launch ${names}: the program started without loading it (it was stopped)`,
    );
  }
}
