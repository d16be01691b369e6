/**
 * The hook DLL embedded in a compiled `heapshift.exe` (`deno task
 * compile`): another process can only load a real file, so the bytes are
 * written once to a cache path named after their hash, atomically, and
 * reused by later runs.
 *
 * @module
 */

import type { Arch } from "../src/arch.ts";
import { baseName } from "../src/_paths.ts";
import {
  ERROR,
  type Handle,
  isWindows,
  openDenyingWrites,
  setAccessTime,
  Win32Error,
} from "../ffi/mod.ts";
import { CliError } from "./output.ts";

/** The name of the third-party notice that ships with the DLL. */
export const NOTICE_FILE = "THIRD_PARTY_NOTICES.txt";

/** The embedded DLL, as the generated module of `deno task compile` gives it. */
export interface EmbeddedDll {
  /** The DLL's bytes. */
  bytes: Uint8Array;
  /** Lower-case hex SHA-256 of `bytes`. */
  sha256: string;
  /**
   * The third-party notice (mimalloc's license), written next to the
   * extracted DLL as {@linkcode NOTICE_FILE}.
   */
  notice?: string;
}

const embedded: Partial<Record<Arch, EmbeddedDll>> = {};

/**
 * Registers the embedded DLL for targets of `arch` (done by the compiled
 * binary's entry point: heapshift.dll for x64, heapshift32.dll for x86).
 */
export function setEmbeddedDll(
  dll: EmbeddedDll | undefined,
  arch: Arch = "x64",
): void {
  if (dll) embedded[arch] = dll;
  else delete embedded[arch];
}

/** The embedded DLL for `arch`, when running as a compiled binary. */
export function embeddedDll(arch: Arch = "x64"): EmbeddedDll | undefined {
  return embedded[arch];
}

/** Lower-case hex SHA-256 of `bytes`. */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest(
    "SHA-256",
    bytes as Uint8Array<ArrayBuffer>,
  );
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0"))
    .join("");
}

/** Decodes base64 (the generated module stores the DLL that way). */
export function fromBase64(text: string): Uint8Array {
  const bin = atob(text);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** Encodes bytes as base64, in chunks (no call-stack limits). */
export function toBase64(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(s);
}

/**
 * Where extracted DLLs go: `%LOCALAPPDATA%\heapshift\dll` on Windows (the
 * user's own profile, which other users cannot write), else
 * `%USERPROFILE%\AppData\Local\heapshift\dll`; never a shared directory
 * (the temporary or the current one), where another user could have put a
 * file of that name first. `$XDG_CACHE_HOME/heapshift/dll` (or
 * `~/.cache/heapshift/dll`) elsewhere. A {@linkcode CliError} when the
 * environment names no such directory.
 */
export function defaultExtractDir(): string {
  return extractDirFor(
    Deno.build.os === "windows" ? "windows" : "posix",
    (k) => Deno.env.get(k),
  );
}

/** {@linkcode defaultExtractDir} for an OS and an environment (for tests). */
export function extractDirFor(
  os: "windows" | "posix",
  getEnv: (name: string) => string | undefined,
): string {
  const env = (k: string) => getEnv(k) || undefined;
  if (os === "windows") {
    const profile = env("USERPROFILE");
    const base = env("LOCALAPPDATA") ??
      (profile && `${profile.replace(/[\\/]+$/, "")}\\AppData\\Local`);
    if (!base) {
      throw new CliError(
        "Cannot extract the embedded hook DLL: neither LOCALAPPDATA nor USERPROFILE is set, so there is no folder of this user's to write it to; set LOCALAPPDATA, or pass --dll PATH",
      );
    }
    return `${base.replace(/[\\/]+$/, "")}\\heapshift\\dll`;
  }
  const home = env("HOME");
  const base = env("XDG_CACHE_HOME") ?? (home && `${home}/.cache`);
  if (!base) {
    throw new CliError(
      "Cannot extract the embedded hook DLL: neither XDG_CACHE_HOME nor HOME is set; set one, or pass --dll PATH",
    );
  }
  return `${base}/heapshift/dll`;
}

function join(dir: string, name: string): string {
  const sep = Deno.build.os === "windows" && !dir.includes("/") ? "\\" : "/";
  return dir.endsWith(sep) ? dir + name : `${dir}${sep}${name}`;
}

/** The file name an embedded DLL is extracted to: its hash is in the name. */
export function extractedName(sha256: string): string {
  return `heapshift-${sha256.slice(0, 16)}.dll`;
}

async function matches(path: string, dll: EmbeddedDll): Promise<boolean> {
  try {
    const st = await Deno.stat(path);
    if (!st.isFile || st.size !== dll.bytes.length) return false;
    return (await sha256Hex(await Deno.readFile(path))) === dll.sha256;
  } catch {
    return false;
  }
}

/**
 * The extracted DLLs this process holds open (Windows), by path: each was
 * verified while held, and nobody can write, rename or delete it before
 * this process ends, so a target loads the very bytes that were checked.
 */
const held = new Map<string, Handle>();

/**
 * Whether the file at `path` holds `dll`'s bytes, and (on Windows) will go
 * on holding them: it is opened denying writes and deletes first, then
 * verified, and kept open (see {@linkcode held}). Without that, a file
 * verified here could be swapped (by another program of this user, or of
 * another user where the folder is shared) before the target loads it.
 */
async function heldMatch(path: string, dll: EmbeddedDll): Promise<boolean> {
  if (!isWindows) return await matches(path, dll);
  if (held.has(path)) return true;
  const handle = await openToHold(path);
  if (!handle) return false; // missing, or open for writing by someone
  if (!(await matches(path, dll))) {
    handle.close();
    return false;
  }
  // A concurrent call may have held it meanwhile: one handle is enough
  if (held.has(path)) handle.close();
  else held.set(path, handle);
  return true;
}

/**
 * How long a sharing violation on an extracted DLL is waited out: a rename
 * onto it (another run extracting the same DLL) holds it open for
 * deleting a moment, and that is no writer.
 */
const BUSY_MS = 2000;

/**
 * {@linkcode openDenyingWrites} of `path`, retried while someone has it
 * open for writing or deleting, for {@linkcode BUSY_MS}; undefined when it
 * cannot be opened.
 */
async function openToHold(path: string): Promise<Handle | undefined> {
  const until = Date.now() + BUSY_MS;
  for (;;) {
    try {
      return openDenyingWrites(path);
    } catch (e) {
      const busy = e instanceof Win32Error &&
        e.code === ERROR.SHARING_VIOLATION;
      if (!busy || Date.now() > until) return undefined;
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * Closes the handles {@linkcode extractDll} keeps on its DLLs (Windows),
 * so that a test can remove the folder it extracted to.
 */
export function releaseHeld(): void {
  for (const handle of held.values()) handle.close();
  held.clear();
}

/**
 * Sets the access time of the extracted DLL at `path` to now, as its last
 * use (whatever the volume does on reads): {@linkcode pruneExtracted}
 * keeps what is in use; the bytes' time stays. On Windows through the
 * handle that holds it: by its path the file would be opened for writing,
 * which that handle, and any program that has the DLL loaded, refuses.
 */
async function recordUse(path: string): Promise<void> {
  const handle = held.get(path);
  if (handle) {
    setAccessTime(handle, new Date());
    return;
  }
  const st = await Deno.stat(path).catch(() => undefined);
  if (st?.mtime) await Deno.utime(path, new Date(), st.mtime).catch(() => {});
}

/** Result of {@linkcode extractDll}. */
export interface Extracted {
  /** The DLL's path on disk. */
  path: string;
  /** Whether this call wrote it (false: an earlier copy was reused). */
  written: boolean;
}

/**
 * Writes the embedded DLL to `dir` (default {@linkcode defaultExtractDir})
 * under a name holding its hash, unless an identical file is already
 * there, and its notice beside it. The write goes to a temporary file
 * renamed into place, so a concurrent run never sees a half-written DLL. A
 * damaged file of that name is replaced; if it cannot be (Windows keeps a
 * loaded DLL locked), a fresh unique name is used instead.
 */
export async function extractDll(
  dll: EmbeddedDll,
  dir: string = defaultExtractDir(),
): Promise<Extracted> {
  if ((await sha256Hex(dll.bytes)) !== dll.sha256) {
    throw new Error(
      "The embedded hook DLL is damaged (its SHA-256 does not match): rebuild the binary with `deno task compile`.",
    );
  }
  if (dll.notice !== undefined) {
    await writeNotice(dir, dll.notice).catch((e) => {
      throw extractFailure(dir, e);
    });
  }
  const extracted = await writeDll(dll, dir);
  await pruneExtracted(dir, { keep: extracted.path });
  return extracted;
}

/** How long an extracted DLL of another build is kept after its last use. */
const KEEP_MS = 30 * 24 * 3600 * 1000;

/**
 * Removes what earlier binaries extracted to `dir` and no run has used for
 * 30 days: DLLs of other builds, and temporary files a killed run left.
 * One still loaded in a program cannot be removed on Windows and stays.
 */
export async function pruneExtracted(
  dir: string,
  options: { keep: string; now?: number },
): Promise<void> {
  const now = options.now ?? Date.now();
  const keep = baseName(options.keep);
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(dir)];
  } catch {
    return;
  }
  for (const e of entries) {
    if (!e.isFile || e.name === keep) continue;
    if (
      !/^heapshift-[0-9a-f]{16}(-[0-9a-f]{8})?\.dll(\..*\.tmp)?$/.test(e.name)
    ) {
      continue;
    }
    const path = join(dir, e.name);
    try {
      const st = await Deno.stat(path);
      const used = Math.max(
        st.mtime?.getTime() ?? now,
        st.atime?.getTime() ?? 0,
      );
      if (now - used > KEEP_MS) await Deno.remove(path);
    } catch { /* loaded in a program, or gone: left */ }
  }
}

/**
 * A copy of the extracted DLL at `path` that no prune removes, for a
 * registration that outlives this binary (a Special K ini names it, and
 * Special K loading it counts as no use here): `kept/` beside `dir`, under
 * its hash-named file name, written once.
 */
export async function keptCopy(
  path: string,
  dir: string = defaultExtractDir(),
): Promise<string> {
  const keptDir = join(dir.replace(/[\\/]+dll[\\/]*$/, ""), "kept");
  const bytes = await Deno.readFile(path);
  // Written as an extraction is: under its hash, reused while identical.
  return (await writeDll({ bytes, sha256: await sha256Hex(bytes) }, keptDir))
    .path;
}

/** Writes `text` as the notice in `dir` unless it is there already. */
async function writeNotice(dir: string, text: string): Promise<void> {
  const path = join(dir, NOTICE_FILE);
  if ((await Deno.readTextFile(path).catch(() => undefined)) === text) return;
  await Deno.mkdir(dir, { recursive: true });
  const tmp = `${path}.${Deno.pid}-${crypto.randomUUID().slice(0, 8)}.tmp`;
  try {
    await Deno.writeTextFile(tmp, text, { createNew: true });
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
}

async function writeDll(dll: EmbeddedDll, dir: string): Promise<Extracted> {
  try {
    return await writeDllIn(dll, dir);
  } catch (e) {
    throw extractFailure(dir, e);
  }
}

/** A failure to write into `dir` as a CliError that says what to do. */
function extractFailure(dir: string, e: unknown): unknown {
  if (e instanceof CliError || !(e instanceof Error)) return e;
  return new CliError(
    `Cannot write the embedded hook DLL to ${dir}: ${e.message}; make room there or make it writable by this user (or set LOCALAPPDATA to a folder of yours), or pass --dll PATH`,
  );
}

async function writeDllIn(dll: EmbeddedDll, dir: string): Promise<Extracted> {
  const path = join(dir, extractedName(dll.sha256));
  if (await heldMatch(path, dll)) {
    await recordUse(path);
    return { path, written: false };
  }
  await Deno.mkdir(dir, { recursive: true });
  const tmp = `${path}.${Deno.pid}-${crypto.randomUUID().slice(0, 8)}.tmp`;
  try {
    await Deno.writeFile(tmp, dll.bytes, { createNew: true });
  } catch (e) {
    // (a full disk: what was written of it goes too)
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
  let written = path;
  try {
    await Deno.rename(tmp, path);
  } catch (e) {
    // Another run may have won the race with the same bytes.
    if (await heldMatch(path, dll)) {
      await Deno.remove(tmp).catch(() => {});
      return { path, written: false };
    }
    // A different, locked file holds the name: keep ours under a new name.
    written = join(
      dir,
      extractedName(dll.sha256).replace(
        /\.dll$/,
        `-${crypto.randomUUID().slice(0, 8)}.dll`,
      ),
    );
    try {
      await Deno.rename(tmp, written);
    } catch {
      await Deno.remove(tmp).catch(() => {});
      throw e;
    }
  }
  // Checked again once held: the file could have been replaced between
  // the rename and now.
  if (!(await heldMatch(written, dll))) {
    throw new CliError(
      `Cannot use the hook DLL extracted to ${written}: another program changed it as it was written; check who else can write to ${dir}, or pass --dll PATH`,
    );
  }
  return { path: written, written: true };
}
