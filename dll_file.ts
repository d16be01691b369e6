/**
 * Checks that a path names a 64-bit Windows DLL before a target process is
 * asked to load it, and resolves it to the absolute path the target needs.
 * Pure TypeScript: works on every OS.
 *
 * @module
 */

import { resolve, win32 } from "node:path";
import { HeapshiftError } from "./errors.ts";
import { machineName, peKind, readFailure, readHead } from "./pe_image.ts";
import {
  FileSource,
  PeFormatError,
  readExports,
  readHeaders,
} from "./pe/mod.ts";

/** Absolute form of `path` (a Windows path on Windows). */
export function absolutePath(path: string): string {
  return Deno.build.os === "windows" ? win32.resolve(path) : resolve(path);
}

/**
 * Returns the absolute path of `path` after checking it is a readable
 * x64 DLL; throws a `bad-dll` {@linkcode HeapshiftError} otherwise.
 */
export function checkDll(path: string): string {
  const abs = absolutePath(path);
  let head: Uint8Array;
  try {
    head = readHead(abs);
  } catch (e) {
    const why = readFailure(abs, e);
    throw new HeapshiftError("bad-dll", `Cannot use DLL ${abs}: ${why}`, {
      cause: e,
    });
  }
  const bad = (why: string) =>
    new HeapshiftError("bad-dll", `Cannot use DLL ${abs}: ${why}`);
  const kind = peKind(head);
  if (!kind) throw bad("not a DLL (not a Windows PE file)");
  if (!kind.dll) throw bad("not a DLL (it is an executable)");
  if (kind.machine !== 0x8664) {
    throw bad(
      `it is a ${
        machineName(kind.machine)
      } DLL; only 64-bit (x64) DLLs and targets are supported for now`,
    );
  }
  return abs;
}

/**
 * The lowest ordinal the DLL at `path` exports (what an import table entry
 * for it can name), or `undefined` when it exports nothing. Reads only the
 * headers and the export directory.
 */
export function firstExportOrdinal(path: string): number | undefined {
  try {
    using src = FileSource.open(path);
    return readExports(src, readHeaders(src))?.symbols[0]?.ordinal;
  } catch (e) {
    if (!(e instanceof PeFormatError)) throw e;
    throw new HeapshiftError(
      "bad-dll",
      `Cannot use DLL ${path}: corrupt export table (${e.message})`,
      { cause: e },
    );
  }
}

/** The file name of a Windows or POSIX `path`. */
export function baseName(path: string): string {
  return path.slice(
    Math.max(path.lastIndexOf("\\"), path.lastIndexOf("/")) + 1,
  );
}
