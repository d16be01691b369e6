/**
 * Which running games would write a Special K ini back over an edit: as a
 * game exits, Special K saves the config it loaded at start over its file
 * when the file changed meanwhile (SpecialKO/SpecialK src/ini.cpp,
 * iSK_INI::write, called from SK_ShutdownCore), so an edit made while the
 * game runs is lost. It never writes a `default_*.ini` (the global
 * defaults), which may be edited at any time.
 *
 * @module
 */

import { isWindows, knownSessionId, openNamedEvent } from "../ffi/mod.ts";
import { baseName } from "../src/_paths.ts";

/** A running process in which Special K would write the ini being edited. */
export interface SpecialKGame {
  pid: number;
  /** Its executable's file name. */
  name: string;
  /** The Special K DLL it has loaded (unknown: its modules cannot be read). */
  dll?: string;
}

/**
 * A process and the files of the modules it has loaded: none known when
 * they cannot be read (a game running elevated, heapshift not), though
 * Special K is known to be active in it.
 */
export interface LoadedFiles {
  pid: number;
  name: string;
  paths?: string[];
}

/** The DLLs of Special K's global install, whose profiles are its `Profiles`. */
const GLOBAL_DLLS = ["specialk64.dll", "specialk32.dll"];

/**
 * Whether a process with Special K loaded is one of its injection tools,
 * never a game, which loads no profile: SKIF and its service hosts
 * (SKIFsvc32.exe, SKIFsvc64.exe), SKIM, and rundll32 (the older service).
 * Special K's own test (SK_HostAppUtil::isInjectionTool, SpecialKO/SpecialK
 * src/utility.cpp) is a name containing "SKIF" or "SKIM", or rundll32.
 */
function injectionTool(name: string): boolean {
  const n = name.toLowerCase();
  return n.includes("skif") || n.includes("skim") || n === "rundll32.exe";
}

/**
 * A path in one spelling: backslashes, lower case, no trailing one, no
 * `\\?\` (which a loader's or a resolved path may carry).
 */
function key(path: string): string {
  return path.replaceAll("/", "\\").replace(/^\\\\\?\\/, "")
    .replace(/\\+/g, "\\").replace(/\\$/, "").toLowerCase();
}

function dirOf(path: string): string {
  const i = path.lastIndexOf("\\");
  return i < 0 ? "" : path.slice(0, i);
}

/**
 * The DLL files whose Special K writes `ini`: for a profile
 * (`<install>\Profiles\<game>\SpecialK.ini`) the install's SpecialK64.dll
 * and SpecialK32.dll (which game's profile a process uses depends on
 * names Special K looks up, so any game of that install counts); for an
 * ini beside a local copy (`dxgi.ini` next to the game's `dxgi.dll`), that
 * DLL. None for the global defaults.
 */
export function writerDlls(ini: string): string[] {
  const path = key(ini);
  const base = baseName(path);
  if (base.startsWith("default_")) return [];
  const dir = dirOf(path);
  const out: string[] = [];
  const profiles = dirOf(dir);
  if (baseName(profiles) === "profiles") {
    out.push(...GLOBAL_DLLS.map((d) => `${dirOf(profiles)}\\${d}`));
  }
  if (base.endsWith(".ini")) out.push(`${dir}\\${base.slice(0, -4)}.dll`);
  return out;
}

/** The processes in `list` whose Special K writes `ini` (see {@linkcode writerDlls}). */
export function writersAmong(
  ini: string,
  list: LoadedFiles[],
): SpecialKGame[] {
  const dlls = new Set(writerDlls(ini));
  const out: SpecialKGame[] = [];
  if (!dlls.size) return out;
  for (const p of list) {
    if (injectionTool(p.name)) continue;
    // Special K active where it cannot be told from which install: counted
    if (!p.paths) out.push({ pid: p.pid, name: p.name });
    const dll = p.paths?.find((m) => dlls.has(key(m)));
    if (dll) out.push({ pid: p.pid, name: p.name, dll });
  }
  return out;
}

/**
 * The processes in which Special K may be active, with their files. On
 * Windows only those where it is: Special K creates the event
 * `Local\SK_InjectedPid_<pid>` (in the game's session) once it has taken a
 * game on (SK_Inject_AcquireProcess, SpecialKO/SpecialK
 * src/injection/injection.cpp),
 * never in the programs its global hook merely reaches (explorer, a
 * browser), where it stays loaded but idle. Special K before 25.12.2.1
 * (December 2025) creates no such event: for the ini of a local copy
 * (`dxgi.ini`), which only the game beside it loads, so do the programs
 * in `ini`'s folder. On Linux (games under Wine or Proton, where Special K
 * is a local copy only the game loads) every process, from /proc, where
 * Wine maps each DLL from its file. A process that cannot be read on
 * Linux (another user's, ended meanwhile) is left out.
 */
export async function loadedFiles(ini?: string): Promise<LoadedFiles[]> {
  if (!isWindows) return await procMaps();
  const api = await import("./api.ts");
  const local = ini && localCopyDir(ini);
  const inLocal = async (pid: number) => {
    try {
      const dir = key(dirOf(api.processPath(pid)));
      if (dir === local) return true;
      // Started through a link (a game library moved by a junction): the
      // folder keeps its name; resolved only then (a process started from
      // a network share that is gone would hold each look up).
      return baseName(dir) === baseName(local!) &&
        key(await Deno.realPath(dir)) === local;
    } catch {
      return false; // ended, or not ours to ask: not a game of the user's
    }
  };

  const out: LoadedFiles[] = [];
  for (const p of api.processes()) {
    if (p.pid === 0 || p.pid === Deno.pid) continue;
    if (!specialKActive(p.pid) && !(local && await inLocal(p.pid))) continue;
    let paths: string[] | undefined;
    try {
      paths = api.modules(p.pid).map((m) => m.path);
    } catch { /* elevated, another user's: counted all the same */ }
    out.push({ pid: p.pid, name: p.name, paths });
  }
  return out;
}

/**
 * The folder of `ini` when it may be a local copy's (`dxgi.ini` beside
 * the game and its `dxgi.dll`): not a profile, nor the defaults.
 */
function localCopyDir(ini: string): string | undefined {
  const path = key(ini);
  const dir = dirOf(path);
  if (baseName(path).startsWith("default_")) return undefined;
  return baseName(dirOf(dir)) === "profiles" ? undefined : dir;
}

/**
 * The name of Special K's event in game `pid` for a reader in session
 * `sessions.own`, the game being in `sessions.target`: `Local\` in our
 * own session (or where either cannot be told, as before), `Global\` in
 * session 0's, and `Session\<id>\` in another user's. Special K names it
 * in the game's session; `Local\` from another session named our own,
 * where it never is. `Session\` is the link each session's namespace
 * holds to every session's (`\Sessions\BNOLINKS\<id>`), which Microsoft
 * documents only as reserved for system use: Win32's `OpenEvent` follows
 * it as it follows `Global\`.
 */
export function specialKEventName(
  pid: number,
  sessions: { target?: number; own?: number },
): string {
  const { target, own } = sessions;
  const name = `SK_InjectedPid_${pid}`;
  if (target === undefined || own === undefined || target === own) {
    return `Local\\${name}`;
  }
  return target === 0 ? `Global\\${name}` : `Session\\${target}\\${name}`;
}

/**
 * Whether the names of session `session` can be looked up from here: an
 * absent name is said to be absent (not found). A session that has ended,
 * or whose directory refuses us, fails every name there alike, which would
 * read as Special K in every program of it.
 */
function sessionNamesSeen(session: number): boolean {
  const absent = `heapshift-absent-${Deno.pid}-${crypto.randomUUID()}`;
  try {
    const event = openNamedEvent(`Session\\${session}\\${absent}`);
    event?.close();
    return event === undefined;
  } catch {
    return false;
  }
}

/**
 * Whether Special K has taken the game `pid` on: its event exists (opened,
 * or there but not ours to open), looked for in the game's session
 * ({@linkcode specialKEventName}). A game in a session whose names cannot
 * be looked up is not counted, as none in another session was before, nor
 * one whose session cannot be told.
 * `options.session` tells a process's session (tests replace it).
 */
export function specialKActive(
  pid: number,
  options: { session?: (pid: number) => number | undefined } = {},
): boolean {
  const session = options.session ?? knownSessionId;
  const target = session(pid);
  const name = specialKEventName(pid, { target, own: session(Deno.pid) });
  if (
    target !== undefined && name.startsWith("Session\\") &&
    !sessionNamesSeen(target)
  ) {
    return false;
  }
  try {
    const event = openNamedEvent(name);
    event?.close();
    return event !== undefined;
  } catch {
    return true;
  }
}

/** Linux: each process's mapped DLL files, named by its program. */
async function procMaps(): Promise<LoadedFiles[]> {
  const out: LoadedFiles[] = [];
  let entries: Deno.DirEntry[] = [];
  try {
    entries = [...Deno.readDirSync("/proc")];
  } catch {
    return out;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e.name) || Number(e.name) === Deno.pid) continue;
    try {
      const maps = await Deno.readTextFile(`/proc/${e.name}/maps`);
      const paths = new Set<string>();
      for (const line of maps.split("\n")) {
        const at = line.indexOf("/");
        if (at > 0 && /\.dll$/i.test(line)) paths.add(line.slice(at));
      }
      if (!paths.size) continue;
      out.push({
        pid: Number(e.name),
        name: await procName(e.name),
        paths: [...paths],
      });
    } catch { /* not ours to read, or gone */ }
  }
  return out;
}

/**
 * A process's program name: Wine sets its argv[0] to the Windows path of
 * the program (`comm` keeps only 15 characters of it).
 */
async function procName(pid: string): Promise<string> {
  const argv0 =
    (await Deno.readTextFile(`/proc/${pid}/cmdline`)).split("\0")[0];
  const name = baseName(argv0);
  return name || (await Deno.readTextFile(`/proc/${pid}/comm`)).trim();
}

/**
 * The running games whose Special K would write `ini` back over an edit
 * (none for the global defaults).
 */
export async function specialKWriters(
  ini: string,
  options: { list?: (ini: string) => Promise<LoadedFiles[]> } = {},
): Promise<SpecialKGame[]> {
  if (!writerDlls(ini).length) return [];
  const real = await realIni(ini);
  const names = new Set(writerDlls(real).map(baseName));
  const list = await (options.list ?? loadedFiles)(real);
  // A loader names a DLL by the path the game was started from, links
  // (a game library moved by a junction, a subst drive) unresolved, as
  // the ini's is: the few candidates are resolved to compare.
  for (const p of list) {
    if (!p.paths) continue;
    p.paths = await Promise.all(
      p.paths.map((m) =>
        names.has(baseName(key(m))) ? Deno.realPath(m).catch(() => m) : m
      ),
    );
  }
  return writersAmong(real, list);
}

/**
 * `ini` as the file system names it: absolute, links resolved (the file a
 * link points to is the one edited), as a loader names a DLL beside it.
 */
async function realIni(ini: string): Promise<string> {
  try {
    return await Deno.realPath(ini);
  } catch { /* not there (yet): its folder then */ }
  const sep = Math.max(ini.lastIndexOf("/"), ini.lastIndexOf("\\"));
  try {
    const dir = await Deno.realPath(sep < 0 ? "." : ini.slice(0, sep) || "/");
    return `${dir}${isWindows ? "\\" : "/"}${ini.slice(sep + 1)}`;
  } catch {
    return ini;
  }
}
