/**
 * Checks that a path names a 64-bit Windows DLL before a target process is
 * asked to load it, and resolves it to the absolute path the target needs.
 * Pure TypeScript: works on every OS.
 *
 * @module
 */

import { resolve, win32 } from "node:path";
import { HeapshiftError } from "./errors.ts";

const IMAGE_FILE_DLL = 0x2000;
const MACHINES: Record<number, string> = {
  0x014c: "32-bit (x86)",
  0x8664: "64-bit (x64)",
  0xaa64: "ARM64",
};

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
    const file = Deno.openSync(abs, { read: true });
    try {
      head = new Uint8Array(4096);
      const n = file.readSync(head) ?? 0;
      head = head.subarray(0, n);
    } finally {
      file.close();
    }
  } catch (e) {
    const why = e instanceof Deno.errors.NotFound
      ? "no such file"
      : e instanceof Deno.errors.IsADirectory
      ? "it is a directory"
      : (e as Error).message;
    throw new HeapshiftError("bad-dll", `Cannot use DLL ${abs}: ${why}`, {
      cause: e,
    });
  }
  const bad = (why: string) =>
    new HeapshiftError("bad-dll", `Cannot use DLL ${abs}: ${why}`);
  const v = new DataView(head.buffer, head.byteOffset, head.byteLength);
  if (head.length < 64 || v.getUint16(0, true) !== 0x5a4d) {
    throw bad("not a DLL (no MZ header)");
  }
  const pe = v.getUint32(0x3c, true);
  if (pe + 24 > head.length || v.getUint32(pe, true) !== 0x0000_4550) {
    throw bad("not a DLL (no PE header)");
  }
  const machine = v.getUint16(pe + 4, true);
  const characteristics = v.getUint16(pe + 22, true);
  if (!(characteristics & IMAGE_FILE_DLL)) {
    throw bad("not a DLL (it is an executable)");
  }
  if (machine !== 0x8664) {
    const kind = MACHINES[machine] ?? `machine 0x${machine.toString(16)}`;
    throw bad(
      `it is a ${kind} DLL; only 64-bit (x64) DLLs and targets are supported for now`,
    );
  }
  return abs;
}
