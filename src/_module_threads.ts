/**
 * The threads of a process that began in a given module (internal): eject
 * must not unmap a DLL whose own threads still run in it.
 *
 * @module
 */

import {
  openThread,
  STILL_ACTIVE,
  THREAD,
  threadExitCode,
  threadIds,
  threadProcessId,
  threadStartAddress,
} from "../ffi/mod.ts";
import type { ModuleInfo } from "./module_list.ts";

/**
 * The ids of process `pid`'s running threads whose start routine lies in
 * `mod` (started with `CreateThread` at a function of the module). One
 * that has ended (its object kept by a handle still open), whose id now
 * names another process's thread, or whose start cannot be read, is not
 * listed; nor is one started through the CRT (`_beginthreadex`,
 * `std::thread`), whose start routine is the CRT's: the CRT holds a
 * reference to the module while it runs, so FreeLibrary leaves the module
 * mapped. A thread the module starts after this look is not seen.
 */
export function threadsStartedIn(pid: number, mod: ModuleInfo): number[] {
  const end = mod.base + BigInt(mod.size);
  return threadIds(pid).filter((tid) => {
    try {
      using t = openThread(tid, THREAD.QUERY_INFORMATION);
      if (threadProcessId(t) !== pid) return false;
      // An exit code of STILL_ACTIVE is a running thread's (or one that
      // ended with it: counted, to be safe).
      if (threadExitCode(t) !== STILL_ACTIVE) return false;
      const start = threadStartAddress(t);
      return start >= mod.base && start < end;
    } catch {
      return false; // ended, or not ours to ask
    }
  });
}
