/**
 * Special K plug-in registration: an `[Import.<name>]` section in a Special
 * K ini (`Architecture`, `Role`, `When`, `Filename`) makes Special K load a
 * DLL into every game it injects into (global defaults) or into one game
 * (its profile). Editing keeps everything else in the file byte for byte:
 * its encoding (Special K writes UTF-16LE with a BOM), its line endings,
 * its other sections and keys.
 *
 * @module
 */

import { join } from "node:path";
import { exists, isDir } from "../src/_paths.ts";
import { CliError } from "./output.ts";
import { expandVars, regValues, valueNamed } from "./registry.ts";

/** The plug-in entry heapshift writes. */
export interface PluginEntry {
  /** Section suffix: `[Import.<name>]`. */
  name: string;
  /** Absolute Windows path of the DLL. */
  filename: string;
  /** `x64` (default) or `Win32`. */
  architecture?: string;
  /** `ThirdParty` (default). */
  role?: string;
  /**
   * `Early` (default): loaded when the game starts its Direct3D or OpenGL
   * renderer, never in a Vulkan game; `Lazy`: from Special K's start-up
   * thread, in any game; `PlugIn`: once Special K has hooked Direct3D or OpenGL.
   */
  when?: string;
}

/** Result of an edit: the new text and whether anything changed. */
export interface IniEdit {
  text: string;
  changed: boolean;
}

/** A line and the line break that ends it ("" for a last line without one). */
interface Line {
  text: string;
  eol: string;
}

// A header, optionally followed by a comment: `[Import.heapshift] ; note`.
const SECTION = /^\s*\[([^\]]*)\]\s*(?:[;#].*)?$/;

function splitLines(text: string): Line[] {
  const lines: Line[] = [];
  const re = /\r?\n/g;
  let at = 0;
  for (let m; (m = re.exec(text));) {
    lines.push({ text: text.slice(at, m.index), eol: m[0] });
    at = m.index + m[0].length;
  }
  if (at < text.length) lines.push({ text: text.slice(at), eol: "" });
  return lines;
}

function joinLines(lines: Line[]): string {
  return lines.map((l) => l.text + l.eol).join("");
}

/** The line break new lines get: the last one in the file, else CRLF. */
function lineBreak(lines: Line[]): string {
  return lines.findLast((l) => l.eol)?.eol ?? "\r\n";
}

/** Every `[section]` (case-insensitive) as [header index, end index), last first. */
function sectionRanges(lines: Line[], section: string): [number, number][] {
  const want = section.toLowerCase();
  const out: [number, number][] = [];
  for (let i = 0; i < lines.length; i++) {
    const m = SECTION.exec(lines[i].text);
    if (!m || m[1].trim().toLowerCase() !== want) continue;
    let end = i + 1;
    while (end < lines.length && !startsSection(lines[end].text)) end++;
    out.unshift([i, end]);
  }
  return out;
}

/**
 * Whether a line ends the section before it: a header to heapshift, or any
 * line that starts with `[` (where Special K ends a section).
 */
function startsSection(line: string): boolean {
  return SECTION.test(line) || line.startsWith("[");
}

/**
 * Whether Special K reads a line as a key: it takes the text from the end
 * of one key's line up to the next `=` as the next key's name, so that a
 * line without one (blank, a comment) becomes part of the name that follows.
 */
function isKeyLine(line: string): boolean {
  return line.indexOf("=") > 0;
}

function isComment(line: string): boolean {
  return /^\s*[;#]/.test(line);
}

function keyOf(line: string): string | undefined {
  const i = line.indexOf("=");
  return i > 0 && !isComment(line) ? line.slice(0, i).trim() : undefined;
}

// Control characters (CR and LF above all) would start new lines, `[` and
// `]` new sections.
// deno-lint-ignore no-control-regex
const UNSAFE = /[\x00-\x1f\x7f]/;

/** Throws when a plug-in name or value cannot be written as one ini line. */
export function checkEntry(entry: PluginEntry): void {
  if (
    !entry.name.trim() || UNSAFE.test(entry.name) || /[[\]]/.test(entry.name)
  ) {
    throw new CliError(
      `invalid plug-in name ${
        JSON.stringify(entry.name)
      }: it must be non-empty, on one line, without [ or ]`,
      2,
    );
  }
  for (const [key, value] of entryKeys(entry)) {
    if (UNSAFE.test(value)) {
      throw new CliError(
        `invalid ${key} ${
          JSON.stringify(value)
        }: control characters (a line break) cannot be written in an ini`,
        2,
      );
    }
  }
}

/** The keys of `[Import.<name>]` in order, with heapshift's defaults. */
export function entryKeys(entry: PluginEntry): [string, string][] {
  return [
    ["Architecture", entry.architecture ?? "x64"],
    ["Role", entry.role ?? "ThirdParty"],
    ["When", entry.when ?? "Early"],
    ["Filename", entry.filename],
  ];
}

/**
 * Inserts `line` after index `after`, moving a missing final line break to
 * the new last line.
 */
function insertAfter(lines: Line[], after: number, text: string): void {
  const prev = lines[after];
  const eol = lineBreak(lines);
  const line = { text, eol: prev.eol ? eol : "" };
  if (!prev.eol) prev.eol = eol;
  lines.splice(after + 1, 0, line);
}

/**
 * Updates one `[Import.<name>]` section so that Special K reads the managed
 * keys from it as heapshift means them; returns whether it changed. Its
 * parser is stricter than heapshift's reading: the header must be exactly
 * `[Import.<name>]` (no spaces, no comment; the name's case matters), a
 * key and its value are not trimmed, and a line without `=` before a key
 * becomes part of that key's name, so such lines go above the header.
 */
function updateSection(
  lines: Line[],
  [start, end]: [number, number],
  entry: { name: string; keys: [string, string][] },
): boolean {
  let changed = false;
  const header = `[Import.${entry.name}]`;
  if (lines[start].text !== header) {
    lines[start].text = header;
    changed = true;
  }
  let lastKey = start;
  for (let i = start + 1; i < end; i++) {
    if (isKeyLine(lines[i].text)) lastKey = i;
  }
  const body = lines.slice(start + 1, lastKey + 1);
  const stray = body.filter((l) => !isKeyLine(l.text));
  if (stray.length) {
    const keyLines = body.filter((l) => isKeyLine(l.text));
    lines.splice(
      start,
      lastKey + 1 - start,
      ...stray,
      lines[start],
      ...keyLines,
    );
    start += stray.length;
    changed = true;
  }
  for (const [key, value] of entry.keys) {
    const want = `${key}=${value}`;
    let found = false;
    for (let i = start + 1; i < end; i++) {
      if (keyOf(lines[i].text)?.toLowerCase() !== key.toLowerCase()) continue;
      found = true;
      if (lines[i].text !== want) {
        lines[i].text = want;
        changed = true;
      }
    }
    if (!found) {
      // After the last key: a line without `=` after it would join the new
      // key's name.
      insertAfter(lines, lastKey, want);
      lastKey++;
      end++;
      changed = true;
    }
  }
  return changed;
}

/**
 * Adds or updates the `[Import.<name>]` section (every one, if the file
 * has it more than once; found case-insensitively, with spaces or a comment
 * around its header) until Special K reads the entry from it. Keys it does
 * not manage (e.g. `Blacklist`) are kept; a file that already holds the
 * entry as Special K reads it is returned unchanged. A new
 * section is appended after a blank line, so that {@linkcode removePlugin}
 * gives back the original text exactly: when the file does not end with
 * a line break, neither does the section.
 */
export function upsertPlugin(text: string, entry: PluginEntry): IniEdit {
  checkEntry(entry);
  const lines = splitLines(text);
  const keys = entryKeys(entry);
  const ranges = sectionRanges(lines, `Import.${entry.name}`);
  if (ranges.length) {
    let changed = false;
    // Last first: an insertion does not move the sections before it.
    for (const range of ranges) {
      changed = updateSection(lines, range, { name: entry.name, keys }) ||
        changed;
    }
    return changed ? { text: joinLines(lines), changed } : { text, changed };
  }
  const eol = lineBreak(lines);
  const last = lines.at(-1);
  const noFinalBreak = last !== undefined && last.eol === "";
  if (last) {
    last.eol ||= eol;
    lines.push({ text: "", eol });
  }
  const added = [`[Import.${entry.name}]`, ...keys.map(([k, v]) => `${k}=${v}`)]
    .map((t) => ({ text: t, eol }));
  if (noFinalBreak) added[added.length - 1].eol = "";
  return { text: joinLines([...lines, ...added]), changed: true };
}

/**
 * Removes every `[Import.<name>]` section. One at the end of the file
 * takes the blank line before it too and leaves the file ending as it
 * ended (with or without a line break): the exact inverse of
 * {@linkcode upsertPlugin} adding it.
 */
export function removePlugin(text: string, name: string): IniEdit {
  const lines = splitLines(text);
  const ranges = sectionRanges(lines, `Import.${name}`);
  if (!ranges.length) return { text, changed: false };
  for (const [start, end] of ranges) {
    const atEnd = end === lines.length;
    const noFinalBreak = atEnd && lines[end - 1].eol === "";
    lines.splice(start, end - start);
    if (!atEnd) continue;
    if (start > 0 && lines[start - 1].text === "") lines.splice(start - 1, 1);
    if (noFinalBreak && lines.length) lines[lines.length - 1].eol = "";
  }
  return { text: joinLines(lines), changed: true };
}

/**
 * Whether `text` may be a Special K ini: empty (blank) or with at least one
 * `[section]` line, as every ini Special K writes has.
 */
export function looksLikeIni(text: string): boolean {
  return !text.trim() || splitLines(text).some((l) => SECTION.test(l.text));
}

/** Reads the keys of `[Import.<name>]` (merged, if it appears more than once). */
export function readPlugin(
  text: string,
  name: string,
): Record<string, string> | undefined {
  const lines = splitLines(text);
  const ranges = sectionRanges(lines, `Import.${name}`);
  if (!ranges.length) return undefined;
  const out: Record<string, string> = {};
  for (const [start, end] of ranges.reverse()) {
    for (const l of lines.slice(start + 1, end)) {
      const key = keyOf(l.text);
      if (key) out[key] = l.text.slice(l.text.indexOf("=") + 1).trim();
    }
  }
  return out;
}

/** What the registry says about where Special K is (Windows). */
export interface SpecialKRegistry {
  /** `HKCU\Software\Kaldaien\Special K` `Path`, the install Special K uses. */
  path?: string;
  /** The installer's `InstallLocation` (HKCU, then HKLM, 64- then 32-bit). */
  installed?: string[];
  /**
   * The Documents folder (`User Shell Folders` `Personal`, unexpanded):
   * elsewhere than `%USERPROFILE%\Documents` when OneDrive backs it up.
   */
  documents?: string;
  /**
   * reg.exe read nothing, not even `User Shell Folders`, which every
   * Windows has: it is missing, or refused (a policy that disables the
   * registry tools stops it reading too), and the values above are unknown.
   */
  unreadable?: boolean;
}

/**
 * Where Special K may be installed on Windows: first SKIF's installs
 * (where its installer put it, `%LOCALAPPDATA%\Programs\Special K`,
 * `%ProgramFiles%\Special K`), whose global injection keeps profiles
 * beside SpecialK64.dll; then where Special K itself looks when it is not
 * loaded from there (SpecialKO/SpecialK src/core.cpp,
 * SK_EstablishRootPath): `%SPECIALK_PATH%`, the registry's `Path`, and
 * `My Mods\SpecialK` in the Documents folder Windows has for the user.
 */
export function specialKDirs(
  reg: SpecialKRegistry = {},
  env: (k: string) => string | undefined = (k) => Deno.env.get(k),
): string[] {
  const out: string[] = [];
  const add = (dir: string | undefined) => {
    const d = dir?.trim().replace(/[\\/]+$/, "");
    if (d && !out.some((o) => o.toLowerCase() === d.toLowerCase())) out.push(d);
  };
  for (const dir of reg.installed ?? []) add(expandVars(dir, env));
  const local = env("LOCALAPPDATA");
  const pf = env("ProgramFiles") ?? env("PROGRAMFILES");
  const profile = env("USERPROFILE");
  if (local) add(`${local}\\Programs\\Special K`);
  if (pf) add(`${pf}\\Special K`);
  add(env("SPECIALK_PATH"));
  add(reg.path && expandVars(reg.path, env));
  const documents = reg.documents
    ? expandVars(reg.documents, env)
    : profile && `${profile}\\Documents`;
  if (documents && !documents.includes("%")) {
    add(`${documents}\\My Mods\\SpecialK`);
  }
  return out;
}

/** Special K's installer (SKIF's, Inno Setup): its uninstall key's name. */
const UNINSTALL_KEY =
  "Microsoft\\Windows\\CurrentVersion\\Uninstall\\{F4A43527-9457-424A-90A6-17CF02ACF677}_is1";

/** Reads {@linkcode SpecialKRegistry} (Windows: `reg export`; `read`: tests' stand-in). */
export async function specialKRegistry(
  options: { read?: (key: string) => Promise<Record<string, string>> } = {},
): Promise<SpecialKRegistry> {
  const read = options.read ?? ((key: string) => regValues(key));
  // Every read settled before one's failure is passed on: an interrupted
  // one fails them all, and the CLI exits as it fails, cutting short the
  // others' removal of their folders.
  const settled = await Promise.allSettled([
    read("HKCU\\Software\\Kaldaien\\Special K"),
    read(
      "HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Explorer\\User Shell Folders",
    ),
    read(`HKCU\\Software\\${UNINSTALL_KEY}`),
    read(`HKLM\\Software\\${UNINSTALL_KEY}`),
    // a 32-bit installer's, as 64-bit reg.exe sees it
    read(`HKLM\\Software\\WOW6432Node\\${UNINSTALL_KEY}`),
  ]);
  const failed = settled.find((r) => r.status === "rejected");
  if (failed) throw failed.reason;
  const [sk, shell, ...uninstall] = settled.map((r) =>
    r.status === "fulfilled" ? r.value : {}
  );
  const installed = uninstall.map((v) => valueNamed(v, "InstallLocation"))
    .filter((d): d is string => !!d);
  return {
    path: valueNamed(sk, "Path"),
    installed,
    documents: valueNamed(shell, "Personal"),
    ...(Object.keys(shell).length === 0 ? { unreadable: true } : {}),
  };
}

/** Special K install dirs inside a Wine prefix (seen from Linux). */
export function specialKDirsInPrefix(prefix: string): string[] {
  const out: string[] = [];
  const users = `${prefix}/drive_c/users`;
  let names: string[] = [];
  try {
    names = [...Deno.readDirSync(users)].filter((e) => e.isDirectory).map((e) =>
      e.name
    );
  } catch { /* no users dir */ }
  for (const u of names) {
    out.push(`${users}/${u}/AppData/Local/Programs/Special K`);
  }
  out.push(`${prefix}/drive_c/Program Files/Special K`);
  for (const u of names) {
    out.push(`${users}/${u}/Documents/My Mods/SpecialK`);
  }
  return out;
}

/** What is in Special K's folder: its DLLs, or the folders it makes. */
export const SPECIALK_MARKS = [
  "SpecialK64.dll",
  "SpecialK32.dll",
  "Profiles",
  "Global",
] as const;

/**
 * Whether `dir` is Special K's folder: one with its DLLs or its folders in
 * it (a leftover empty folder, or another one, would be given a `Global`).
 */
export function isSpecialKDir(dir: string): boolean {
  return isDir(dir) && SPECIALK_MARKS.some((m) => exists(join(dir, m)));
}

/** The first Special K install among `candidates`. */
export function findSpecialK(candidates: string[]): string | undefined {
  return candidates.find((d) => isDir(d) && isDir(join(d, "Profiles"))) ??
    candidates.find(isSpecialKDir);
}

/** The global defaults file of an install: `Global/default_SpecialK.ini`. */
export function globalIni(skDir: string): string {
  return join(skDir, "Global", "default_SpecialK.ini");
}

/** The ini of the game profile `game` (a directory name under `Profiles/`). */
export function profileIniPath(skDir: string, game: string): string {
  return join(skDir, "Profiles", game, "SpecialK.ini");
}

/** The game profiles of an install (directory names under `Profiles/`). */
export function profiles(skDir: string): string[] {
  try {
    return [...Deno.readDirSync(join(skDir, "Profiles"))].filter((e) =>
      e.isDirectory
    ).map((e) => e.name).sort((a, b) => a.localeCompare(b));
  } catch {
    return [];
  }
}

/**
 * A game's profile ini: the profile of that name (case-insensitively), or
 * the only one whose name contains it. Several that contain it are
 * `ambiguous` (none is picked: "Dark Souls" is not "Dark Souls II").
 */
export function profileIni(
  skDir: string,
  game: string,
): { path?: string; ambiguous?: string[] } {
  const want = game.toLowerCase();
  const all = profiles(skDir);
  const exact = all.find((p) => p.toLowerCase() === want);
  const near = all.filter((p) => p.toLowerCase().includes(want));
  const name = exact ?? (near.length === 1 ? near[0] : undefined);
  if (name) return { path: profileIniPath(skDir, name) };
  return near.length > 1 ? { ambiguous: near } : {};
}
