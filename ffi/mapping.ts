/**
 * Named shared memory: a snapshot of another process's file mapping.
 *
 * @module
 */

import { fail } from "./win32_error.ts";
import { Handle } from "./handle.ts";
import { kernel32 } from "./library.ts";
import { wide } from "./strings.ts";

const FILE_MAP_READ = 0x4;

/**
 * Opens the named file mapping `name` read-only and returns a copy of its
 * first `maxBytes` bytes (fewer if the view is smaller). Throws a
 * Win32Error from `OpenFileMappingW` (2 when no such mapping exists).
 */
export function readSharedMemory(name: string, maxBytes: number): Uint8Array {
  const k = kernel32();
  const raw = k.OpenFileMappingW(FILE_MAP_READ, 0, wide(name));
  if (raw === null) fail("OpenFileMappingW");
  using mapping = new Handle(raw);
  const view = k.MapViewOfFile(mapping.raw, FILE_MAP_READ, 0, 0, 0n);
  if (view === null) fail("MapViewOfFile");
  try {
    // MEMORY_BASIC_INFORMATION: RegionSize at 24.
    const mbi = new Uint8Array(48);
    if (Number(k.VirtualQuery(view, mbi, BigInt(mbi.length))) === 0) {
      fail("VirtualQuery");
    }
    const region = Number(new DataView(mbi.buffer).getBigUint64(24, true));
    const size = Math.min(region, maxBytes);
    return new Uint8Array(
      Deno.UnsafePointerView.getArrayBuffer(view, size).slice(0),
    );
  } finally {
    k.UnmapViewOfFile(view);
  }
}
