/**
 * Memory of another process: allocate, write, read, protect, query, free.
 * Remote addresses are bigints (they are not pointers in this process).
 *
 * @module
 */

import { checkBool, fail } from "./win32_error.ts";
import type { Handle } from "./handle.ts";
import { kernel32 } from "./library.ts";

/** Allocation types and page protections (winnt.h). */
export const MEM = {
  COMMIT: 0x1000,
  RESERVE: 0x2000,
  RELEASE: 0x8000,
  FREE: 0x10000,
  IMAGE: 0x100_0000,
} as const;

/** Page protections. */
export const PAGE = {
  NOACCESS: 0x01,
  READONLY: 0x02,
  READWRITE: 0x04,
  WRITECOPY: 0x08,
  EXECUTE_READ: 0x20,
  EXECUTE_READWRITE: 0x40,
} as const;

/** Options for {@linkcode RemoteMemory.alloc}. */
export interface AllocOptions {
  /** Page protection (default read-write). */
  protect?: number;
  /** Requested address (0 = anywhere). */
  at?: bigint;
}

/** One MEMORY_BASIC_INFORMATION record. */
export interface MemoryRegion {
  base: bigint;
  allocationBase: bigint;
  allocationProtect: number;
  size: bigint;
  state: number;
  protect: number;
  type: number;
}

/** The address space of a process opened with VM_* rights. */
export class RemoteMemory {
  #process: Handle;

  /** Works on `process`, which the caller keeps owning. */
  constructor(process: Handle) {
    this.#process = process;
  }

  #alloc(size: number, options: AllocOptions): bigint {
    return BigInt(
      kernel32().VirtualAllocEx(
        this.#process.raw,
        options.at ?? 0n,
        BigInt(size),
        MEM.COMMIT | MEM.RESERVE,
        options.protect ?? PAGE.READWRITE,
      ),
    );
  }

  /** `VirtualAllocEx` (commit + reserve); returns the remote address. */
  alloc(size: number, options: AllocOptions = {}): bigint {
    const addr = this.#alloc(size, options);
    if (addr === 0n) fail("VirtualAllocEx");
    return addr;
  }

  /** Like {@linkcode RemoteMemory.alloc} but returns 0n instead of throwing. */
  tryAlloc(size: number, options: AllocOptions = {}): bigint {
    return this.#alloc(size, options);
  }

  /** `VirtualFreeEx(MEM_RELEASE)`. */
  free(address: bigint): void {
    checkBool(
      "VirtualFreeEx",
      kernel32().VirtualFreeEx(this.#process.raw, address, 0n, MEM.RELEASE),
    );
  }

  /** `WriteProcessMemory` of all of `data`. */
  write(address: bigint, data: Uint8Array): void {
    const written = new BigUint64Array(1);
    checkBool(
      "WriteProcessMemory",
      kernel32().WriteProcessMemory(
        this.#process.raw,
        address,
        data,
        BigInt(data.byteLength),
        written,
      ),
    );
  }

  /** `ReadProcessMemory` of `size` bytes. */
  read(address: bigint, size: number): Uint8Array {
    const out = new Uint8Array(size);
    const read = new BigUint64Array(1);
    checkBool(
      "ReadProcessMemory",
      kernel32().ReadProcessMemory(
        this.#process.raw,
        address,
        out,
        BigInt(size),
        read,
      ),
    );
    return out;
  }

  /** `VirtualProtectEx` of `size` bytes; returns the previous protection. */
  protect(address: bigint, options: { size: number; protect: number }): number {
    const old = new Uint32Array(1);
    checkBool(
      "VirtualProtectEx",
      kernel32().VirtualProtectEx(
        this.#process.raw,
        address,
        BigInt(options.size),
        options.protect,
        old,
      ),
    );
    return old[0];
  }

  /** `FlushInstructionCache` after writing code. */
  flush(address: bigint, size: number): void {
    checkBool(
      "FlushInstructionCache",
      kernel32().FlushInstructionCache(
        this.#process.raw,
        address,
        BigInt(size),
      ),
    );
  }

  /** `VirtualQueryEx`; `null` past the end of the address space. */
  query(address: bigint): MemoryRegion | null {
    // MEMORY_BASIC_INFORMATION (x64): BaseAddress 0, AllocationBase 8,
    // AllocationProtect 16, PartitionId 20, RegionSize 24, State 32,
    // Protect 36, Type 40; 48 bytes.
    const buf = new Uint8Array(48);
    const n = kernel32().VirtualQueryEx(
      this.#process.raw,
      address,
      buf,
      BigInt(buf.length),
    );
    if (Number(n) === 0) return null;
    const v = new DataView(buf.buffer);
    return {
      base: v.getBigUint64(0, true),
      allocationBase: v.getBigUint64(8, true),
      allocationProtect: v.getUint32(16, true),
      size: v.getBigUint64(24, true),
      state: v.getUint32(32, true),
      protect: v.getUint32(36, true),
      type: v.getUint32(40, true),
    };
  }
}
