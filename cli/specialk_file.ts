/**
 * Applying a Special K plug-in edit to an ini file without ever losing
 * anything: the file is decoded strictly (or refused, unchanged), a
 * symbolic link is edited at its target, the old contents go to a backup
 * and the new ones replace the file atomically, both through temporary
 * files created exclusively (never through a symlink), with the file's
 * permissions and owner.
 *
 * @module
 */

import {
  fileAttributes,
  type WriteAtomicOptions,
  writeFileAtomic,
  writtenNameTooLong,
} from "../pe/mod.ts";
import { CliError } from "./output.ts";
import { keepAttributes } from "./kept_attributes.ts";
import {
  checkEntry,
  looksLikeIni,
  type PluginEntry,
  profileIniPath,
  profiles,
  readPlugin,
  removePlugin,
  upsertPlugin,
} from "./specialk_ini.ts";
import {
  decodeIni,
  encodeIni,
  type IniEncoding,
  IniEncodingError,
  type IniText,
  unreadableBySpecialK,
} from "./specialk_encoding.ts";

/** Larger than any Special K ini (they are a few hundred KB at most). */
const MAX_BYTES = 16 << 20;

/** What {@linkcode applyToFile} did. */
export interface FileEdit {
  path: string;
  /** The file written instead of `path`, when `path` is a symbolic link. */
  target?: string;
  action: "added" | "updated" | "unchanged" | "removed" | "absent";
  /** The backup of the previous contents, when the file was changed. */
  backup?: string;
  encoding: IniEncoding;
  /** Whether the file was created. */
  created: boolean;
}

async function lstatOrUndefined(
  path: string,
): Promise<Deno.FileInfo | undefined> {
  try {
    return await Deno.lstat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
}

/** Refuses what heapshift must not rewrite as a new regular file. */
function checkRegular(path: string, info: Deno.FileInfo): void {
  if (!info.isFile) {
    throw new CliError(`Cannot edit ${path}: it is not a regular file`);
  }
  if ((info.nlink ?? 1) > 1) {
    throw new CliError(
      `Cannot edit ${path}: it has ${info.nlink} hard links, and replacing it would split them (the other names would keep the old contents); break the links first`,
    );
  }
  if (info.size > MAX_BYTES) {
    throw new CliError(
      `Cannot edit ${path}: at ${info.size} bytes it is not a Special K ini`,
    );
  }
}

/** What a rewrite keeps of the file: its permission bits and owner. */
type Kept = Pick<WriteAtomicOptions, "mode" | "owner">;

/**
 * The file to edit for `path` (its target when it is a symbolic link), its
 * contents and what a rewrite keeps; no contents when it does not exist.
 */
async function readTarget(
  path: string,
): Promise<
  {
    target: string;
    bytes?: Uint8Array;
    kept?: Kept;
    readOnly?: boolean;
    read?: Deno.FileInfo;
  }
> {
  let info = await lstatOrUndefined(path);
  let target = path;
  if (info?.isSymlink) {
    try {
      target = await Deno.realPath(path);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
      throw new CliError(
        `Cannot edit ${path}: it is a symbolic link to a file that does not exist`,
      );
    }
    info = await Deno.stat(target);
  }
  if (!info) return { target };
  // Checked before opening: opening a FIFO would block.
  checkRegular(path, info);
  using file = await Deno.open(target, { read: true });
  const opened = await file.stat();
  checkRegular(path, opened);
  const bytes = new Uint8Array(opened.size);
  let done = 0;
  while (done < bytes.length) {
    const n = await file.read(bytes.subarray(done));
    if (n === null) break; // shrank meanwhile: what was read is the file
    done += n;
  }
  return {
    target,
    bytes: bytes.subarray(0, done),
    kept: fileAttributes(opened),
    read: opened,
    // No write bit for anyone: on Windows, Deno's mode for a file with the
    // read-only attribute (which the rename over it would fail on).
    readOnly: opened.mode !== null && (opened.mode & 0o222) === 0,
  };
}

/** A read refused by the file's permissions as one line saying what to do. */
function cannotRead(path: string, e: unknown): unknown {
  return e instanceof Deno.errors.PermissionDenied
    ? new CliError(
      `Cannot read ${path}: permission denied (make it readable)`,
    )
    : e;
}

function decodeOrRefuse(path: string, bytes: Uint8Array): IniText {
  try {
    return decodeIni(bytes);
  } catch (e) {
    if (!(e instanceof IniEncodingError)) throw e;
    throw new CliError(
      `Cannot edit ${path}: ${e.message}; it was left as it is`,
    );
  }
}

/**
 * Writes `bytes` atomically with exactly the mode `kept` gives (the umask
 * aside), its owner where that can be set, and on Windows the attributes
 * of the file `kept.from` (the ini, when there is one).
 */
async function writeKeeping(
  path: string,
  bytes: Uint8Array,
  kept: Kept & Pick<WriteAtomicOptions, "unchangedSince"> & { from?: string },
): Promise<void> {
  const { from, ...options } = kept;
  await writeFileAtomic(path, bytes, {
    ...options,
    overwrite: true,
    keep: keepAttributes && from !== undefined
      ? { from, attributes: keepAttributes }
      : undefined,
  });
  const { mode } = kept;
  if (mode === undefined) return;
  const info = await Deno.lstat(path);
  if (info.isFile && info.mode !== null && (info.mode & 0o777) !== mode) {
    await Deno.chmod(path, mode);
  }
}

/**
 * Refuses a file its user may not write: replacing it by rename would need
 * only the directory's permission, and would undo a read-only flag set to
 * keep it as it is (Special K's own ini, locked against its rewrites).
 */
async function checkWritable(
  path: string,
  file: { target: string; readOnly?: boolean },
): Promise<void> {
  const { target, readOnly } = file;
  const refuse = () =>
    new CliError(
      `Cannot edit ${path}: it is read-only or not yours to write (make it writable first if it is to change)`,
    );
  // Read-only even to root (and under Wine as root), who may open it.
  if (readOnly) throw refuse();
  try {
    (await Deno.open(target, { write: true })).close();
  } catch (e) {
    if (e instanceof Deno.errors.PermissionDenied) throw refuse();
  }
}

/** What the backup of an ini is named: the ini's name and this. */
const BACKUP_SUFFIX = ".heapshift-backup";

/**
 * Refuses, before anything is written, a file the edit of the ini at
 * `path` writes (`to.file`: the ini, a symbolic link's target, or with
 * `to.backup` its backup) whose name is too long for the temporary file it
 * is written through: the system's words would not say why, nor that the
 * ini's name is what to change.
 */
function checkWrittenName(
  path: string,
  to: { file: string; backup?: boolean },
): void {
  const tooLong = writtenNameTooLong(to.file);
  if (tooLong === undefined) return;
  const { why, max, unit } = tooLong;
  const which = to.backup
    ? `its backup ${to.file}: `
    : to.file === path
    ? ""
    : `the file it leads to, ${to.file}: `;
  const advice = to.backup
    ? `rename the ini to a name of at most ${
      max - BACKUP_SUFFIX.length
    } ${unit}`
    : `choose a name of at most ${max} ${unit}`;
  throw new CliError(
    `Cannot edit ${path}: ${which}${why}: ${advice}; nothing was written`,
  );
}

/** Whether a regular file (not a link) is at `path`. */
async function isRegularFile(path: string): Promise<boolean> {
  try {
    return (await Deno.lstat(path)).isFile;
  } catch {
    return false;
  }
}

/**
 * Applies an edit to an ini file: reads it (or starts empty, UTF-16LE, when
 * `create` is set and it is missing: a removal is then `absent`, and
 * nothing is written), writes a backup of the old contents
 * next to it (`<file>.heapshift-backup`, once: later runs keep the first,
 * the file as it was before heapshift changed it), then the new contents
 * atomically. A file that is not text in an encoding it can be written
 * back in unchanged is refused and left alone, and so is an entry added to
 * one Special K does not read (an ANSI file), and an edit whose file or
 * backup has a name too long to write (`writtenNameTooLong`: the backup's
 * is 17 longer), before anything is written.
 */
export async function applyToFile(
  path: string,
  op: { upsert: PluginEntry } | { remove: string },
  options: {
    create?: boolean;
    /** Runs just before the new contents are written (tests). */
    beforeWrite?: () => void | Promise<void>;
  } = {},
): Promise<FileEdit> {
  if ("upsert" in op) checkEntry(op.upsert);
  const { target, bytes, kept, readOnly, read } = await readTarget(path).catch(
    (e) => {
      throw cannotRead(path, e);
    },
  );
  if (!bytes && !options.create) {
    throw new Deno.errors.NotFound(`No ini file at ${path}`);
  }
  const ini: IniText = bytes
    ? decodeOrRefuse(path, bytes)
    : { text: "", encoding: "utf16le" };
  const name = "upsert" in op ? op.upsert.name : op.remove;
  if ("upsert" in op) {
    // a mistyped --ini (notes, a script) is not appended to
    if (!looksLikeIni(ini.text)) {
      throw new CliError(
        `Cannot edit ${path}: it has no [section] line: it is not a Special K ini (check the path); it was left as it is`,
      );
    }
    // an entry it would never load is not "added" (removing one is fine)
    const why = unreadableBySpecialK(ini);
    if (why) {
      throw new CliError(`Cannot edit ${path}: ${why}; it was left as it is`);
    }
  }
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
    // a removal from a missing file creates none
    created: !bytes && edit.changed,
  };
  if (target !== path) result.target = target;
  if (!edit.changed) return result;
  if (bytes) await checkWritable(path, { target, readOnly });
  // The first backup is the file as it was before heapshift changed it:
  // later runs keep it (a symbolic link there is not one of ours).
  const backup = bytes ? `${target}${BACKUP_SUFFIX}` : undefined;
  const writesBackup = backup !== undefined && !(await isRegularFile(backup));
  if (writesBackup) checkWrittenName(path, { file: backup, backup: true });
  checkWrittenName(path, { file: target });
  let madeBackup = false;
  if (backup !== undefined && bytes) {
    result.backup = backup;
    if (writesBackup) {
      await writeKeeping(backup, bytes, { ...kept, from: target });
      madeBackup = true;
    }
  }
  await options.beforeWrite?.();
  try {
    // Special K saves its config as a game exits: a save between our read
    // and our write is not overwritten with the file as it was before it.
    await writeKeeping(
      target,
      encodeIni({ text: edit.text, encoding: ini.encoding }),
      {
        ...kept,
        from: bytes ? target : undefined,
        unchangedSince: read ?? null,
      },
    );
  } catch (e) {
    // a backup of a file that is no longer there is not "the file before
    // heapshift changed it" for the next run to keep
    if (madeBackup) await Deno.remove(result.backup!).catch(() => {});
    throw e;
  }
  return result;
}

/**
 * The game profiles of the Special K install `skDir` whose ini holds
 * `[Import.<name>]`: Special K writes a new game's profile as a copy of
 * the global defaults, so an entry removed from those stays in each
 * profile made meanwhile. A profile that cannot be read is left out.
 */
export async function profilesWith(
  skDir: string,
  name: string,
): Promise<string[]> {
  const out: string[] = [];
  for (const game of profiles(skDir)) {
    try {
      const { bytes } = await readTarget(profileIniPath(skDir, game));
      if (bytes && readPlugin(decodeIni(bytes).text, name) !== undefined) {
        out.push(game);
      }
    } catch { /* unreadable: not ours to judge */ }
  }
  return out;
}
