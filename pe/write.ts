/**
 * File-level patching with minject-compatible options, and atomic writes.
 *
 * | minject            | here                                   |
 * | ------------------ | -------------------------------------- |
 * | `-l`, `--list`     | `list: true` (reads only the headers)  |
 * | `-i`, `--inplace`  | `inPlace: true` (backup `<exe>.bak`)   |
 * | `-f`, `--force`    | `force: true` (overwrite output/backup)|
 * | `-p`, `--postfix`  | `postfix: "-debug"`                    |
 * | `-r`, `--remove`   | {@linkcode removeImport}               |
 * | (none)             | `output: path`, `dll`, `symbol`        |
 *
 * @module
 */

import { basename, dirname, join } from "node:path";
import {
  OutputExistsError,
  PeError,
  PeFileError,
  PeFormatError,
  PePatchError,
} from "./errors.ts";
import { isDll, readHeaders } from "./headers.ts";
import { exportsName } from "./exports.ts";
import {
  DEFAULT_SYMBOL,
  type PatchBytesOptions,
  type PatchResult,
  planPatch,
} from "./patch.ts";
import { planRemove, type RemoveBytesOptions } from "./remove.ts";
import { imports } from "./reader.ts";
import { FileSource } from "./source.ts";
import { fileProblem, namingFile, statRegular } from "./_file.ts";
import { Output, writeAll } from "./_output.ts";
import { checkResult, type EditPlan } from "./_plan.ts";
import { type NameTooLong, writtenNameTooLong } from "./written_name.ts";

/** Options shared by {@linkcode patchImports} and {@linkcode removeImport}. */
export interface FileOptions {
  /** Only report what would be done; write nothing (minject `--list`). */
  list?: boolean;
  /**
   * Write the file itself, keeping a backup (minject `--inplace`). A
   * symbolic link is followed: the file it points to is written, and a
   * warning says so. A file with several hard links is refused, since
   * replacing it would change only one of its names.
   */
  inPlace?: boolean;
  /**
   * Backup path for `inPlace`, or `false` for none. By default
   * `<exe>.bak`, or when that holds other bytes the first of
   * `<exe>.bak.1`, `<exe>.bak.2`, … that is free or holds the same bytes
   * (reused as is): patching and then removing in place keeps both
   * versions and needs no `force`.
   */
  backup?: string | false;
  /** Overwrite an existing output, or an existing `backup` path given. */
  force?: boolean;
  /**
   * Where to write the result when not `inPlace`; by default next to the
   * input: `game.exe` gives `game.heapshift.exe` (patch) or
   * `game.unpatched.exe` (remove).
   */
  output?: string;
  /**
   * Abandons the edit (Ctrl+C, say): a write under way stops, its
   * temporary file and a backup written for it are removed, the file is
   * left as it was, and the call rejects with the signal's reason. Once
   * the new file is in place the edit is done and the signal is ignored.
   */
  signal?: AbortSignal;
  /**
   * Gives each new file written in an existing one's place (in place, the
   * program's; with `force`, the overwritten output's), and the backup
   * (the program's), what it does not inherit; see
   * {@linkcode KeepAttributes}. heapshift's API and CLI pass one on
   * Windows.
   */
  keepAttributes?: KeepAttributes;
}

/**
 * Copies onto the new file `to`, not yet in its place, what the file
 * `from` has besides its bytes, permission bits and owner, which a file
 * made beside it does not inherit: on Windows its file attributes
 * (hidden, system), which a rename over it loses. pe/ has no system calls
 * of its own for them: a caller on Windows passes one (heapshift's is
 * ffi/'s `keepFileAttributes`). It may be async: the write waits for it.
 * Throwing (or rejecting) fails the write, leaving the file as it was.
 */
export type KeepAttributes = (
  from: string,
  to: string,
) => void | Promise<void>;

/** Options for {@linkcode patchImports}. */
export interface PatchFileOptions extends FileOptions, PatchBytesOptions {}

/** Options for {@linkcode removeImport}. */
export interface RemoveFileOptions extends FileOptions, RemoveBytesOptions {}

/** What a file-level patch did (or would do, with `list`). */
export interface PatchReport {
  /** The input path. */
  input: string;
  /** The file written, if any (a symbolic link's target, in place). */
  output?: string;
  /** The backup written or reused, if any. */
  backup?: string;
  /** What was (or would be) done; see {@linkcode PatchResult.action}. */
  action: PatchResult["action"];
  /** Whether the file was (or would be) changed. */
  changed: boolean;
  /** The DLL acted on. */
  dll: string;
  /**
   * The program's IMAGE_FILE_MACHINE_* value: 0x8664 (x64) or 0x14c (x86,
   * which needs the 32-bit DLL).
   */
  machine: number;
  /** Static imports of the result (of the input with `list`), in load order. */
  imports: string[];
  /** Warnings for the user. */
  warnings: string[];
}

/** Who owns a file (POSIX user and group ids). */
export interface FileOwner {
  /** The user id. */
  uid: number;
  /** The group id. */
  gid: number;
}

/** Options for {@linkcode writeFileAtomic}. */
export interface WriteAtomicOptions {
  /** Replace an existing file (otherwise OutputExistsError). */
  overwrite?: boolean;
  /** Permission bits for the new file (POSIX only). */
  mode?: number;
  /**
   * Owner of the new file (POSIX only). Best effort: set where this
   * process may (as root may), else the file is the writer's, as any new
   * file is.
   */
  owner?: FileOwner;
  /**
   * Stops the write: the temporary file is removed, nothing is changed,
   * and the call rejects with the signal's reason.
   */
  signal?: AbortSignal;
  /**
   * The file whose attributes the new one keeps (`from`: the one it
   * replaces, or that it is a copy of), and how ({@linkcode KeepAttributes}),
   * applied to the new file before it takes its name.
   */
  keep?: { from: string; attributes: KeepAttributes };
  /**
   * The file as the caller read it (`Deno.stat`), or `null` when there was
   * none. If, just before the new file takes its place, it no longer has
   * that size and modification time (or now exists), another program wrote
   * it meanwhile: nothing is written over that, and a
   * {@linkcode PeFileError} says so.
   */
  unchangedSince?: Pick<Deno.FileInfo, "size" | "mtime"> | null;
}

/**
 * The permission bits and owner of the file `info` describes, as
 * {@linkcode writeFileAtomic} takes them to give a new file what the one
 * it replaces had (nothing on Windows, where a new file inherits them).
 *
 * @example Rewrite a file, keeping its permissions and owner
 * ```ts ignore
 * import { fileAttributes, writeFileAtomic } from "@heapshift/heapshift/pe";
 * const kept = fileAttributes(await Deno.stat("game.ini"));
 * await writeFileAtomic("game.ini", bytes, { overwrite: true, ...kept });
 * ```
 */
export function fileAttributes(
  info: Deno.FileInfo,
): Pick<WriteAtomicOptions, "mode" | "owner"> {
  if (Deno.build.os === "windows") return {};
  return {
    mode: info.mode === null ? undefined : info.mode & 0o777,
    owner: info.uid === null || info.gid === null
      ? undefined
      : { uid: info.uid, gid: info.gid },
  };
}

/** The directory and file name of `path`, by this system's separators. */
function splitPath(path: string): { dir: string; base: string } {
  return { dir: dirname(path), base: basename(path) };
}

/**
 * The default output path next to `exe`: `game.exe` with tag `heapshift`
 * gives `game.heapshift.exe`.
 */
export function defaultOutputPath(exe: string, tag = "heapshift"): string {
  const { base } = splitPath(exe);
  const dot = base.lastIndexOf(".");
  const head = exe.slice(0, exe.length - base.length);
  return dot > 0
    ? `${head}${base.slice(0, dot)}.${tag}${base.slice(dot)}`
    : `${exe}.${tag}`;
}

/** The lstat of `path`, or undefined when there is nothing there. */
async function lstatOrNone(path: string): Promise<Deno.FileInfo | undefined> {
  try {
    return await Deno.lstat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw new PeFileError(path, {
      action: "use",
      reason: fileProblem(e),
    }, { cause: e });
  }
}

/** Whether `a` and `b` name the same file (links followed). */
async function sameFile(a: string, b: string): Promise<boolean> {
  try {
    const [x, y] = await Promise.all([Deno.stat(a), Deno.stat(b)]);
    if (x.ino !== null && y.ino !== null && x.ino !== 0 && y.ino !== 0) {
      return x.dev === y.dev && x.ino === y.ino;
    }
    const [ra, rb] = await Promise.all([Deno.realPath(a), Deno.realPath(b)]);
    return Deno.build.os === "windows"
      ? ra.toLowerCase() === rb.toLowerCase()
      : ra === rb;
  } catch {
    return false;
  }
}

/** Pauses between tries at a file another process holds (Windows). */
const BUSY_WAITS_MS = [50, 100, 200, 400, 800];

/**
 * Whether `e` says another process has the file open in a way that keeps
 * this one out: Windows' sharing violation (32) or lock violation (33),
 * or with `denied` also access denied, which renaming over a file being
 * scanned gives (opening a read-only file gives it at once, for good).
 */
function isBusy(e: unknown, denied: boolean): boolean {
  return (denied && e instanceof Deno.errors.PermissionDenied) ||
    e instanceof Deno.errors.Busy ||
    (e instanceof Error && /\(os error (32|33)\)/.test(e.message));
}

/**
 * Runs `fn`, again a few times (over 1.5 s) while it fails because another
 * process has the file open: on Windows a virus scanner or the search
 * indexer opens a new or changed program for a moment, sharing it for
 * reading only, and opening it for writing or renaming over it fails
 * meanwhile. A program that runs holds its file for good: the last error
 * stands. `signal` stops the waiting.
 */
async function whileBusy<T>(
  fn: () => Promise<T>,
  options: { signal?: AbortSignal; denied?: boolean } = {},
): Promise<T> {
  const { signal, denied = false } = options;
  if (Deno.build.os !== "windows") return await fn();
  for (const ms of BUSY_WAITS_MS) {
    try {
      return await fn();
    } catch (e) {
      if (!isBusy(e, denied)) throw e;
    }
    await new Promise((resolve) => setTimeout(resolve, ms));
    signal?.throwIfAborted();
  }
  return await fn();
}

/** How old a temporary file of ours must be to count as left behind. */
const STALE_MS = 60 * 60_000;

/**
 * Removes the temporary files of writes to `base` in `dir` that a killed
 * process left behind (an hour old or more: a write still running is not
 * that slow). Best effort: what cannot be listed or removed stays.
 */
async function removeStaleTemporaries(
  dir: string,
  base: string,
): Promise<void> {
  const esc = base.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const ours = new RegExp(`^\\.${esc}\\.[0-9a-f]{8}\\.tmp$`);
  try {
    for await (const e of Deno.readDir(dir)) {
      if (!e.isFile || !ours.test(e.name)) continue;
      const p = join(dir, e.name);
      const info = await Deno.lstat(p);
      if (Date.now() - (info.mtime?.getTime() ?? Date.now()) >= STALE_MS) {
        await Deno.remove(p);
      }
    }
  } catch { /* best effort */ }
}

/**
 * Why a file cannot be written through its temporary file ({@linkcode
 * writtenNameTooLong}'s `tooLong`), with what to do.
 */
function nameTooLong(tooLong: NameTooLong): string {
  return `${tooLong.why}: choose a name of at most ${tooLong.max} ${tooLong.unit}`;
}

/**
 * Throws {@linkcode nameTooLong}'s error for a `path` to write whose own
 * name is over 255, before it is looked for: the look itself fails, in
 * words that say nothing of why (Linux "file name too long"; Windows an
 * invalid name's error, not "not found"). A shorter one may be there to
 * reuse.
 */
function checkLength(path: string): void {
  const tooLong = writtenNameTooLong(path);
  if (tooLong === undefined || tooLong.length <= tooLong.nameMax) return;
  throw new PeFileError(path, {
    action: "write",
    reason: nameTooLong(tooLong),
  });
}

/** Writes to a new file: all of it, or throws (stopping when aborted). */
type Writer = (
  file: Deno.FsFile,
  signal?: AbortSignal,
) => void | Promise<void>;

/**
 * Writes a file so that readers see either the old one or the whole new
 * one: a temporary file in the same directory is written, flushed (unless
 * `flush` is false), passed to `beforeCommit` and renamed (or hard-linked, when
 * not overwriting, so an existing file is never clobbered). Errors name
 * `path`, never the temporary file.
 */
async function writeAtomic(
  path: string,
  write: Writer,
  options: WriteAtomicOptions & {
    /** Runs after the write, before the rename; may refuse the file. */
    beforeCommit?: (tmp: string) => void;
    /** Flush the data before it appears (default true). */
    flush?: boolean;
  } = {},
): Promise<void> {
  const { signal } = options;
  signal?.throwIfAborted();
  if (!options.overwrite && await lstatOrNone(path)) {
    throw new OutputExistsError(path);
  }
  const fail = (e: unknown) =>
    e instanceof PeError || (signal?.aborted && e === signal.reason)
      ? e
      : new PeFileError(
        path,
        { action: "write", reason: fileProblem(e, { dir }) },
        { cause: e },
      );
  const { dir, base } = splitPath(path);
  await removeStaleTemporaries(dir, base);
  // (join: after a \\?\ prefix Windows takes a '/' as part of a name)
  const tmp = join(dir, `.${base}.${crypto.randomUUID().slice(0, 8)}.tmp`);
  let file: Deno.FsFile;
  try {
    file = await Deno.open(tmp, {
      write: true,
      createNew: true,
      mode: options.mode,
    });
  } catch (e) {
    const tooLong = writtenNameTooLong(path);
    if (tooLong) {
      throw new PeFileError(path, {
        action: "write",
        reason: nameTooLong(tooLong),
      }, { cause: e });
    }
    if (!(e instanceof Deno.errors.PermissionDenied)) throw fail(e);
    // The file is made beside `path`: the directory is what refused.
    throw new PeFileError(path, {
      action: "write",
      reason: `permission denied: this user may not create files in ${dir}${
        Deno.build.os === "windows"
          ? " (a folder such as Program Files needs a prompt run as administrator)"
          : ""
      }`,
    }, { cause: e });
  }
  try {
    try {
      // Before the chmod: a chown may clear mode bits.
      if (options.owner) await chownIfAllowed(tmp, options.owner);
      // open() narrows the mode by the umask; the copy keeps the original's.
      if (options.mode !== undefined && Deno.build.os !== "windows") {
        await Deno.chmod(tmp, options.mode);
      }
      await write(file, signal);
      if (options.flush !== false) await file.sync();
    } finally {
      file.close();
    }
    signal?.throwIfAborted();
    // (awaited: TypeScript takes an async hook for a void one)
    await options.keep?.attributes(options.keep.from, tmp);
    if (options.unchangedSince !== undefined) {
      refuseIfChanged(path, options.unchangedSince, "write");
    }
    options.beforeCommit?.(tmp);
    if (options.overwrite) {
      await whileBusy(() => Deno.rename(tmp, path), { signal, denied: true });
    } else {
      try {
        await whileBusy(() => Deno.link(tmp, path), { signal, denied: true });
      } catch (e) {
        if (e instanceof Deno.errors.AlreadyExists) {
          throw new OutputExistsError(path);
        }
        // Hard links unsupported here: fall back to a checked rename.
        if (await lstatOrNone(path)) throw new OutputExistsError(path);
        await whileBusy(() => Deno.rename(tmp, path), {
          signal,
          denied: true,
        });
      }
    }
  } catch (e) {
    throw fail(e);
  } finally {
    await Deno.remove(tmp).catch(() => {});
  }
  // Persist the rename itself; directories cannot be opened on Windows.
  try {
    using d = await Deno.open(dir);
    await d.sync();
  } catch {
    // best effort
  }
}

/**
 * Throws a {@linkcode PeFileError} when the file at `path` is no longer the
 * one `read` describes (`null`: none was there): another program wrote,
 * replaced or created it since it was read.
 */
function refuseIfChanged(
  path: string,
  read: Pick<Deno.FileInfo, "size" | "mtime"> | null,
  action: string,
): void {
  let now: Deno.FileInfo | null;
  try {
    now = Deno.statSync(path);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
    now = null;
  }
  if (
    now === null && read === null ||
    now !== null && read !== null && now.size === read.size &&
      now.mtime?.getTime() === read.mtime?.getTime()
  ) return;
  throw new PeFileError(path, {
    action,
    reason:
      "it changed after it was read (another program wrote, replaced or created it meanwhile: an updater, a launcher, the program itself?); nothing was written over it: try again once that program is done",
  });
}

/**
 * Gives `path` to `owner` where this process may; a file it may not give
 * away stays the writer's (best effort, as `cp -p` does).
 */
async function chownIfAllowed(path: string, owner: FileOwner): Promise<void> {
  if (Deno.build.os === "windows") return;
  try {
    await Deno.chown(path, owner.uid, owner.gid);
  } catch (e) {
    if (!(e instanceof Deno.errors.PermissionDenied)) throw e;
  }
}

/**
 * Writes `bytes` to `path` so that readers see either the old file or the
 * whole new one: a temporary file in the same directory is written,
 * flushed to disk and then renamed (or hard-linked, when not overwriting,
 * so an existing file is never clobbered). A failure is a
 * {@linkcode PeFileError} naming `path`.
 */
export function writeFileAtomic(
  path: string,
  bytes: Uint8Array,
  options: WriteAtomicOptions = {},
): Promise<void> {
  return writeAtomic(path, (f) => writeAll(f, bytes), options);
}

/**
 * The file that writing over `path` replaces: a symbolic link's target
 * (a warning says so). Anything but a regular file is refused, and so is a
 * file with several hard links: a new file under one name would leave the
 * others with the old bytes.
 */
async function replaceable(
  path: string,
  warnings: string[],
  signal?: AbortSignal,
): Promise<string> {
  let target = path;
  if ((await lstatOrNone(path))?.isSymlink) {
    try {
      target = await Deno.realPath(path);
    } catch (e) {
      throw new PeFileError(path, {
        action: "write",
        reason: `it is a symbolic link that leads nowhere (${fileProblem(e)})`,
      }, { cause: e });
    }
    warnings.push(
      `${path} is a symbolic link: the file it points to, ${target}, is the one written`,
    );
  }
  const info = statRegular(target, "write");
  // Replacing goes through a rename, which needs only the directory to be
  // writable: the file's own permission (a read-only file, another user's)
  // is asked for here. No write bit for anyone is read-only to root too,
  // whom opening it would not stop (on Windows, where the mode is not
  // known, the read-only attribute fails the open).
  const { mode } = fileAttributes(info);
  if (mode !== undefined && (mode & 0o222) === 0) {
    throw new PeFileError(path, {
      action: "replace",
      reason: `it is read-only (mode ${
        mode.toString(8).padStart(4, "0")
      }); make it writable first (chmod u+w) if it is to change`,
    });
  }
  try {
    await whileBusy(
      async () => (await Deno.open(target, { write: true })).close(),
      { signal },
    );
  } catch (e) {
    if (signal?.aborted && e === signal.reason) throw e;
    throw new PeFileError(path, {
      action: "replace",
      reason: e instanceof Deno.errors.PermissionDenied
        ? "permission denied (the file is read-only or not yours to write); make it writable first"
        : fileProblem(e),
    }, { cause: e });
  }
  if (info.nlink !== null && info.nlink > 1) {
    throw new PeFileError(path, {
      action: "replace",
      reason:
        `it has ${info.nlink} hard links, and a new file under this name would leave the other ${
          info.nlink - 1
        } with the old bytes; write to another file (output, --out) or remove the other links first`,
    });
  }
  return target;
}

/** A writer of the whole of `src`. */
function copyOf(src: FileSource): Writer {
  const whole = new Output();
  whole.copy(0, src.size);
  return (f, signal) => whole.writeTo(src, f, { signal });
}

/** Whether the file at `path` holds the same bytes as `src`. */
function sameBytes(path: string, src: FileSource): boolean {
  using other = FileSource.open(path);
  if (other.size !== src.size) return false;
  const chunk = 1 << 20;
  const a = new Uint8Array(Math.min(chunk, src.size));
  const b = new Uint8Array(a.length);
  for (let at = 0; at < src.size; at += chunk) {
    const n = Math.min(chunk, src.size - at);
    src.readInto(at, a.subarray(0, n));
    other.readInto(at, b.subarray(0, n));
    for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
  }
  return true;
}

const MAX_BACKUPS = 100;

/** The `i`th name a backup of `file` may take: `.bak`, `.bak.1`, … */
function backupName(file: string, i: number): string {
  return i === 0 ? `${file}.bak` : `${file}.bak.${i}`;
}

/**
 * The file that writing over `path` (an edit in place, or an output
 * overwritten with `force`) writes, beside which its temporary file is
 * made: a symbolic link's target; `path` itself otherwise, or when that
 * cannot be told (the write then says why).
 */
export function writtenFile(path: string): string {
  try {
    return Deno.lstatSync(path).isSymlink ? Deno.realPathSync(path) : path;
  } catch {
    return path;
  }
}

/** A backup of an in-place edit; `created` when this edit made it. */
interface Backup {
  path: string;
  created: boolean;
}

/**
 * Writes (or finds) the backup of `file` for an in-place edit, written
 * with `b.write` (the file's attributes, the edit's signal).
 */
async function backUp(
  src: FileSource,
  b: {
    file: string;
    path?: string;
    force?: boolean;
    write: WriteAtomicOptions;
  },
): Promise<Backup> {
  const { file } = b;
  if (b.path !== undefined) {
    checkLength(b.path);
    const created = !(await lstatOrNone(b.path));
    await writeAtomic(b.path, copyOf(src), { ...b.write, overwrite: b.force });
    return { path: b.path, created };
  }
  for (let i = 0; i < MAX_BACKUPS; i++) {
    const path = backupName(file, i);
    checkLength(path);
    const info = await lstatOrNone(path);
    if (!info) {
      try {
        await writeAtomic(path, copyOf(src), b.write);
        return { path, created: true };
      } catch (e) {
        if (e instanceof OutputExistsError) continue; // created meanwhile
        throw e;
      }
    }
    if (info.isFile && info.size === src.size && sameBytes(path, src)) {
      return { path, created: false };
    }
  }
  throw new PeFileError(file, {
    action: "back up",
    reason: `${file}.bak and ${file}.bak.1 to .bak.${
      MAX_BACKUPS - 1
    } all exist and hold other bytes; remove old backups`,
  });
}

/** A file-level edit: its options, output tag and plan. */
interface FileEdit {
  options: FileOptions;
  /** `heapshift` or `unpatched`, for the default output path. */
  tag: string;
  /** What errors call the edit: "Cannot patch game.exe: …". */
  action: string;
  plan: (src: FileSource) => EditPlan;
  /** The export an added DLL is imported by (patch only). */
  symbol?: string | number;
}

const MACHINE_NAMES: Record<number, string> = {
  0x14c: "x86",
  0x8664: "x64",
  0xaa64: "ARM64",
};

const machineName = (m: number) =>
  MACHINE_NAMES[m] ?? `machine 0x${m.toString(16)}`;

/**
 * Why the DLL `plan` adds, found at `path` (beside the program, where the
 * loader looks first), would stop the program from starting: it is built
 * for another machine, or lacks the export imported from it. Nothing when
 * there is no file there (the user is told to copy one) or it cannot be
 * read as a PE file. Beside a patched DLL (`want.dll`, its name) it matters
 * only to a program that loads that DLL with its folder searched first:
 * Windows looks for a DLL's imports beside the program that loads it.
 */
function besideProblem(
  path: string,
  want: { machine: number; symbol: string | number; dll?: string },
): string | undefined {
  let machine: number;
  let exported: boolean;
  try {
    using src = FileSource.open(path);
    const h = readHeaders(src);
    machine = h.machine;
    exported = typeof want.symbol !== "string" ||
      exportsName(src, h, want.symbol);
  } catch {
    return undefined;
  }
  const fix = `put heapshift's ${
    want.machine === 0x14c ? "32-bit" : "64-bit"
  } DLL there under that name`;
  const patched = want.dll ?? "the program";
  const fails = want.dll
    ? `a program that loads ${want.dll} with its folder searched first (LoadLibraryEx with LOAD_WITH_ALTERED_SEARCH_PATH) would fail to load it`
    : "Windows would not start the program with it";
  if (machine !== want.machine) {
    return `${path} is built for ${machineName(machine)}, but ${patched} is ${
      machineName(want.machine)
    }: ${fails}; ${fix}`;
  }
  if (!exported) {
    return `${path} does not export ${want.symbol}, which ${patched} now imports from it: ${fails} ("entry point not found"); ${fix}`;
  }
  return undefined;
}

async function apply(exe: string, how: FileEdit): Promise<PatchReport> {
  const { options, tag } = how;
  // Only regular files: checked before anything is opened.
  using src = FileSource.open(exe);
  // The file as it is read: one another program rewrites or replaces
  // meanwhile (an updater) is not overwritten with a mix of both.
  const read = Deno.statSync(exe);
  const unchanged = () => refuseIfChanged(exe, read, how.action);
  // Planned fully before touching the disk: bad input writes nothing.
  let plan: EditPlan;
  try {
    plan = how.plan(src);
  } catch (e) {
    throw namingFile(e, exe, how.action);
  }
  const report: PatchReport = {
    input: exe,
    action: plan.action,
    changed: plan.changed,
    dll: plan.dll,
    machine: plan.machine,
    imports: plan.imports,
    warnings: plan.warnings,
  };
  const output = plan.output;
  if (plan.action === "added") {
    const out = options.output ?? exe;
    const beside = join(dirname(out), plan.dll);
    const problem = besideProblem(beside, {
      machine: plan.machine,
      symbol: how.symbol ?? DEFAULT_SYMBOL,
      dll: isDll(readHeaders(src)) ? basename(out) : undefined,
    });
    if (problem) report.warnings.push(problem);
  }
  if (options.list) {
    report.imports = (await imports(exe, { symbols: false }))
      .filter((d) => d.kind === "static").map((d) => d.dll);
    return report;
  }
  if (!output) return report;
  let target: string;
  let replacing = true;
  if (options.inPlace) {
    target = await replaceable(exe, report.warnings, options.signal);
  } else {
    target = options.output ?? defaultOutputPath(exe, tag);
    checkLength(target);
    const there = await lstatOrNone(target);
    if (there) {
      if (await sameFile(exe, target)) {
        throw new PeFileError(target, {
          action: "write",
          reason:
            `it is ${exe} itself; to change that file, keeping a backup, edit it in place (inPlace, --inplace on the command line)`,
        });
      }
      if (there.isDirectory) {
        throw new PeFileError(target, {
          action: "write",
          reason: "it is a directory, not a regular file",
        });
      }
      if (!options.force) throw new OutputExistsError(target);
      target = await replaceable(target, report.warnings, options.signal);
    } else replacing = false;
  }
  const { signal } = options;
  // The new file (and the backup) get the input's permissions and owner:
  // patching as root must not leave the user a program of root's.
  const kept = fileAttributes(await Deno.stat(exe));
  const keep = (from: string) =>
    options.keepAttributes && { from, attributes: options.keepAttributes };
  let backup: Backup | undefined;
  if (options.inPlace && options.backup !== false) {
    try {
      backup = await backUp(src, {
        file: target,
        path: options.backup,
        force: options.force,
        write: { ...kept, signal, keep: keep(target) },
      });
    } catch (e) {
      throw changedWhileRead(e, unchanged);
    }
    report.backup = backup.path;
  }
  try {
    await writeOutput(src, {
      target,
      output,
      plan,
      replacing,
      options,
      kept: { ...kept, keep: replacing ? keep(target) : undefined },
      unchanged,
    });
  } catch (e) {
    // "Cannot patch game.exe: …" when the result would not parse.
    const named = e instanceof PePatchError
      ? namingFile(e, exe, how.action)
      : changedWhileRead(e, unchanged);
    throw backup ? await dropBackup(named, { file: target, backup }) : named;
  }
  report.output = target;
  return report;
}

/**
 * `e`, or when it is a format error from copying the input (it shrank:
 * "file at 0x600: file shrank while reading", without its name) and the
 * input is not the file that was read, the error `unchanged` gives, which
 * names it and says what happened and what to do.
 */
function changedWhileRead(e: unknown, unchanged: () => void): unknown {
  if (!(e instanceof PeFormatError)) return e;
  try {
    unchanged();
  } catch (changed) {
    return changed;
  }
  return e;
}

/**
 * The error of an in-place write that failed, the file being as it was:
 * a backup made for it is removed (or named, when that fails too).
 */
async function dropBackup(
  e: unknown,
  failed: { file: string; backup: Backup },
): Promise<unknown> {
  const { file, backup } = failed;
  let left = "";
  if (backup.created) {
    try {
      await Deno.remove(backup.path);
    } catch {
      left = `; its copy ${backup.path} is left over`;
    }
  }
  if (!(e instanceof PeFileError)) return e;
  return new PeFileError(e.path, {
    action: e.action,
    reason: `${e.reason}; ${file} is unchanged${left}`,
  }, { cause: e.cause });
}

/** Writes the edited file over (or next to) the input. */
async function writeOutput(
  src: FileSource,
  out: {
    target: string;
    output: Output;
    /** The edit, whose result is checked before it takes its place. */
    plan: EditPlan;
    replacing: boolean;
    options: FileOptions;
    kept: WriteAtomicOptions;
    /** Throws when the input is no longer the file that was read. */
    unchanged: () => void;
  },
): Promise<void> {
  const { options, replacing } = out;
  await writeAtomic(
    out.target,
    (f, signal) => out.output.writeTo(src, f, { signal }),
    {
      ...out.kept,
      signal: options.signal,
      overwrite: options.inPlace || options.force,
      // A file that replaces another is on disk before the rename, so that a
      // crash leaves one of them whole; a new file is not (as `cp` does not):
      // flushing 100 MB would double the time of the patch.
      flush: replacing,
      beforeCommit: (tmp) => {
        // Windows does not replace a file that is open.
        src.close();
        out.unchanged();
        // What is about to replace a program must parse.
        using written = FileSource.open(tmp);
        checkResult(written, out.plan);
      },
    },
  );
}

/**
 * Makes `exe` load a DLL (default `heapshift.dll`) before all its other
 * imports. Without `inPlace` it writes a new file next to it; with it, the
 * file is replaced atomically after a backup is written. A file that
 * already loads the DLL first is left alone (`changed: false`). The file
 * is read once, in pieces, and never held whole in memory.
 *
 * Throws `PeFormatError` for a malformed file, `PePatchError` when it
 * cannot be patched, {@linkcode PeFileError} for a path that is not a
 * regular file (or a failed write, naming the output) and
 * {@linkcode OutputExistsError} when the output exists without `force`;
 * nothing is written then.
 *
 * @example Patch a program in place, keeping a backup
 * ```ts
 * import { patchImports } from "@heapshift/heapshift/pe";
 * const r = await patchImports("game.exe", { inPlace: true });
 * console.log(r.action, r.imports[0], r.backup); // added heapshift.dll game.exe.bak
 * for (const w of r.warnings) console.warn(w);
 * ```
 *
 * @example See what would be done, writing nothing (minject `--list`)
 * ```ts
 * import { patchImports } from "@heapshift/heapshift/pe";
 * const r = await patchImports("game.exe", { list: true, postfix: "-debug" });
 * console.log(`${r.dll}: ${r.action}`); // heapshift-debug.dll: added
 * ```
 */
export function patchImports(
  exe: string,
  options: PatchFileOptions = {},
): Promise<PatchReport> {
  return apply(exe, {
    options,
    tag: "heapshift",
    action: "patch",
    plan: (src) => planPatch(src, options),
    symbol: options.symbol,
  });
}

/**
 * Undoes {@linkcode patchImports}: removes the DLL from the import table of
 * `exe`, dropping heapshift's section when it is the last one (which gives
 * back the original bytes). Without `inPlace` the result goes next to it
 * (`game.exe` gives `game.unpatched.exe`). A file that does not import the
 * DLL is left alone (`changed: false`); removing a DLL heapshift did not
 * add needs `allowForeign`.
 *
 * @example Undo a patch in place
 * ```ts
 * import { removeImport } from "@heapshift/heapshift/pe";
 * const r = await removeImport("game.exe", { inPlace: true });
 * if (r.changed) console.log(`${r.dll} removed; now ${r.imports.join(", ")}`);
 * ```
 */
export function removeImport(
  exe: string,
  options: RemoveFileOptions = {},
): Promise<PatchReport> {
  return apply(exe, {
    options,
    tag: "unpatched",
    action: "unpatch",
    plan: (src) => planRemove(src, options),
  });
}
