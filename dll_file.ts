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
 * for it can name), or `undefined` when it exports nothing.
 */
export function firstExportOrdinal(path: string): number | undefined {
  const bytes = Deno.readFileSync(path);
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const pe = v.getUint32(0x3c, true);
  const sections = v.getUint16(pe + 6, true);
  const optSize = v.getUint16(pe + 20, true);
  const opt = pe + 24;
  const dirs = opt + (v.getUint16(opt, true) === 0x20b ? 112 : 96);
  const exportRva = v.getUint32(dirs, true);
  if (exportRva === 0) return undefined;
  const toOffset = (rva: number): number => {
    for (let i = 0; i < sections; i++) {
      const s = opt + optSize + 40 * i;
      const va = v.getUint32(s + 12, true);
      const size = Math.max(
        v.getUint32(s + 8, true),
        v.getUint32(s + 16, true),
      );
      if (rva >= va && rva < va + size) {
        return rva - va + v.getUint32(s + 20, true);
      }
    }
    throw new HeapshiftError(
      "bad-dll",
      `Cannot use DLL ${path}: corrupt export table`,
    );
  };
  const ed = toOffset(exportRva);
  const base = v.getUint32(ed + 16, true);
  const count = v.getUint32(ed + 20, true);
  const functions = toOffset(v.getUint32(ed + 28, true));
  for (let i = 0; i < count; i++) {
    if (v.getUint32(functions + 4 * i, true) !== 0) return base + i;
  }
  return undefined;
}
