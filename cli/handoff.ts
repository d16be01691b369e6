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
import { quoteArg } from "../mod.ts";
import { fileArch } from "./dll.ts";
import {
  isSignaled,
  openProcess,
  PROCESS,
  processCreationTime,
} from "../ffi/mod.ts";

/**
 * How long `launch` (without `--wait-exit`) and `inject` of an executable
 * watch the program once it runs: a launcher hands over within a second
 * or two of its start.
 */
export const HANDOFF_WATCH_MS = 2_000;

/** A program another one started. */
export interface StartedProgram {
  pid: number;
  name: string;
}

/**
 * The programs process `pid` started that still run: Toolhelp lists `pid`
 * as their parent and they were created after it (pids are reused: an
 * older process whose parent had the same pid is not one). Windows' own
 * (System32's: conhost.exe, which Windows starts for a console program
 * with a console of its own, WerFault.exe for one that crashed) are no
 * game and are left out; `options.pathOf` tells where a program's file is
 * (throwing when it cannot). None when `pid` cannot be opened (it must be
 * held, e.g. by a LaunchedProcess).
 */
export function runningChildren(
  pid: number,
  list: readonly ProcessInfo[],
  options: { pathOf: (pid: number) => string },
): StartedProgram[] {
  const born = creationTime(pid);
  if (born === undefined) return [];
  return list.filter((p) => {
    if (p.parentPid !== pid || p.pid === pid) return false;
    const created = creationTime(p.pid, { running: true });
    return created !== undefined && created >= born &&
      !windowsOwn(p.pid, options.pathOf);
  }).map((p) => ({ pid: p.pid, name: p.name }));
}

/** Whether process `pid` runs a program of System32 (or SysWOW64). */
function windowsOwn(pid: number, pathOf: (pid: number) => string): boolean {
  try {
    return isSystemDll(pathOf(pid), systemRoot());
  } catch {
    return false; // named by its name alone
  }
}

function creationTime(
  pid: number,
  options: { running?: boolean } = {},
): bigint | undefined {
  try {
    const access = PROCESS.QUERY_LIMITED_INFORMATION | PROCESS.SYNCHRONIZE;
    using process = openProcess(pid, access);
    if (options.running && isSignaled(process)) return undefined;
    return processCreationTime(process);
  } catch {
    return undefined;
  }
}

/** Whether `c` is Steam's client (SteamAPI_RestartAppIfNecessary's). */
function isSteam(c: StartedProgram): boolean {
  return c.name.toLowerCase() === "steam.exe";
}

/**
 * The warning for `program` (pid `pid`), which ended with `exitCode`
 * leaving `children` running, the `dlls` loaded into it only; undefined
 * when it left none.
 */
export function handoffWarning(
  program: string,
  options: {
    pid: number;
    exitCode: number;
    children: StartedProgram[];
    /** The DLLs' file names. */
    dlls: string[];
    /** The heapshift DLL the user named (--dll), for the command given. */
    dll?: string;
  },
): string | undefined {
  const { pid, exitCode, children, dlls } = options;
  if (children.length === 0) return undefined;
  const dllArg = options.dll ? ` --dll ${quoteArg(options.dll)}` : "";
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
  const named = children.map((c) => `${c.name} (pid ${c.pid})`).join(", ");
  const first = children[0].name;
  return `${program} (pid ${pid}) ended (exit ${exitCode}) leaving running ${
    children.length === 1 ? "a program" : "programs"
  } it started, without ${
    dlls.join(", ")
  }: ${named}. If ${program} is a launcher that hands over to ${first}, take ${first} over instead: run \`inject ${
    quoteArg(first)
  } --wait${dllArg}\`, then start ${program}`;
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
 * is to be warned of: that it crashed, or the programs it started that it
 * left running; `exe` is its path. Best effort: undefined when there is
 * nothing to say, or they cannot be listed.
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
  let children: StartedProgram[];
  try {
    children = runningChildren(launched.pid, api.processes(), {
      pathOf: api.processPath,
    });
  } catch {
    return undefined;
  }
  const warning = handoffWarning(baseName(options.exe), {
    pid: launched.pid,
    exitCode: options.exitCode,
    children,
    dlls: options.dlls.map(baseName),
    dll: fitting(options.explicitDll, { children, api }),
  });
  return warning === undefined ? undefined : { warning, started: children };
}

/**
 * The heapshift DLL the user named, for the command that takes the game
 * over: none when the game (the first program left running; with Steam,
 * the program itself, which loaded it) is of another bitness, as a 32-bit
 * launcher's 64-bit game often is: inject would refuse it, where the
 * default build for the game's bitness loads.
 */
function fitting(
  dll: string | undefined,
  options: {
    children: StartedProgram[];
    api: { processArch: (pid: number) => string };
  },
): string | undefined {
  const game = options.children[0];
  const steam = options.children.some(isSteam);
  if (dll === undefined || game === undefined || steam) return dll;
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
