/**
 * Reading heapshift's live statistics from a process it runs in.
 *
 * @module
 */

import { HeapshiftError } from "./heapshift_error.ts";
import {
  debugPrivilege,
  ERROR,
  type Handle,
  knownSessionId,
  openProcess,
  openSharedMemory,
  PROCESS,
  processCreationTime,
  readSharedMemory,
  Win32Error,
  withDebugPrivilegeRetry,
} from "../ffi/mod.ts";
import { processes } from "./processes.ts";
import { guard } from "./_error_kinds.ts";
import { checkPid, ELEVATION_HINT, endedCode } from "./_target.ts";
import {
  type HeapshiftStats,
  parseStats,
  STATS_MAX_SIZE,
  statsOwner,
} from "./stats_block.ts";

/**
 * Where this process finds the names a process makes in its own session
 * (`Local\`): `Local` in the same session, `Global` in session 0's (a
 * service's), `Session\<id>` in another user's session's. Windows links
 * each session's names to every session's (`Session\` is
 * `\Sessions\BNOLINKS`, whose `<id>` is that session's
 * `BaseNamedObjects`); Microsoft documents the prefix only as reserved
 * for system use, and Win32's Open* and Create* calls follow it as they
 * follow `Global\`.
 */
export type Namespace = "Local" | "Global" | `Session\\${number}`;

/**
 * The name of the stats block of process `pid`. With the process's creation
 * time: the name heapshift.dll falls back to when a dead process with the
 * same pid left a block it cannot use under the plain one (dll/STATS.md).
 * The DLL names it in its own session's namespace (`Local\`); a reader in
 * another session finds it as `options.namespace` says
 * ({@linkcode statsNamespace}).
 */
export function statsName(
  pid: number,
  created?: bigint,
  options: { namespace?: Namespace } = {},
): string {
  const plain = `${options.namespace ?? "Local"}\\heapshift-${pid}`;
  return created === undefined
    ? plain
    : `${plain}-${created.toString(16).padStart(16, "0")}`;
}

/**
 * Where the names of a process in session `target` are seen from session
 * `own` ({@linkcode Namespace}): the same session's as `Local\`, session
 * 0's (services) as `Global\`, another user session's as `Session\<id>\`;
 * ours where either session cannot be told.
 */
export function statsNamespace(
  target: number | undefined,
  own: number | undefined,
): Namespace {
  if (target === undefined || own === undefined || target === own) {
    return "Local";
  }
  return target === 0 ? "Global" : `Session\\${target}`;
}

/**
 * The namespaces in which the block of a process in session `target` may
 * be seen from session `own`, in the order to look: as
 * {@linkcode statsNamespace} says, and for a target whose session cannot
 * be told (it refuses to be queried) ours first, then session 0's: a
 * service's block is there, and a reader that looked only in its own
 * session said the service had no heapshift. When our own session cannot
 * be told, ours first, then the target's (`Global\` for a service's).
 */
export function statsNamespaces(
  target: number | undefined,
  own: number | undefined,
): Namespace[] {
  if (target === undefined && own !== 0) return ["Local", "Global"];
  if (target !== undefined && own === undefined) {
    return ["Local", target === 0 ? "Global" : `Session\\${target}`];
  }
  return [statsNamespace(target, own)];
}

/** The session of process `pid`, undefined when it cannot be told. */
export type SessionOf = (pid: number) => number | undefined;

/**
 * The namespace in which this process sees the `Local\` names of process
 * `pid` ({@linkcode statsNamespace}), the namespaces to look for its stats
 * block in ({@linkcode statsNamespaces}), and `pid`'s session when known.
 * `options.session` tells a process's session (tests replace it: under
 * Wine every program runs in one session).
 */
export function namespaceOf(
  pid: number,
  options: { session?: SessionOf } = {},
): {
  namespace: Namespace;
  readFrom: Namespace[];
  session: number | undefined;
} {
  const session = options.session ?? knownSessionId;
  const target = session(pid);
  const own = session(Deno.pid);
  return {
    namespace: statsNamespace(target, own),
    readFrom: statsNamespaces(target, own),
    session: target,
  };
}

/**
 * `options.create` of the name `Local\<options.name>` as this process sees
 * it for process `pid` ({@linkcode namespaceOf}; another user's session's
 * through `Session\<id>\`), or undefined when it cannot be made: a name
 * held as another kind of object, or one we may not open, or a session
 * whose names cannot be reached.
 */
export function targetNamed<T>(
  pid: number,
  options: { name: string; create: (name: string) => T },
): T | undefined {
  const { namespace } = namespaceOf(pid);
  try {
    return options.create(`${namespace}\\${options.name}`);
  } catch {
    return undefined;
  }
}

/**
 * When process `pid` was created, if it can be asked; "ended" for one that
 * has exited (a handle held somewhere keeps its pid and its stats block).
 * Opened again with SeDebugPrivilege enabled when refused, as openTarget
 * opens a target: a service or another user's program may refuse an
 * elevated heapshift even limited query access without it, and with no
 * creation time a dead process's block left under the plain name would be
 * taken for this one's. `options.open` opens it (tests replace it).
 */
export function creationTime(
  pid: number,
  options: { open?: (pid: number) => Handle } = {},
): bigint | "ended" | undefined {
  const open = options.open ?? openQuery;
  try {
    using process = withDebugPrivilegeRetry(() => open(pid));
    if (endedCode(process) !== undefined) return "ended";
    return processCreationTime(process);
  } catch {
    return undefined;
  }
}

/** The process for queries, and for waits where that is granted too (an
 * exit code of STILL_ACTIVE is told apart by the wait). */
function openQuery(pid: number): Handle {
  const query = PROCESS.QUERY_LIMITED_INFORMATION;
  try {
    return openProcess(pid, query | PROCESS.SYNCHRONIZE);
  } catch {
    return openProcess(pid, query);
  }
}

/**
 * Why process `pid`'s stats block could not be opened, for a heapshift
 * that runs `elevated` (it holds SeDebugPrivilege) or not. Elevated, the
 * block's own security refused Administrators, which elevating does not
 * change: heapshift.dll gives its block a DACL that admits them
 * (dll/STATS.md, "Who may open it"), an older one gave it its program's
 * default DACL, which for a service need not.
 */
export function statsDeniedMessage(pid: number, elevated: boolean): string {
  const head = `Cannot read heapshift's stats of process ${pid}: access denied`;
  if (!elevated) return `${head} (${ELEVATION_HINT})`;
  return `${head}, though heapshift runs elevated: the block's own security admits no Administrators (an older heapshift.dll gave it its program's default security, which in a service need not admit them; or another program holds the name). Run heapshift as that program's user or as SYSTEM, or inject this heapshift.dll once the program has restarted`;
}

function accessDenied(pid: number, cause: unknown): HeapshiftError {
  let elevated: boolean;
  {
    using privilege = debugPrivilege();
    elevated = privilege !== undefined;
  }
  return new HeapshiftError(
    "access-denied",
    statsDeniedMessage(pid, elevated),
    {
      cause,
    },
  );
}

/**
 * Reads the statistics heapshift.dll publishes in process `pid` (shared
 * memory `Local\heapshift-<pid>` in its session, read from another session
 * as `Global\` or `Session\<id>\`): its state, the hooked functions and
 * the allocation counters. A block left behind by a dead process with the same
 * pid is not taken for this one's. Throws a `no-heapshift` HeapshiftError
 * when the process runs without heapshift, `not-found` when there is no
 * such process, or it has ended (its counts went with it: one held by
 * {@linkcode attach} or started with {@linkcode launch} keeps them, for
 * `AttachedProcess.stats`).
 *
 * @example Print how many allocations mimalloc served
 * ```ts
 * import { stats } from "@heapshift/heapshift";
 * const s = stats(1234);
 * console.log(s.state, s.counters.allocs, s.counters.migrations);
 * ```
 */
export function stats(pid: number): HeapshiftStats {
  return guard(() => readStats(pid));
}

/**
 * {@linkcode stats}, telling a process's session with `options.session`
 * (internal: tests replace it, as under Wine every program runs in one
 * session).
 */
export function statsLooking(
  pid: number,
  options: { session: SessionOf },
): HeapshiftStats {
  return guard(() => readStats(pid, options));
}

function readStats(
  pid: number,
  options: { session?: SessionOf } = {},
): HeapshiftStats {
  checkPid(pid, "read heapshift's stats of");
  const asked = creationTime(pid);
  // A process that has ended can leave its block behind, held open by a
  // reader; without its creation time the owner cannot be checked.
  if (
    asked === "ended" ||
    (asked === undefined && !processes().some((p) => p.pid === pid))
  ) {
    throw new HeapshiftError(
      "not-found",
      `Cannot read heapshift's stats of process ${pid}: ${
        asked === "ended"
          ? "the process has ended, and its counts with it; to read them at its end, hold it with attach() before it ends (or launch it) and read that object's stats()"
          : "no such process"
      }`,
    );
  }
  const created = asked;
  const { readFrom, session: targetSession } = namespaceOf(pid, options);
  const times = created === undefined ? [undefined] : [undefined, created];
  const names = readFrom.flatMap((namespace) =>
    times.map((time) => statsName(pid, time, { namespace }))
  );
  let unreadable: unknown;
  let notFound: unknown;
  // The plain name may be anyone's (it is predictable): a section that
  // denies us, or another kind of object. heapshift.dll then publishes
  // beside it, so an error there only counts when that name has nothing.
  let denied: unknown;
  let failed: { name: string; error: unknown } | undefined;
  // A block that does not say whose it is (creation time 0: a block of an
  // older build, or anyone's), used only when no block says it is this
  // process's.
  let unowned: Uint8Array | undefined;
  // A Session\<id>\ name whose session's names cannot be reached (the
  // session has no link: it has ended, or never was).
  let unreachable: { name: string; error: unknown } | undefined;
  for (const name of names) {
    let block: Uint8Array;
    try {
      block = readSharedMemory(name, STATS_MAX_SIZE);
    } catch (e) {
      if (e instanceof Win32Error && e.code === ERROR.FILE_NOT_FOUND) {
        notFound ??= e;
        continue;
      }
      if (
        e instanceof Win32Error && e.code === ERROR.PATH_NOT_FOUND &&
        name.startsWith("Session\\")
      ) {
        unreachable ??= { name, error: e };
        continue;
      }
      if (e instanceof Win32Error && e.code === ERROR.ACCESS_DENIED) {
        denied ??= e;
      } else {
        failed ??= { name, error: e };
      }
      continue;
    }
    const owner = statsOwner(block);
    if (created !== undefined && owner !== created) {
      // A dead process's block, still held open by some reader.
      if (owner === 0n) unowned ??= block;
      continue;
    }
    try {
      return parseStats(pid, block);
    } catch (e) {
      unreadable ??= e; // perhaps an older block: the other name may do
    }
  }
  if (unowned) {
    try {
      return parseStats(pid, unowned);
    } catch (e) {
      unreadable ??= e;
    }
  }
  if (unreadable) throw unreadable;
  if (denied) throw accessDenied(pid, denied);
  if (failed) {
    const { name, error } = failed;
    throw new HeapshiftError(
      "failed",
      `Cannot read heapshift's stats of process ${pid}: ${name} cannot be read as a stats block (${
        error instanceof Error ? error.message : error
      }); another program may have taken that name`,
      { cause: error },
    );
  }
  if (!processes().some((p) => p.pid === pid)) {
    throw new HeapshiftError(
      "not-found",
      `Cannot read heapshift's stats of process ${pid}: no such process`,
      { cause: notFound },
    );
  }
  if (unreachable) {
    throw new HeapshiftError(
      "access-denied",
      `Cannot read heapshift's stats of process ${pid}: it runs in session ${targetSession}, whose names cannot be reached from this one (${unreachable.name}: the path is not found); run heapshift in that session`,
      { cause: unreachable.error },
    );
  }
  throw new HeapshiftError(
    "no-heapshift",
    `Process ${pid} has no heapshift loaded (no stats block ${
      readFrom.map((namespace) => statsName(pid, undefined, { namespace }))
        .join(" or ")
    }); inject or launch it with heapshift.dll first`,
    { cause: notFound },
  );
}

/**
 * Opens and holds the stats block of process `pid`, created at `created`
 * (for {@linkcode LaunchedProcess}'s stats, which outlast the program: the
 * block lives while a handle to it does). `undefined` when it has none of
 * its own, yet or at all.
 */
export function holdStats(pid: number, created: bigint): Handle | undefined {
  const names = namespaceOf(pid).readFrom.flatMap((namespace) =>
    [undefined, created].map((time) => statsName(pid, time, { namespace }))
  );
  for (const name of names) {
    let block: Handle;
    try {
      block = openSharedMemory(name);
    } catch {
      continue;
    }
    try {
      if (statsOwner(readSharedMemory(block, STATS_MAX_SIZE)) === created) {
        return block;
      }
    } catch { /* not a block we can read: the other name may do */ }
    block.close();
  }
  return undefined;
}

/** The stats of process `pid` from its block held by {@linkcode holdStats}. */
export function heldStats(pid: number, block: Handle): HeapshiftStats {
  return guard(() => parseStats(pid, readSharedMemory(block, STATS_MAX_SIZE)));
}
