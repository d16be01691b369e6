/**
 * The threads of a process that began in a given module (internal): eject
 * must not unmap a DLL whose own threads still run in it.
 *
 * @module
 */

import {
  openThread,
  THREAD,
  threadIds,
  threadStartAddress,
} from "../ffi/mod.ts";
import type { ModuleInfo } from "./module_list.ts";

/**
 * The ids of process `pid`'s threads whose start routine lies in `mod`
 * (started with `CreateThread` at a function of the module). A thread that
 * has ended meanwhile, or whose start cannot be read, is not listed; nor
 * is one started through the CRT (`_beginthreadex`, `std::thread`), whose
 * start routine is the CRT's.
 */
export function threadsStartedIn(pid: number, mod: ModuleInfo): number[] {
  const end = mod.base + BigInt(mod.size);
  return threadIds(pid).filter((tid) => {
    try {
      using t = openThread(tid, THREAD.QUERY_INFORMATION);
      const start = threadStartAddress(t);
      return start >= mod.base && start < end;
    } catch {
      return false; // ended, or not ours to ask
    }
  });
}
