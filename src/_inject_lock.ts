/**
 * One injection (or ejection) at a time per target process (internal):
 * inject checks whether a DLL or heapshift is loaded and then loads it, and
 * two injectors interleaving there would both load it (two heapshifts, one
 * idle and pinned for good). Held across processes by the named mutex
 * `Local\heapshift-inject-<pid>` (`Global\` as {@linkcode targetNamed}
 * says), and within this one by a queue: a mutex taken twice by the same
 * thread does not wait.
 *
 * @module
 */

import {
  acquireMutex,
  createNamedMutex,
  type Handle,
  releaseMutex,
} from "../ffi/mod.ts";
import { HeapshiftError } from "./heapshift_error.ts";
import { targetNamed } from "./live_stats.ts";

/** Per pid, the end of the last lock asked for in this process. */
const queues = new Map<number, Promise<void>>();

/**
 * Waits up to `options.timeout` ms until no other injection into `pid`
 * runs, and holds that until disposed. On timeout, a `timeout`
 * HeapshiftError about `options.doing` (e.g. `inject x.dll into`).
 */
export async function lockTarget(
  pid: number,
  options: { timeout: number; doing: string },
): Promise<Disposable> {
  const deadline = Date.now() + options.timeout;
  const before = queues.get(pid) ?? Promise.resolve();
  let unqueue = () => {};
  const mine = new Promise<void>((r) => unqueue = r);
  const tail = before.then(() => mine);
  queues.set(pid, tail);
  const release = () => {
    unqueue();
    if (queues.get(pid) === tail) queues.delete(pid);
  };
  let mutex: Handle | undefined;
  try {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const turn = await Promise.race([
      before.then(() => true),
      new Promise<false>((r) =>
        timer = setTimeout(() => r(false), options.timeout)
      ),
    ]).finally(() => clearTimeout(timer));
    mutex = turn ? openMutex(pid) : undefined;
    if (
      !turn ||
      (mutex &&
        !(await acquireMutex(mutex, Math.max(deadline - Date.now(), 0))))
    ) {
      throw new HeapshiftError(
        "timeout",
        `Cannot ${options.doing} process ${pid}: another injection into it (by heapshift, from this or another process) did not end within ${options.timeout} ms; try again once it has`,
      );
    }
  } catch (e) {
    mutex?.close();
    release();
    throw e;
  }
  const held = mutex;
  return {
    [Symbol.dispose]() {
      if (held) {
        try {
          releaseMutex(held);
        } finally {
          held.close();
        }
      }
      release();
    },
  };
}

/**
 * The target's injection mutex, or undefined when there can be none (see
 * {@linkcode targetNamed}): then only this process's injections are kept
 * apart.
 */
function openMutex(pid: number): Handle | undefined {
  const name = `heapshift-inject-${pid}`;
  return targetNamed(pid, { name, create: createNamedMutex });
}
