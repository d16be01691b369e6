/**
 * Reading a PE file's header fields that heapshift checks before it starts
 * or injects anything (machine, DLL or not). Pure TypeScript.
 *
 * @module
 */

/** IMAGE_FILE_DLL in the file header's characteristics. */
export const IMAGE_FILE_DLL = 0x2000;

/** Machine and kind of a PE file, from its first bytes. */
export interface PeKind {
  /** IMAGE_FILE_MACHINE_* */
  machine: number;
  /** Whether the file is a DLL. */
  dll: boolean;
}

/** Parses the headers at the start of a PE file; `undefined` if not PE. */
export function peKind(head: Uint8Array): PeKind | undefined {
  if (head.length < 64) return undefined;
  const v = new DataView(head.buffer, head.byteOffset, head.byteLength);
  if (v.getUint16(0, true) !== 0x5a4d) return undefined;
  const pe = v.getUint32(0x3c, true);
  if (pe + 24 > head.length || v.getUint32(pe, true) !== 0x0000_4550) {
    return undefined;
  }
  return {
    machine: v.getUint16(pe + 4, true),
    dll: (v.getUint16(pe + 22, true) & IMAGE_FILE_DLL) !== 0,
  };
}

/** Human name of an IMAGE_FILE_MACHINE_* value. */
export function machineName(machine: number): string {
  switch (machine) {
    case 0x014c:
      return "32-bit (x86)";
    case 0x8664:
      return "64-bit (x64)";
    case 0xaa64:
      return "ARM64";
    default:
      return `machine 0x${machine.toString(16)}`;
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
