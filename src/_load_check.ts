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
  isSignaled,
  RemoteTimeoutError,
  waitSignaled,
  wideBytes,
} from "../ffi/mod.ts";
import { exportAddress } from "./_remote_exports.ts";
import { processError, type TargetProcess } from "./_target.ts";
import { missingDependencies } from "./_missing_dependencies.ts";
import { type LaunchedProcess, launchedTarget } from "./launched_process.ts";

/**
 * `GetModuleHandleW` as the launched program calls it, or `undefined` when
 * it exited first. An x86 program's 32-bit kernel32 is mapped by its own
 * loader after the resume: this waits (until `deadline`) for it to be
 * listed.
 */
async function moduleHandleFunction(
  target: TargetProcess,
  deadline: number,
): Promise<bigint | undefined> {
  const want = { dll: "kernel32.dll", fn: "GetModuleHandleW" };
  for (;;) {
    if (isSignaled(target.process)) return undefined;
    try {
      return exportAddress(target, want);
    } catch (e) {
      if (target.arch === "x64") throw e;
      if (Date.now() >= deadline) {
        throw new RemoteTimeoutError(0);
      }
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** NTSTATUS exit codes of a process whose loader gave up, and why. */
const LOADER_FAILURES: Record<number, string> = {
  0xc0000135: "a DLL it needs was not found (STATUS_DLL_NOT_FOUND)",
  0xc0000142: "a DLL failed to initialise (STATUS_DLL_INIT_FAILED)",
  0xc0000139:
    "an imported function was not found (STATUS_ENTRYPOINT_NOT_FOUND)",
  0xc000007b:
    "a DLL has the wrong format or machine (STATUS_INVALID_IMAGE_FORMAT)",
};

/**
 * Waits until the program's loader has initialised every added DLL: a
 * remote thread calls `GetModuleHandleW(dll)`; a new thread only runs once
 * process initialisation is over, so its answer proves the DLLs loaded and
 * initialised. If the process ends instead, an exit with a loader status
 * means a DLL failed to load; any other exit means the program ran (so the
 * DLLs had loaded).
 */
export async function confirmLoaded(
  launched: LaunchedProcess,
  options: { dlls: string[]; timeout: number },
): Promise<void> {
  if (options.dlls.length === 0) return;
  const names = options.dlls.map(baseName).join(", ");
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
      // Without the stub only 32 bits are known: 0 proves nothing then on
      // x64; a 32-bit handle is all there is on x86.
      handle = result.complete || target.arch === "x86"
        ? result.value
        : undefined;
    }
  } catch (e) {
    if (e instanceof RemoteTimeoutError) {
      launched.kill();
      throw new HeapshiftError(
        "timeout",
        `Cannot launch with ${names}: the program did not finish loading them within ${options.timeout} ms (it was stopped)`,
        { cause: e },
      );
    }
    // The process may have died under the remote thread: look below.
    if (!(await waitSignaled(target.process, 1000))) {
      throw processError(e, {
        pid: launched.pid,
        doing: `check that ${names} loaded in`,
      });
    }
  }
  const code = launched.exitCode();
  if (code !== undefined) {
    const why = LOADER_FAILURES[code];
    if (!why) return;
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
      `Cannot launch with ${names}: the program's loader stopped it with 0x${
        code.toString(16).toUpperCase()
      }: ${why}${missing.length ? `; missing: ${missing.join(", ")}` : ""}`,
    );
  }
  if (handle === 0n) {
    launched.kill();
    throw new HeapshiftError(
      "load-failed",
      `Cannot launch with ${names}: the program started without loading it (it was stopped)`,
    );
  }
}
