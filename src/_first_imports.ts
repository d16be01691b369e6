/**
 * Putting DLLs first in the in-memory import table of a suspended
 * process's executable (the method of Detours'
 * DetourCreateProcessWithDlls): pe/ plans the new table, this finds the
 * image, places the table within 2 GiB of it and points the headers at it.
 *
 * @module
 */

import { HeapshiftError } from "./heapshift_error.ts";
import { MEM, PAGE, type RemoteMemory } from "../ffi/mod.ts";
import {
  type FirstImport,
  mappedSource,
  PeError,
  planFirstImports,
} from "../pe/mod.ts";
import { peKind } from "./_image_kind.ts";

/** The base address of the (only) non-DLL image mapped in `memory`. */
export function findExeImage(memory: RemoteMemory, exe: string): bigint {
  let addr = 0x10000n;
  for (;;) {
    const r = memory.query(addr);
    if (!r) break;
    if (r.type === MEM.IMAGE && r.base === r.allocationBase) {
      const kind = peKind(memory.read(r.base, 0x400));
      if (kind && !kind.dll) return r.base;
    }
    const next = r.base + r.size;
    if (next <= addr) break;
    addr = next;
  }
  throw new HeapshiftError(
    "failed",
    `Cannot launch ${exe}: its image is not mapped in the suspended process`,
  );
}

/** Where {@linkcode allocNear} allocates, and for whom (for messages). */
interface NearRange {
  size: number;
  from: bigint;
  limit: bigint;
  exe: string;
}

/** Allocates `size` bytes at a 64 KiB boundary above `from`, below `limit`. */
function allocNear(memory: RemoteMemory, range: NearRange): bigint {
  const { size, from, limit } = range;
  const GRAIN = 0x10000n;
  let addr = (from + GRAIN - 1n) / GRAIN * GRAIN;
  while (addr + BigInt(size) < limit) {
    const r = memory.query(addr);
    if (!r) break;
    if (r.state === MEM.FREE) {
      const at = (r.base + GRAIN - 1n) / GRAIN * GRAIN;
      if (at + BigInt(size) <= r.base + r.size) {
        const got = memory.tryAlloc(size, { at });
        if (got !== 0n) return got;
      }
    }
    addr = r.base + r.size;
  }
  throw new HeapshiftError(
    "failed",
    `Cannot launch ${range.exe}: no free memory for the new import table within 2 GiB of its image`,
  );
}

/** The executable image to add imports to, for {@linkcode addImports}. */
export interface ExeImage {
  /** Its path, for messages. */
  exe: string;
  /** Its base address in the suspended process. */
  base: bigint;
  /** The DLLs to put first. */
  dlls: FirstImport[];
}

/**
 * Puts `dlls` first in the in-memory import table of the image at `base`
 * (PE32 or PE32+; see pe/loaded_imports.ts): the new table goes in a block
 * above the image, within 2 GiB (RVAs are 32 bits; a 32-bit process's
 * memory ends at 4 GiB anyway), and the headers are pointed at it.
 */
export function addImports(memory: RemoteMemory, image: ExeImage): void {
  const { exe, base, dlls } = image;
  const src = mappedSource((rva, length) =>
    memory.read(base + BigInt(rva), length)
  );
  let plan;
  try {
    plan = planFirstImports(src, dlls);
  } catch (e) {
    if (!(e instanceof PeError)) throw e;
    throw new HeapshiftError(
      "failed",
      `Cannot launch ${exe}: its import table in memory is malformed (${e.message})`,
      { cause: e },
    );
  }
  const limit = base + 0x8000_0000n;
  const block = allocNear(memory, {
    size: plan.size,
    from: base + BigInt(plan.sizeOfImage),
    limit: plan.format === "PE32" && limit > FOUR_GIB ? FOUR_GIB : limit,
    exe,
  });
  const placed = plan.place(Number(block - base));
  try {
    memory.write(block, placed.block.bytes);
  } catch (e) {
    memory.free(block);
    throw e;
  }
  const headers = base + BigInt(placed.headers.rva);
  const size = placed.headers.bytes.length;
  const prev = memory.protect(headers, { size, protect: PAGE.READWRITE });
  try {
    memory.write(headers, placed.headers.bytes);
  } finally {
    memory.protect(headers, { size, protect: prev });
  }
}

const FOUR_GIB = 0x1_0000_0000n;
