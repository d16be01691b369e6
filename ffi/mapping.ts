/**
 * Named shared memory: a snapshot of another process's file mapping, and a
 * handle that keeps one alive.
 *
 * @module
 */

import { fail } from "./win32_error.ts";
import { Handle } from "./handle.ts";
import { kernel32 } from "./library.ts";
import { wide } from "./strings.ts";

const FILE_MAP_READ = 0x4;

const MEM_COMMIT = 0x1000;

/**
 * Opens the named file mapping `name` read-only, for
 * {@linkcode readSharedMemory}: the mapping lives while this handle does,
 * so its contents outlast the process that made it. Throws a Win32Error
 * from `OpenFileMappingW` (2 when no such mapping exists).
 */
export function openSharedMemory(name: string): Handle {
  const raw = kernel32().OpenFileMappingW(FILE_MAP_READ, 0, wide(name));
  if (raw === null) fail("OpenFileMappingW");
  return new Handle(raw);
}

/**
 * A copy of the first `maxBytes` bytes of the file mapping `source` (a
 * name, opened read-only for the call, or a handle from
 * {@linkcode openSharedMemory}): fewer if the view is smaller, or only as
 * many as are committed from its start (none for a mapping made with
 * SEC_RESERVE whose first page was never committed: reading such a page is
 * an access violation). Throws a Win32Error from `OpenFileMappingW` (2 when
 * no such mapping exists).
 */
export function readSharedMemory(
  source: string | Handle,
  maxBytes: number,
): Uint8Array {
  if (typeof source === "string") {
    using mapping = openSharedMemory(source);
    return readSharedMemory(mapping, maxBytes);
  }
  const k = kernel32();
  const view = k.MapViewOfFile(source.raw, FILE_MAP_READ, 0, 0, 0n);
  if (view === null) fail("MapViewOfFile");
  try {
    // MEMORY_BASIC_INFORMATION: RegionSize at 24, State at 32.
    const mbi = new Uint8Array(48);
    if (Number(k.VirtualQuery(view, mbi, BigInt(mbi.length))) === 0) {
      fail("VirtualQuery");
    }
    const info = new DataView(mbi.buffer);
    const region = Number(info.getBigUint64(24, true));
    const committed = info.getUint32(32, true) === MEM_COMMIT;
    const size = committed ? Math.min(region, maxBytes) : 0;
    if (size === 0) return new Uint8Array(0);
    return copyWords(Deno.UnsafePointerView.getArrayBuffer(view, size));
  } finally {
    k.UnmapViewOfFile(view);
  }
}

/**
 * A copy of `live` made 8 aligned bytes at a time: another process writes
 * its 64-bit counters with single 8-byte stores (a 32-bit one too), and a
 * plain copy (memcpy) promises no access size, so a counter could be read
 * half old, half new.
 */
function copyWords(live: ArrayBuffer): Uint8Array {
  const out = new Uint8Array(live.byteLength);
  const words = Math.floor(live.byteLength / 8);
  const from = new BigInt64Array(live, 0, words);
  const to = new BigInt64Array(out.buffer, 0, words);
  for (let i = 0; i < words; i++) to[i] = Atomics.load(from, i);
  out.set(new Uint8Array(live, words * 8), words * 8);
  return out;
}
