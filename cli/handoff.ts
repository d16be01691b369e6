/**
 * What a launched program left running when it ended: a game's launcher
 * starts the real game (another executable) and exits, and the DLLs
 * launch loaded went into the launcher only. Said, with the command that
 * takes the game over instead.
 *
 * @module
 */

import type { LaunchedProcess, ProcessInfo } from "./api.ts";
import { baseName } from "../src/_paths.ts";
import { isSystemDll, systemRoot } from "../src/_system_dll.ts";
import { crashStatus } from "../src/_exit_status.ts";
import { createdAt } from "../src/_created_at.ts";
import { quoteArg } from "../mod.ts";
import { fileArch } from "./dll.ts";
import {
  type Handle,
  isSignaled,
  openProcess,
  PROCESS,
  processCreationTime,
  processSessionId,
} from "../ffi/mod.ts";

// How long `launch` (without `--wait-exit`) and `inject` of an executable
// watch the program once it runs, as `inject --wait` watches each instance.
export { HANDOFF_WATCH_MS } from "../src/_lasting_instance.ts";
import { HANDOFF_WATCH_MS } from "../src/_lasting_instance.ts";

/** A program another one started. */
export interface StartedProgram {
  pid: number;
  name: string;
}

/**
 * How far down the programs a launched one started are followed: its
 * children, theirs (`cmd /c start game.exe`, a launcher's launcher), …
 */
export const DESCENT_DEPTH = 4;

/** A program in a launched one's descent, as {@linkcode descendants} finds it. */
export interface Descendant extends StartedProgram {
  parentPid: number;
  /** Its creation time (FILETIME). */
  created: bigint;
  /** 1 for a child of the launched program, 2 for a child's child, … */
  depth: number;
}

/**
 * The programs in `list` that process `root` started, and those they
 * started, down to {@linkcode DESCENT_DEPTH}, in the order found. A
 * program is its parent's when Toolhelp names the parent's pid and it
 * was created after the parent (pids are reused: an older process whose
 * parent had the same pid is not one); `createdOf` gives a process's
 * creation time (undefined when it cannot be opened: left out).
 * `adopted` are taken as the root's grandchildren (depth 2): each started
 * by a program of its own never seen ({@linkcode DescentWatch}).
 */
export function descendants(
  root: { pid: number; created: bigint },
  list: readonly Pick<ProcessInfo, "pid" | "parentPid" | "name">[],
  options: {
    createdOf: (pid: number) => bigint | undefined;
    adopted?: readonly Omit<Descendant, "depth">[];
  },
): Descendant[] {
  const found: Descendant[] = [];
  const seen = new Set([root.pid]);
  let parents = [{ ...root, depth: 0 }];
  for (let depth = 1; depth <= DESCENT_DEPTH; depth++) {
    const next: typeof parents = [];
    for (const parent of parents) {
      for (const p of list) {
        if (p.parentPid !== parent.pid || seen.has(p.pid)) continue;
        const created = options.createdOf(p.pid);
        if (created === undefined || created < parent.created) continue;
        seen.add(p.pid);
        const d = { pid: p.pid, name: p.name, parentPid: p.parentPid };
        found.push({ ...d, created, depth });
        next.push({ pid: p.pid, created, depth });
      }
    }
    for (const a of depth === 2 ? options.adopted ?? [] : []) {
      if (seen.has(a.pid) || a.created < root.created) continue;
      seen.add(a.pid);
      found.push({ ...a, depth });
      next.push({ pid: a.pid, created: a.created, depth });
    }
    if (next.length === 0 && depth >= 2) break;
    parents = next;
  }
  return found;
}

/** Now as a FILETIME (100 ns since 1601), as creation times are. */
function fileTimeNow(): bigint {
  return (BigInt(Date.now()) + 11_644_473_600_000n) * 10_000n;
}

/** {@linkcode HANDOFF_WATCH_MS} in FILETIME units. */
const WATCH_FT = BigInt(HANDOFF_WATCH_MS) * 10_000n;

/** How often a launched program's descent is looked at while watched. */
const SAMPLE_MS = 25;

/**
 * How long programs a launched one left running are watched after its
 * end, for those they start ({@linkcode DescentWatch.settle}).
 */
const SETTLE_MS = 1_000;

/** At most this many programs of a launched one's descent are held. */
const MAX_HELD = 64;

/**
 * The descent of launched process `pid` (held by its LaunchedProcess, so
 * that its pid is not reused), watched while it runs: each program found
 * is held, so that one in between that ends (`cmd /c start game.exe`, a
 * launcher's launcher) still links what it started to `pid`, its pid not
 * given to another process meanwhile. Sampled as often as a short-lived
 * one is to be seen ({@linkcode DescentWatch.sample}); what still runs
 * read once `pid` ended ({@linkcode DescentWatch.running}).
 *
 * One in between may live less than a look's interval (`cmd /c start
 * game.exe` lives milliseconds on Windows; looks are half a second apart
 * after the first 2 s): never seen, it links nothing. A program whose
 * parent was not in the look before its creation and is gone (or its pid
 * another's, created later) is then taken as the descent's when created
 * within 2 s of the watch's start or of `pid`'s end, as a hand-over is,
 * in `pid`'s session (an updater service's are not).
 */
export class DescentWatch implements Disposable {
  readonly #root: { pid: number; created: bigint } | undefined;
  readonly #held = new Map<number, { handle: Handle; info: ProcessInfo }>();
  readonly #list: () => ProcessInfo[];
  /** Programs whose parent lived unseen between two looks. */
  readonly #orphans = new Map<number, Omit<Descendant, "depth">>();
  /** The pids of the last look, and when it began (FILETIME). */
  #last: { pids: Set<number>; at: bigint };
  /** Programs seen while being created, with the look before them. */
  readonly #pending = new Map<number, { pids: Set<number>; at: bigint }>();
  readonly #startedAt = fileTimeNow();
  /** When `pid` was seen ended ({@linkcode DescentWatch.settle}). */
  #endedAt: bigint | undefined;
  /** `pid`'s session: a service's programs (session 0) are not its. */
  readonly #session: number | undefined;

  constructor(pid: number, options: { list: () => ProcessInfo[] }) {
    this.#list = options.list;
    const created = creationTime(pid);
    this.#root = created === undefined ? undefined : { pid, created };
    this.#last = { pids: new Set(), at: created ?? this.#startedAt };
    this.#session = sessionOf(pid);
  }

  /**
   * Looks at the processes now (throwing when they cannot be listed);
   * those of the descent are held.
   */
  sample(): Descendant[] {
    if (!this.#root) return [];
    const at = fileTimeNow();
    const list = this.#list();
    // Those held that ended are no longer listed: their pids, held, name
    // no other process, and link what they started.
    const listed = new Map(list.map((p) => [p.pid, p]));
    for (const [pid, h] of this.#held) {
      const now = listed.get(pid);
      if (!now) list.push(h.info);
      else if (now.name) h.info = now; // (named once it has started)
    }
    // Read anew each time: Wine gives a process that is still being
    // created a creation time of 0x5555555555555555 (and no name).
    const found = descendants(this.#root, list, {
      createdOf: (pid) => {
        const held = this.#held.get(pid);
        if (!held) return creationTime(pid);
        try {
          return processCreationTime(held.handle);
        } catch {
          return undefined;
        }
      },
      adopted: [...this.#orphans.values()].filter((o) => this.#adoptable(o)),
    });
    this.#findOrphans(list, { listed, found, at });
    for (const d of found) {
      if (this.#held.has(d.pid) || this.#held.size >= MAX_HELD) continue;
      const info = listed.get(d.pid);
      if (!info) continue; // (adopted, and ended)
      // (gone, or its pid given to another meanwhile: not held)
      const handle = openSame(d.pid, d.created);
      if (handle) this.#held.set(d.pid, { handle, info });
    }
    return found;
  }

  /**
   * Notes the programs new in `list` whose parent lived unseen: not in
   * the last look, and gone (or its pid another's, created later).
   */
  #findOrphans(
    list: readonly ProcessInfo[],
    options: {
      listed: Map<number, ProcessInfo>;
      found: readonly Descendant[];
      at: bigint;
    },
  ): void {
    const root = this.#root!;
    const last = this.#last;
    this.#last = { pids: new Set(list.map((p) => p.pid)), at: options.at };
    const ours = new Set(options.found.map((d) => d.pid));
    for (const [pid] of this.#pending) {
      if (!this.#last.pids.has(pid)) this.#pending.delete(pid);
    }
    for (const p of list) {
      const parent = p.parentPid;
      // One first seen while it was created is looked at again, against
      // the look before it.
      const pending = this.#pending.get(p.pid);
      const before = pending ?? last;
      if (!pending && last.pids.has(p.pid)) continue;
      this.#pending.delete(p.pid);
      if (
        p.pid === root.pid || ours.has(p.pid) || this.#orphans.has(p.pid) ||
        parent === root.pid || before.pids.has(parent) ||
        this.#held.has(parent)
      ) continue;
      const created = creationTime(p.pid);
      if (created === undefined || created <= before.at) continue;
      // 0x5555… under Wine while it is created: not known yet.
      if (created > options.at) {
        this.#pending.set(p.pid, before);
        continue;
      }
      const session = sessionOf(p.pid);
      if (session !== undefined && session !== this.#session) continue;
      if (options.listed.has(parent)) {
        const parentCreated = creationTime(parent);
        if (parentCreated === undefined || parentCreated <= created) continue;
      }
      this.#orphans.set(p.pid, {
        pid: p.pid,
        name: p.name,
        parentPid: parent,
        created,
      });
    }
    // Those that can no longer be adopted are forgotten.
    for (const [pid, o] of this.#orphans) {
      const startWindow = o.created <= this.#startedAt + WATCH_FT;
      if (
        !startWindow && this.#endedAt === undefined &&
        o.created < options.at - WATCH_FT
      ) {
        this.#orphans.delete(pid);
      }
    }
  }

  /** Whether `o` was created within 2 s of the watch's start or of the end. */
  #adoptable(o: { created: bigint }): boolean {
    return o.created <= this.#startedAt + WATCH_FT ||
      (this.#endedAt !== undefined && o.created >= this.#endedAt - WATCH_FT);
  }

  /**
   * The programs of the descent that still run (Windows' own left out),
   * once the launched program ended; `pathOf` tells where a program's
   * file is (throwing when it cannot).
   */
  running(options: { pathOf: (pid: number) => string }): Descendant[] {
    return this.alive().filter((d) => !windowsOwn(d.pid, options.pathOf));
  }

  /** The programs of the descent that run now, Windows' own too. */
  alive(): Descendant[] {
    return this.sample().filter((d) => {
      const h = this.#held.get(d.pid);
      try {
        if (h) return !isSignaled(h.handle);
        // Found past the MAX_HELD held (listed, so running a moment ago):
        // opened now, if still the same process.
        using process = openSame(d.pid, d.created);
        return process !== undefined && !isSignaled(process);
      } catch {
        return false;
      }
    });
  }

  /**
   * Once the launched program ended: watches on while programs it started
   * run, for {@linkcode SETTLE_MS} and while one is Windows' own (cmd.exe
   * of `cmd /c start`), {@linkcode HANDOFF_WATCH_MS} at most. A launcher
   * that exits right after it starts `cmd /c start game.exe`, or a second
   * launcher, has the game started a moment after its end.
   */
  async settle(options: { pathOf: (pid: number) => string }): Promise<void> {
    this.#endedAt ??= fileTimeNow();
    const from = performance.now();
    for (;;) {
      const alive = this.alive();
      const waited = performance.now() - from;
      if (alive.length === 0 || waited >= HANDOFF_WATCH_MS) return;
      const between = alive.some((d) => windowsOwn(d.pid, options.pathOf));
      if (waited >= SETTLE_MS && !between) return;
      await new Promise((r) => setTimeout(r, SAMPLE_MS));
    }
  }

  [Symbol.dispose](): void {
    for (const { handle } of this.#held.values()) handle.close();
    this.#held.clear();
  }
}

/** Whether process `pid` runs a program of System32 (or SysWOW64). */
function windowsOwn(pid: number, pathOf: (pid: number) => string): boolean {
  try {
    return isSystemDll(pathOf(pid), systemRoot());
  } catch {
    return false; // named by its name alone
  }
}

function sessionOf(pid: number): number | undefined {
  try {
    return processSessionId(pid);
  } catch {
    return undefined;
  }
}

/** The rights the watch opens a process with: its creation time, its end. */
const WATCH_ACCESS = PROCESS.QUERY_LIMITED_INFORMATION | PROCESS.SYNCHRONIZE;

/** When process `pid` was created, opened as the watch opens it. */
function creationTime(pid: number): bigint | undefined {
  return createdAt(pid, { access: WATCH_ACCESS });
}

/**
 * Process `pid` opened if it is still the one created at `created` (its
 * pid not given to another since); undefined when it is not, or is gone.
 */
function openSame(pid: number, created: bigint): Handle | undefined {
  let handle: Handle;
  try {
    handle = openProcess(pid, WATCH_ACCESS);
  } catch {
    return undefined;
  }
  try {
    if (processCreationTime(handle) === created) return handle;
  } catch { /* (not readable: not known to be the same) */ }
  handle.close();
  return undefined;
}

/**
 * Programs that a game or launcher starts beside the game, never the game:
 * crash reporters (Unity's, Unreal's, Crashpad's, CrashRpt's, BugSplat's),
 * anti-cheat services, embedded browsers' helper processes.
 */
const HELPER =
  /^(unitycrashhandler(32|64)|crashreportclient|crashpad_handler|crashsender\d*|bssndrpt(64)?|bugsplathd(64)?|easyanticheat(_eos)?|beservice(_x64)?|unrealcefsubprocess|cefsharp\.browsersubprocess|qtwebengineprocess|steamwebhelper)\.exe$/i;

/** Whether `name` is a known helper program ({@linkcode HELPER}). */
export function isHelper(name: string): boolean {
  return HELPER.test(name);
}

/**
 * The game among the programs a launcher left running: of those that are
 * no known helper (a crash reporter, …), or of all if none is, the one
 * furthest down (a launcher's launcher hands over to the game), then the
 * first found.
 */
export function gameOf<T extends StartedProgram & { depth?: number }>(
  started: readonly T[],
): T | undefined {
  const games = started.filter((p) => !isHelper(p.name));
  const pool = games.length ? games : started;
  let best: T | undefined;
  for (const p of pool) {
    if (!best || (p.depth ?? 1) > (best.depth ?? 1)) best = p;
  }
  return best;
}

/** Whether `c` is Steam's client (SteamAPI_RestartAppIfNecessary's). */
function isSteam(c: StartedProgram): boolean {
  return c.name.toLowerCase() === "steam.exe";
}

/**
 * The warning for `program` (pid `pid`), which ended with `exitCode`
 * leaving `children` running (in the order found), the `dlls` loaded into
 * it only; undefined when it left none, unless it ended within the watch
 * (`endedWithinWatch`): then that nothing of its own runs on.
 */
export function handoffWarning(
  program: string,
  options: {
    pid: number;
    exitCode: number;
    children: Array<StartedProgram & { depth?: number }>;
    /** The DLLs' file names. */
    dlls: string[];
    /** The heapshift DLL the user named (--dll), for the command given. */
    dll?: string;
    /** It ended within {@linkcode HANDOFF_WATCH_MS} of its watch. */
    endedWithinWatch?: boolean;
    /** A console program, started without our standard streams. */
    unseenConsole?: boolean;
  },
): string | undefined {
  const { pid, exitCode, children, dlls } = options;
  const dllArg = options.dll ? ` --dll ${quoteArg(options.dll)}` : "";
  // A crash reporter a game started beside it (Unity's does, at its
  // start) may outlive it a moment: no game, nothing handed over.
  if (children.every((c) => isHelper(c.name))) {
    if (!options.endedWithinWatch) return undefined;
    const but = children.length
      ? ` but ${named(children)}, which ${
        children.length === 1 ? "is a helper" : "are helpers"
      } (a crash reporter, …)`
      : "";
    // A game that Steam must start has a Steam that runs already start it
    // again: Steam's child, not this one's. So does a launcher that hands
    // over to a launcher running already. Nothing here tells that from a
    // program that just ran: said as what it may be.
    return `${program} (pid ${pid}) ended (exit ${exitCode}) right after its start, leaving nothing it started running${but}: ${
      dlls.join(", ")
    } ended with it. If ${program} hands over to a launcher that runs already (a game that Steam must start, with Steam running, does), that launcher starts the game without ${
      dlls.join(", ")
    }: run \`inject ${
      quoteArg(program)
    } --wait${dllArg}\` (with the game's name, if it is another program), then start ${program} again (a Steam game from Steam)${
      options.unseenConsole
        ? `. If ${program} is a console tool that just ran to its end, its output was not shown: \`launch\` with --wait-exit shows it, and its exit code`
        : ""
    }`;
  }
  // SteamAPI_RestartAppIfNecessary: a game that Steam must start, started
  // otherwise, has Steam start it again (steam.exe, its child when Steam
  // was not running) and exits. The game is this very program.
  // (A name in a command is quoted as a prompt needs it: game names often
  // hold spaces.)
  const steam = children.find(isSteam);
  if (steam) {
    return `${program} (pid ${pid}) ended (exit ${exitCode}) having had Steam start it (steam.exe, pid ${steam.pid}): a game that Steam must start, started otherwise, has Steam start it again and exits. To take it over, start ${program} from Steam while \`inject ${
      quoteArg(program)
    } --wait${dllArg}\` waits for it`;
  }
  const game = gameOf(children)!.name;
  return `${program} (pid ${pid}) ended (exit ${exitCode}) leaving running ${
    children.length === 1 ? "a program" : "programs"
  } it started, without ${dlls.join(", ")}: ${
    named(children)
  }. If ${program} is a launcher that hands over to ${game}, take ${game} over instead: run \`inject ${
    quoteArg(game)
  } --wait${dllArg}\`, then start ${program}`;
}

/** `programs` as a warning names them. */
function named(programs: readonly StartedProgram[]): string {
  return programs.map((c) => `${c.name} (pid ${c.pid})`).join(", ");
}

/**
 * Watches `launched`: the programs it starts (and theirs) are seen while
 * they run, each {@linkcode SAMPLE_MS} within {@linkcode HANDOFF_WATCH_MS}
 * of {@linkcode LaunchWatch.start}, then each half second (a launcher's
 * launcher, or `cmd /c start`, may end in a moment).
 */
export class LaunchWatch implements Disposable {
  readonly descent: DescentWatch;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #from = 0;

  constructor(
    launched: LaunchedProcess,
    options: { list: () => ProcessInfo[] },
  ) {
    this.descent = new DescentWatch(launched.pid, options);
  }

  /** Begins the watch (once the program runs, DLLs confirmed). */
  start(): void {
    this.#from = performance.now();
    const tick = () => {
      try {
        this.descent.sample();
      } catch { /* (a snapshot refused: the next one may be had) */ }
      const late = performance.now() - this.#from > HANDOFF_WATCH_MS;
      this.#timer = setTimeout(tick, late ? 500 : SAMPLE_MS);
    };
    tick();
  }

  /** Whether the watch began less than {@linkcode HANDOFF_WATCH_MS} ago. */
  within(): boolean {
    return performance.now() - this.#from <= HANDOFF_WATCH_MS;
  }

  /** Ends the sampling (the descent stays held until disposed). */
  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  [Symbol.dispose](): void {
    this.stop();
    this.descent[Symbol.dispose]();
  }
}

/**
 * The exit code of `launched` if it ends within {@linkcode HANDOFF_WATCH_MS}
 * (a launcher handing over), else undefined: it runs on.
 */
export async function endedSoon(
  launched: LaunchedProcess,
): Promise<number | undefined> {
  try {
    return await launched.wait({ timeout: HANDOFF_WATCH_MS });
  } catch (e) {
    if ((e as { kind?: string }).kind === "timeout") return undefined;
    throw e;
  }
}

/** What a launched program that ended left behind, as said. */
export interface Handoff {
  /** The warning: that it crashed, or what it left running. */
  warning: string;
  /** The programs it started that still run (none for a crash). */
  started: StartedProgram[];
}

/**
 * What `launched`, which ended with `exitCode` having had `dlls` loaded,
 * is to be warned of: that it crashed, the programs it started that it
 * left running (and theirs: `options.watch` saw those in between), or
 * that it left none within the watch; `exe` is its path. Best effort:
 * undefined when there is nothing to say, or they cannot be listed.
 */
export async function launcherHandoff(
  launched: LaunchedProcess,
  options: {
    exe: string;
    exitCode: number;
    dlls: readonly string[];
    /** The heapshift DLL the user named (--dll), for the command said. */
    explicitDll?: string;
    /** It ended within {@linkcode endedSoon}'s watch: a crash is said. */
    soon?: boolean;
    /**
     * It ended within {@linkcode HANDOFF_WATCH_MS}: that it left nothing
     * running is said (a launcher handing over to one that ran already).
     */
    endedWithinWatch?: boolean;
    /**
     * A console program started without our standard streams: its output
     * was not seen, which a warning that it ended at once says.
     */
    unseenConsole?: boolean;
    /** The watch of its descent, if kept while it ran. */
    watch?: DescentWatch;
  },
): Promise<Handoff | undefined> {
  const crash = options.soon && crashStatus(options.exitCode);
  if (crash) {
    // No handoff: a crash. Said, as the command may be done before the
    // player sees the program go.
    return {
      warning: `${
        baseName(options.exe)
      } (pid ${launched.pid}) crashed (${crash}) right after its start: its own output (launch --wait-exit gives it ours) or the system's event log may say why`,
      started: [],
    };
  }
  const api = await import("./api.ts");
  let children: Descendant[];
  try {
    using own = options.watch
      ? undefined
      : new DescentWatch(launched.pid, { list: api.processes });
    const watch = options.watch ?? own!;
    await watch.settle({ pathOf: api.processPath });
    children = watch.running({ pathOf: api.processPath });
  } catch {
    return undefined;
  }
  const started = children.map((p) => ({ pid: p.pid, name: p.name }));
  const warning = handoffWarning(baseName(options.exe), {
    pid: launched.pid,
    exitCode: options.exitCode,
    children,
    dlls: options.dlls.map(baseName),
    dll: fitting(options.explicitDll, { children, api }),
    endedWithinWatch: options.endedWithinWatch,
    unseenConsole: options.unseenConsole,
  });
  return warning === undefined ? undefined : { warning, started };
}

/**
 * The heapshift DLL the user named, for the command that takes the game
 * over: none when the game (the one {@linkcode gameOf} picks; with Steam
 * or only helpers, the program itself, which loaded it) is of another
 * bitness, as a 32-bit launcher's 64-bit game often is: inject would
 * refuse it, where the default build for the game's bitness loads.
 */
function fitting(
  dll: string | undefined,
  options: {
    children: Descendant[];
    api: { processArch: (pid: number) => string };
  },
): string | undefined {
  const game = gameOf(options.children);
  const steam = options.children.some(isSteam);
  // (only helpers: the command names the program itself, which loaded it)
  if (dll === undefined || !game || steam || isHelper(game.name)) return dll;
  let arch;
  try {
    arch = options.api.processArch(game.pid);
  } catch {
    return dll; // (not known: the user's stays)
  }
  const own = fileArch(dll);
  return own === undefined || own === arch ? dll : undefined;
}

/** The JSON field of the programs a launcher left running: none if none. */
export function startedField(
  started: StartedProgram[] | undefined,
): { startedPrograms?: StartedProgram[] } {
  return started?.length ? { startedPrograms: started } : {};
}
