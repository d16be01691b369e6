/**
 * What a file or a mapped image is (its machine, a DLL or a program), from
 * its first bytes as pe/ reads them, and reading those bytes from a file.
 *
 * @module
 */

import {
  bytesSource,
  isDll,
  PeFormatError,
  readFileHeader,
} from "../pe/mod.ts";

/** Machine and kind of a PE file, from its first bytes. */
export interface PeKind {
  /** IMAGE_FILE_MACHINE_* */
  machine: number;
  /** Whether the file is a DLL. */
  dll: boolean;
}

/** Reads the file header at the start of `head`; `undefined` if not PE. */
export function peKind(head: Uint8Array): PeKind | undefined {
  try {
    const h = readFileHeader(bytesSource(head));
    return { machine: h.machine, dll: isDll(h) };
  } catch (e) {
    if (e instanceof PeFormatError) return undefined;
    throw e;
  }
}

/** The first `size` bytes of a file. */
export function readHead(path: string, size = 4096): Uint8Array {
  const file = Deno.openSync(path, { read: true });
  try {
    const buf = new Uint8Array(size);
    const n = file.readSync(buf) ?? 0;
    return buf.subarray(0, n);
  } finally {
    file.close();
  }
}

/** Why `path` could not be read, in words ("no such file", …). */
export function readFailure(path: string, e: unknown): string {
  if (e instanceof Deno.errors.NotFound) return "no such file";
  try {
    if (Deno.statSync(path).isDirectory) return "it is a directory";
  } catch { /* fall through */ }
  return (e as Error).message;
}
