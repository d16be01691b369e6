// File-system checks shared by the readers and writers (internal): only
// regular files are read, and errors name the path the caller gave.

import { PeFileError, PeFormatError, PePatchError } from "./errors.ts";
import { fileURLToPath } from "node:url";

/**
 * The reason of a Deno file-system error in a few words, without paths.
 * `writing`: the error is from making a file in `writing.dir`, so a
 * missing path means a missing directory, when it is missing: Windows
 * (and Wine) says "not found" of a directory that is a file too, and Wine
 * of a name too long.
 */
export function fileProblem(e: unknown, writing?: { dir: string }): string {
  if (e instanceof Deno.errors.NotFound) {
    if (writing === undefined) return "no such file";
    return notFoundIn(e, writing.dir);
  }
  if (e instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (e instanceof Deno.errors.IsADirectory) return "it is a directory";
  if (e instanceof Deno.errors.AlreadyExists) return "it already exists";
  const msg = e instanceof Error ? e.message : String(e);
  // Windows' ERROR_SHARING_VIOLATION / ERROR_LOCK_VIOLATION: another process
  // has the file open, most often the program itself, running.
  if (/\(os error (32|33)\)/.test(msg)) {
    return "it is in use by another process (is the program running? close it and retry)";
  }
  return osWords(e);
}

/**
 * The system's words in `e`, without Deno's "(os error N): <op> '<path>'"
 * nor the full stop Windows ends them with (the message goes on after).
 */
function osWords(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  const words = msg.replace(/\.?\s*\(os error \d+\).*$/s, "");
  return words.charAt(0).toLowerCase() + words.slice(1);
}

/**
 * Why making a file in `dir` was "not found": Windows says so too when
 * `dir` is a file (error 3, as for a missing one), so what is there is
 * looked at; a `dir` that cannot be looked at is not called missing.
 */
function notFoundIn(e: unknown, dir: string): string {
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(dir);
  } catch (s) {
    if (s instanceof Deno.errors.NotFound) {
      return "its directory does not exist";
    }
    return `${osWords(e)} (its directory ${dir}: ${fileProblem(s)})`;
  }
  if (info.isDirectory) {
    return `${osWords(e)}, though its directory ${dir} exists`;
  }
  const kind = info.isFile ? "a file" : fileKind(info);
  return `its directory ${dir} is ${kind}, not a directory`;
}

/** What a non-regular file is, for a message. */
export function fileKind(info: Deno.FileInfo): string {
  if (info.isDirectory) return "a directory";
  if (info.isFifo) return "a FIFO (named pipe)";
  if (info.isCharDevice) return "a character device";
  if (info.isBlockDevice) return "a block device";
  if (info.isSocket) return "a socket";
  return "a special file";
}

/** A path as text, for messages: a file URL as the platform's path. */
export function pathText(path: string | URL): string {
  if (!(path instanceof URL)) return path;
  if (path.protocol === "file:") {
    // (pathname is /C:/dir/… on Windows); a URL the platform has no path
    // for (a host on Linux, an encoded /) throws there: its text then
    try {
      return fileURLToPath(path);
    } catch { /* below */ }
  }
  return decodeURIComponent(path.pathname);
}

/**
 * Stats `path` (following links) and throws a PeFileError unless it is a
 * regular file: reading a FIFO blocks and a device never ends, so nothing
 * else is opened.
 */
export function statRegular(
  path: string | URL,
  action = "read",
): Deno.FileInfo {
  const name = pathText(path);
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(path);
  } catch (e) {
    throw new PeFileError(name, { action, reason: fileProblem(e) }, {
      cause: e,
    });
  }
  if (!info.isFile) {
    throw new PeFileError(name, {
      action,
      reason: `it is ${fileKind(info)}, not a regular file`,
    });
  }
  return info;
}

/**
 * `e` with the file named: a PeFormatError from reading `file` says it is
 * not a valid executable, and with `action` a PePatchError says which file
 * could not be edited ("Cannot patch game.exe: …").
 */
export function namingFile(
  e: unknown,
  file: string | URL,
  action?: string,
): unknown {
  const name = pathText(file);
  if (e instanceof PeFormatError && e.file === undefined) {
    return new PeFormatError(e.field, e.offset, e.problem, {
      file: name,
      cause: e,
    });
  }
  if (action !== undefined && e instanceof PePatchError) {
    return new PePatchError(`Cannot ${action} ${name}: ${e.message}`, {
      cause: e,
    });
  }
  return e;
}
