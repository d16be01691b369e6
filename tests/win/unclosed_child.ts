// Run by api_attach_test.ts, as a script of a user's, with
// --v8-flags=--expose-gc: AttachedProcesses a script never closes. One it
// no longer references releases, once collected, its process handle and
// the stats block it held; one it keeps, or whose wait() is pending, does
// not. Prints what it saw as JSON. Arguments: a program to run, heapshift.dll.
import { attach, inject, quoteArg } from "../../mod.ts";
import {
  createProcess,
  type Handle,
  openProcess,
  openSharedMemory,
  PROCESS,
  processCreationTime,
  terminateProcess,
} from "../../ffi/mod.ts";

const [exe, dll] = Deno.args;
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with --v8-flags=--expose-gc");

/** Starts `exe`; its creation time (our handles to it are closed, unless
 * `keep` asks for its process handle). */
function start(keep = false) {
  const created = createProcess(exe, quoteArg(exe), { stdio: "none" });
  created.thread.close();
  const born = processCreationTime(created.process);
  let process: Handle | undefined = created.process;
  if (!keep) {
    created.process.close();
    process = undefined;
  }
  return { pid: created.pid, born, process };
}

/** Whether the process object of `p` still exists (a handle keeps it). */
function exists(p: { pid: number; born: bigint }): boolean {
  let h: Handle;
  try {
    h = openProcess(p.pid, PROCESS.QUERY_LIMITED_INFORMATION);
  } catch {
    return false;
  }
  using _ = h;
  return processCreationTime(h) === p.born; // (not a new process of that pid)
}

/** Whether the stats block of process `pid` still exists. */
function blockExists(pid: number): boolean {
  try {
    openSharedMemory(`Local\\heapshift-${pid}`).close();
    return true;
  } catch {
    return false;
  }
}

async function collect(): Promise<void> {
  for (let i = 0; i < 20; i++) {
    gc!();
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Attaches to a new program, injects heapshift, ends it; returns the
 * AttachedProcess, never closed. */
async function endedWithHeapshift(p: { pid: number }) {
  const attached = attach(p.pid);
  await inject(p.pid, dll);
  attached.kill(5);
  await attached.wait({ timeout: 30_000 });
  return attached;
}

const dropped = start();
await endedWithHeapshift(dropped); // (not kept)
const kept = start();
const keptAttached = await endedWithHeapshift(kept);
// Waited for, not referenced otherwise.
const waitedFor = start(true);
const waiting = attach(waitedFor.pid).wait({ timeout: 60_000 });
await collect();
terminateProcess(waitedFor.process!, 9);
const waited = await waiting;
await collect();
console.log(JSON.stringify({
  dropped: { process: exists(dropped), block: blockExists(dropped.pid) },
  kept: { process: exists(kept), block: blockExists(kept.pid) },
  keptStats: keptAttached.stats().state,
  waited,
}));
keptAttached.close();
waitedFor.process!.close();
