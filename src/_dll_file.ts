/**
 * Checks that a path names an x64 or x86 Windows DLL, of the target's
 * architecture, before a target process is asked to load it, and resolves
 * it to the absolute path the target needs. Pure TypeScript: works on
 * every OS.
 *
 * @module
 */

import { resolve, win32 } from "node:path";
import { aMachine, type Arch, archName, archOf } from "./arch.ts";
import { HeapshiftError } from "./heapshift_error.ts";
import { peKind, readFailure, readHead } from "./_image_kind.ts";
import {
  FileSource,
  isHeapshiftDll,
  PeFormatError,
  type PeHeaders,
  readExports,
  readHeaders,
} from "../pe/mod.ts";
import { systemRoot } from "./_system_dll.ts";
import { underSysnative, wow64Path } from "./_wow64_path.ts";

/** Absolute form of `path` (a Windows path on Windows). */
export function absolutePath(path: string): string {
  return Deno.build.os === "windows" ? win32.resolve(path) : resolve(path);
}

/** A DLL checked by {@linkcode readDll}. */
export interface DllFile {
  /** Its absolute path. */
  path: string;
  /** Its architecture. */
  arch: Arch;
}

/**
 * Returns the absolute path of `path` after checking it is a readable
 * x64 or x86 DLL; throws a `bad-dll` {@linkcode HeapshiftError} otherwise.
 */
export function checkDll(path: string): string {
  return readDll(path).path;
}

/** Like {@linkcode checkDll}, and says which architecture the DLL is. */
export function readDll(path: string): DllFile {
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
  const arch = archOf(kind.machine);
  if (!arch) {
    throw bad(
      `it is ${
        aMachine(kind.machine)
      } DLL; only x64 and x86 DLLs and targets are supported`,
    );
  }
  // A copy that did not finish: caught here, before a target's loader says
  // only "Bad EXE format".
  using src = FileSource.open(abs);
  dllHeaders(src, abs);
  return { path: abs, arch };
}

/**
 * The headers of the DLL at `path`; a `bad-dll` HeapshiftError when they
 * do not parse (pe/'s header reader also checks that every section's data
 * is in the file, so a copy cut short fails here).
 */
function dllHeaders(src: FileSource, path: string): PeHeaders {
  try {
    return readHeaders(src);
  } catch (e) {
    if (!(e instanceof PeFormatError)) throw e;
    throw new HeapshiftError(
      "bad-dll",
      `Cannot use DLL ${path}: not a valid DLL, or cut short (${e.message}); build it again (deno task build-dll) or copy it whole`,
      { cause: e },
    );
  }
}

/**
 * Whether the file a process loads for `path` depends on its architecture:
 * a path under System32, which a 32-bit process reaches as SysWOW64, or
 * under Sysnative, which only a 32-bit process has.
 */
export function redirectedFor32Bit(path: string): boolean {
  const abs = absolutePath(path);
  return wow64Path(abs, systemRoot()) !== abs;
}

/**
 * {@linkcode readDll} of the file a process of `arch` loads for `path`:
 * for x86, one under System32 is read where WOW64's file system redirector
 * sends it, the same place in SysWOW64 (where the 32-bit DLLs are), and
 * its path is that one; the 64-bit view of System32 we have holds other
 * files, or none of that name. One under Sysnative (a 32-bit process's
 * name for the 64-bit System32, which we do not have) is read in System32
 * and refused: a DLL there is 64-bit, and one that is not could be named
 * to the process only by the Sysnative path we cannot read.
 */
export function readDllFor(path: string, arch: Arch): DllFile {
  const abs = absolutePath(path);
  const root = systemRoot();
  const seen = arch === "x86" ? wow64Path(abs, root) : abs;
  if (seen === abs) return readDll(abs);
  const sysnative = underSysnative(abs, root);
  const how = sysnative
    ? "Sysnative is how a 32-bit process names the 64-bit System32"
    : "WOW64 redirects System32 to SysWOW64 for it";
  let file: DllFile;
  try {
    file = readDll(seen);
  } catch (e) {
    if (!(e instanceof HeapshiftError)) throw e;
    throw new HeapshiftError(
      e.kind,
      `${e.message} (a 32-bit process given ${abs} loads that file: ${how})`,
      { cause: e },
    );
  }
  if (!sysnative) return file;
  throw new HeapshiftError(
    "bad-dll",
    `Cannot use DLL ${abs}: a 32-bit process given it loads ${seen} (${how}), ${
      file.arch === "x86"
        ? "a 32-bit DLL, which heapshift cannot pass on by that name (it reads what it passes, and has no Sysnative): copy the DLL out of System32 and give that path"
        : `a ${
          archName(file.arch)
        } DLL; a 32-bit process can only load DLLs of its own architecture: give a 32-bit DLL (SysWOW64 holds Windows' own)`
    }`,
  );
}

/** Who is to load a DLL, for {@linkcode checkDllArch}'s message. */
export interface DllTarget {
  /** The target's architecture. */
  arch: Arch;
  /** `process` or `program`. */
  noun: string;
  /** What was being done, e.g. `inject probe.dll into process 1234`. */
  doing: string;
}

/** heapshift's build for each architecture (cli/dll.ts builds them). */
const HEAPSHIFT_BUILD: Record<Arch, string> = {
  x64: "heapshift.dll",
  x86: "heapshift32.dll",
};

/**
 * Throws a `bad-dll` {@linkcode HeapshiftError} naming both architectures
 * unless `dll` is of the target's: a process loads only DLLs of its own.
 * For heapshift's own DLL it names the build the target takes: a script
 * that gave build/heapshift.dll for a 32-bit game is not told otherwise.
 */
export function checkDllArch(dll: DllFile, target: DllTarget): void {
  if (dll.arch === target.arch) return;
  const build = isHeapshiftDll(dll.path)
    ? `: give heapshift's ${target.arch} build, ${
      HEAPSHIFT_BUILD[target.arch]
    } (deno task build-dll builds both into build/)`
    : "";
  throw new HeapshiftError(
    "bad-dll",
    `Cannot ${target.doing}: the DLL is ${
      archName(dll.arch)
    } but the ${target.noun} is ${
      archName(target.arch)
    }; a ${target.noun} can only load DLLs of its own architecture${build}`,
  );
}

/**
 * The lowest ordinal the DLL at `path` exports (what an import table entry
 * for it can name), or `undefined` when it exports nothing. Reads only the
 * headers and the export directory.
 */
export function firstExportOrdinal(path: string): number | undefined {
  using src = FileSource.open(path);
  const headers = dllHeaders(src, path);
  try {
    return readExports(src, headers)?.symbols[0]?.ordinal;
  } catch (e) {
    if (!(e instanceof PeFormatError)) throw e;
    throw new HeapshiftError(
      "bad-dll",
      `Cannot use DLL ${path}: corrupt export table (${e.message})`,
      { cause: e },
    );
  }
}
