/**
 * What a file or a mapped image is (its machine, a DLL or a program), from
 * its first bytes as pe/ reads them, and reading those bytes from a file.
 *
 * @module
 */

import {
  bytesSource,
  DIR,
  directory,
  FileSource,
  isDll,
  PeFormatError,
  readFileHeader,
  readHeaders,
  rvaToOffset,
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

/** COMIMAGE_FLAGS_ILONLY: the CLR header's flag of a pure IL assembly. */
const COMIMAGE_FLAGS_ILONLY = 0x1;

/** COMIMAGE_FLAGS_32BITREQUIRED: it runs as a 32-bit process (with
 * 32BITPREFERRED too: 'Prefer 32-bit', where Windows can run it so). */
const COMIMAGE_FLAGS_32BITREQUIRED = 0x2;

/** The CLR header's `Flags` (IMAGE_COR20_HEADER +16) of the file at
 * `path`; undefined without one, or when it cannot be read. */
function corFlags(path: string): number | undefined {
  try {
    using src = FileSource.open(path);
    const h = readHeaders(src);
    const clr = directory(h, DIR.CLR);
    if (clr.rva === 0 || clr.size < 20) return undefined;
    const at = rvaToOffset(h, clr.rva, { length: 20 });
    const header = src.read(at, 20);
    return new DataView(header.buffer, header.byteOffset, 20)
      .getUint32(16, true);
  } catch {
    return undefined;
  }
}

/**
 * Whether the program at `path` is an IL-only .NET assembly: its CLR
 * header (IMAGE_COR20_HEADER, `Flags` at +16) says so. Such a file is PE32
 * whatever CPU it runs on (a 64-bit process on 64-bit Windows unless it
 * asks for 32 bits), and Windows' loader leaves its imports to the .NET
 * runtime. False when the file cannot be read or has no such header.
 */
export function isIlOnlyAssembly(path: string): boolean {
  return ((corFlags(path) ?? 0) & COMIMAGE_FLAGS_ILONLY) !== 0;
}

/** Whether the IL-only program at `path` asks to run as a 32-bit process
 * (its file says nothing of it otherwise: it is PE32 either way). */
export function ilOnlyRuns32Bit(path: string): boolean {
  const flags = corFlags(path) ?? 0;
  return (flags & COMIMAGE_FLAGS_ILONLY) !== 0 &&
    (flags & COMIMAGE_FLAGS_32BITREQUIRED) !== 0;
}

/**
 * Why the IL-only program `path` is not launched with the DLLs `dlls`
 * (their names): Windows' loader leaves its imports to the .NET runtime.
 */
export function ilOnlyRefusal(path: string, dlls: readonly string[]): string {
  return `Cannot launch ${path} with ${
    dlls.join(", ")
  }: it is an IL-only .NET program, whose imports Windows leaves to the .NET runtime, so DLLs added to its import table would not be loaded (and built for any CPU it runs as a 64-bit program though its file is 32-bit); start it and inject the DLL instead`;
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

/** A shell link's first bytes: its header size, then its class id's. */
const LNK_MAGIC = [0x4c, 0, 0, 0, 0x01, 0x14, 0x02, 0];

/**
 * What the file at `path` (whose first bytes are `head`) is, when it is
 * no program CreateProcess starts, and what to launch instead: completes
 * "it is …".
 */
export function notAProgram(path: string, head: Uint8Array): string {
  const ext = path.slice(path.lastIndexOf(".")).toLowerCase();
  if (LNK_MAGIC.every((b, i) => head[i] === b)) {
    return "a shortcut (.lnk): launch the program it points to (the Target in the shortcut's Properties)";
  }
  if (ext === ".bat" || ext === ".cmd") {
    return "a batch file, which Windows runs with cmd.exe: launch the program it starts";
  }
  const kind = peKind(head);
  if (kind?.dll) {
    return "a DLL, not a program: launch the program that loads it";
  }
  if (head[0] === 0x4d && head[1] === 0x5a) {
    return oldProgram(head)
      ? "a 16-bit (DOS or Windows 3.x) program, which 64-bit Windows does not run"
      : "a damaged or cut-off Windows program (its headers cannot be read): reinstall or repair it";
  }
  return "not a Windows program (.exe)";
}

/**
 * Whether an MZ file that is no readable PE is an old program: MS-DOS's
 * (no new header: its relocations, at e_lfarlc (0x18), start inside the
 * 64-byte header that a new executable has, so 0x3c is no e_lfanew; or
 * e_lfanew, at 0x3c, below the header's end) or one whose new header is
 * 16-bit Windows' (NE) or OS/2's and VxDs' (LE, LX). Else it points at a
 * PE header that cannot be read: a damaged file.
 */
function oldProgram(head: Uint8Array): boolean {
  if (head.length < 0x40) return true;
  const view = new DataView(head.buffer, head.byteOffset, head.length);
  if (view.getUint16(0x18, true) < 0x40) return true;
  const at = view.getUint32(0x3c, true);
  if (at < 0x40) return true;
  if (at + 2 > head.length) return false;
  const sig = String.fromCharCode(head[at], head[at + 1]);
  return sig === "NE" || sig === "LE" || sig === "LX";
}
