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

/** Text encodings a Special K ini is found in. */
export type IniEncoding = "utf16le" | "utf8bom" | "utf8";

/** A decoded ini file. */
export interface IniText {
  text: string;
  encoding: IniEncoding;
}

/** Decodes an ini's bytes, detecting its encoding from the BOM. */
export function decodeIni(bytes: Uint8Array): IniText {
  if (bytes[0] === 0xff && bytes[1] === 0xfe) {
    return {
      text: new TextDecoder("utf-16le").decode(bytes.subarray(2)),
      encoding: "utf16le",
    };
  }
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) {
    return {
      text: new TextDecoder().decode(bytes.subarray(3)),
      encoding: "utf8bom",
    };
  }
  return { text: new TextDecoder().decode(bytes), encoding: "utf8" };
}

/** Encodes ini text back in the given encoding (with its BOM). */
export function encodeIni(ini: IniText): Uint8Array {
  if (ini.encoding === "utf16le") {
    const out = new Uint8Array(2 + ini.text.length * 2);
    out[0] = 0xff;
    out[1] = 0xfe;
    for (let i = 0; i < ini.text.length; i++) {
      const u = ini.text.charCodeAt(i);
      out[2 + 2 * i] = u & 0xff;
      out[3 + 2 * i] = u >> 8;
    }
    return out;
  }
  const body = new TextEncoder().encode(ini.text);
  if (ini.encoding === "utf8") return body;
  const out = new Uint8Array(body.length + 3);
  out.set([0xef, 0xbb, 0xbf]);
  out.set(body, 3);
  return out;
}

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
  /** `Early` (default): loaded before the game's own code runs. */
  when?: string;
}

/** Result of an edit: the new text and whether anything changed. */
export interface IniEdit {
  text: string;
  changed: boolean;
}

const SECTION = /^\s*\[([^\]]*)\]\s*$/;

function sectionRange(
  lines: string[],
  section: string,
): [number, number] | undefined {
  const want = section.toLowerCase();
  for (let i = 0; i < lines.length; i++) {
    const m = SECTION.exec(lines[i]);
    if (m && m[1].trim().toLowerCase() === want) {
      let end = i + 1;
      while (end < lines.length && !SECTION.test(lines[end])) end++;
      return [i, end];
    }
  }
  return undefined;
}

function splitLines(text: string): { lines: string[]; eol: string } {
  const eol = text.includes("\r\n") ? "\r\n" : "\n";
  const lines = text.split(/\r?\n/);
  return { lines, eol };
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
 * Adds or updates the `[Import.<name>]` section. Keys it does not manage
 * (e.g. `Blacklist`) are kept; a file that already holds the entry is
 * returned unchanged.
 */
export function upsertPlugin(text: string, entry: PluginEntry): IniEdit {
  const { lines, eol } = splitLines(text);
  const section = `Import.${entry.name}`;
  const range = sectionRange(lines, section);
  const keys = entryKeys(entry);
  if (!range) {
    const out = [...lines];
    // Drop trailing empty lines, then one blank line before the new section.
    while (out.length && out[out.length - 1].trim() === "") out.pop();
    if (out.length) out.push("");
    out.push(`[${section}]`, ...keys.map(([k, v]) => `${k}=${v}`), "");
    return { text: out.join(eol), changed: true };
  }
  const [start, end] = range;
  const body = lines.slice(start + 1, end);
  let changed = false;
  for (const [key, value] of keys) {
    const i = body.findIndex((l) =>
      l.split("=")[0].trim().toLowerCase() === key.toLowerCase() &&
      l.includes("=")
    );
    if (i >= 0) {
      const current = body[i].slice(body[i].indexOf("=") + 1).trim();
      if (current !== value) {
        body[i] = `${key}=${value}`;
        changed = true;
      }
    } else {
      // Insert after the section's last non-empty line.
      let at = body.length;
      while (at > 0 && body[at - 1].trim() === "") at--;
      body.splice(at, 0, `${key}=${value}`);
      changed = true;
    }
  }
  if (!changed) return { text, changed: false };
  const out = [...lines.slice(0, start + 1), ...body, ...lines.slice(end)];
  return { text: out.join(eol), changed: true };
}

/** Removes the `[Import.<name>]` section (and the blank line before it). */
export function removePlugin(text: string, name: string): IniEdit {
  const { lines, eol } = splitLines(text);
  const range = sectionRange(lines, `Import.${name}`);
  if (!range) return { text, changed: false };
  const [start, end] = range;
  const head = lines.slice(0, start);
  const tail = lines.slice(end);
  if (tail.length === 0) {
    // It was the last section: drop the blank lines before it, end with EOL.
    while (head.length && head[head.length - 1].trim() === "") head.pop();
    if (head.length) head.push("");
  }
  return { text: [...head, ...tail].join(eol), changed: true };
}

/** Reads the keys of `[Import.<name>]`, if the section exists. */
export function readPlugin(
  text: string,
  name: string,
): Record<string, string> | undefined {
  const { lines } = splitLines(text);
  const range = sectionRange(lines, `Import.${name}`);
  if (!range) return undefined;
  const out: Record<string, string> = {};
  for (const l of lines.slice(range[0] + 1, range[1])) {
    const i = l.indexOf("=");
    if (i > 0 && !l.trimStart().startsWith(";")) {
      out[l.slice(0, i).trim()] = l.slice(i + 1).trim();
    }
  }
  return out;
}

/** What {@linkcode applyToFile} did. */
export interface FileEdit {
  path: string;
  action: "added" | "updated" | "unchanged" | "removed" | "absent";
  /** The backup of the previous contents, when the file was changed. */
  backup?: string;
  encoding: IniEncoding;
  /** Whether the file was created. */
  created: boolean;
}

/**
 * Applies an edit to an ini file: reads it (or starts empty, UTF-16LE, when
 * `create` is set and it is missing), writes a backup of the old contents
 * next to it (`<file>.heapshift-backup`), then the new contents atomically.
 */
export async function applyToFile(
  path: string,
  op: { upsert: PluginEntry } | { remove: string },
  options: { create?: boolean } = {},
): Promise<FileEdit> {
  let bytes: Uint8Array | undefined;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound) || !options.create) throw e;
  }
  const ini: IniText = bytes
    ? decodeIni(bytes)
    : { text: "", encoding: "utf16le" };
  const name = "upsert" in op ? op.upsert.name : op.remove;
  const existed = readPlugin(ini.text, name) !== undefined;
  const edit = "upsert" in op
    ? upsertPlugin(ini.text, op.upsert)
    : removePlugin(ini.text, op.remove);
  const action: FileEdit["action"] = "upsert" in op
    ? (!edit.changed ? "unchanged" : existed ? "updated" : "added")
    : (edit.changed ? "removed" : "absent");
  const result: FileEdit = {
    path,
    action,
    encoding: ini.encoding,
    created: !bytes,
  };
  if (!edit.changed) return result;
  if (bytes) {
    result.backup = `${path}.heapshift-backup`;
    await Deno.writeFile(result.backup, bytes);
  }
  const tmp = `${path}.${Deno.pid}.tmp`;
  await Deno.writeFile(
    tmp,
    encodeIni({ text: edit.text, encoding: ini.encoding }),
  );
  await Deno.rename(tmp, path);
  return result;
}

/** Where Special K may be installed, newest layout first. */
export function specialKDirs(
  env: (k: string) => string | undefined = (k) => Deno.env.get(k),
): string[] {
  const out: string[] = [];
  const local = env("LOCALAPPDATA");
  const pf = env("ProgramFiles") ?? env("PROGRAMFILES");
  const profile = env("USERPROFILE");
  if (local) out.push(`${local}\\Programs\\Special K`);
  if (pf) out.push(`${pf}\\Special K`);
  if (profile) out.push(`${profile}\\Documents\\My Mods\\SpecialK`);
  return out;
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

function isDir(p: string): boolean {
  try {
    return Deno.statSync(p).isDirectory;
  } catch {
    return false;
  }
}

/** The first existing Special K install among `candidates`. */
export function findSpecialK(candidates: string[]): string | undefined {
  return candidates.find((d) => isDir(d) && isDir(`${d}/Profiles`)) ??
    candidates.find(isDir);
}

/** The global defaults file of an install: `Global/default_SpecialK.ini`. */
export function globalIni(skDir: string): string {
  return `${skDir}/Global/default_SpecialK.ini`;
}

/** The game profiles of an install (directory names under `Profiles/`). */
export function profiles(skDir: string): string[] {
  try {
    return [...Deno.readDirSync(`${skDir}/Profiles`)].filter((e) =>
      e.isDirectory
    ).map((e) => e.name).sort((a, b) => a.localeCompare(b));
  } catch {
    return [];
  }
}

/** A game's profile ini, matching the profile name case-insensitively. */
export function profileIni(skDir: string, game: string): string | undefined {
  const want = game.toLowerCase();
  const name = profiles(skDir).find((p) => p.toLowerCase() === want) ??
    profiles(skDir).find((p) => p.toLowerCase().includes(want));
  return name ? `${skDir}/Profiles/${name}/SpecialK.ini` : undefined;
}
