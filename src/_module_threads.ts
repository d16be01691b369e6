/**
 * The threads of a process that run in a given module (internal): eject
 * must not unmap a DLL whose code a thread is still running, or will
 * return to.
 *
 * @module
 */

import {
  type Handle,
  type MemoryRegion,
  openThread,
  STILL_ACTIVE,
  suspendThread,
  THREAD,
  threadExitCode,
  threadIds,
  threadPosition,
  threadProcessId,
  threadStartAddress,
  Win32Error,
  withDebugPrivilegeRetry,
} from "../ffi/mod.ts";
import { readMappedHeaders } from "../pe/mod.ts";
import type { ModuleInfo } from "./module_list.ts";
import { moduleImage } from "./_remote_exports.ts";
import { isEnded, targetMemory, type TargetProcess } from "./_target.ts";

/** A thread found in a module, and how. */
export interface ThreadInModule {
  tid: number;
  /**
   * `began`: its start routine is in the module (`CreateThread` at one of
   * its functions); `inside`: it is running the module's code now, or its
   * stack holds a return into it (a thread-pool callback, a hook the
   * module installed, a call the program made into it); `unknown`: it
   * runs, but could not be opened or looked at (`why`), so it may be in
   * the module.
   */
  how: "began" | "inside" | "unknown";
  /** Why an `unknown` one could not be looked at. */
  why?: string;
}

/** IMAGE_SCN_MEM_EXECUTE. */
const SCN_MEM_EXECUTE = 0x2000_0000;
/** Most of a stack read at once. */
const STACK_READ_MAX = 1 << 20;
/** Most of a stack looked at, from the stack pointer up (a default stack
 * is 1 MiB in all; a fiber's or coroutine's in a larger allocation). */
const STACK_SCAN_MAX = 64 << 20;

/**
 * The running threads of `target` (opened with VM_READ) that run in `mod`
 * ({@linkcode ThreadInModule}). Each is suspended while it is looked at.
 * One that has ended (its object kept by a handle still open), or whose id
 * now names another process's thread, is not listed; one that runs but
 * cannot be opened or looked at is, as `unknown`. Nor is one started
 * through the CRT (`_beginthreadex`, `std::thread`) that is not in the
 * module's code now: the CRT holds a
 * reference to the module while it runs, so FreeLibrary leaves the module
 * mapped. A thread that enters the module after this look is not seen.
 */
export function threadsInModule(
  target: TargetProcess,
  mod: ModuleInfo,
  look: ThreadLook = {},
): ThreadInModule[] {
  const { pid } = target;
  const end = mod.base + BigInt(mod.size);
  const code = codeRanges(target, mod);
  const position = look.position ?? threadPosition;
  const memory = targetMemory(target);
  const found: ThreadInModule[] = [];
  for (const tid of threadIds(pid)) {
    let t;
    try {
      t = openForLook(tid);
    } catch (e) {
      // ERROR_INVALID_PARAMETER: no such thread now (it ended since the
      // list was taken). Any other failure leaves it unknown.
      if (!(e instanceof Win32Error && e.code === 87)) {
        found.push({
          tid,
          how: "unknown",
          why: e instanceof Error ? e.message : String(e),
        });
      }
      continue;
    }
    using _t = t;
    try {
      if (threadProcessId(t) !== pid) continue;
      // An exit code of STILL_ACTIVE is a running thread's (or one that
      // ended with it: counted, to be safe).
      if (threadExitCode(t) !== STILL_ACTIVE) continue;
      const start = threadStartAddress(t);
      if (start >= mod.base && start < end) {
        found.push({ tid, how: "began" });
        continue;
      }
      const wow64 = target.arch === "x86";
      // Suspended only while its registers and stack are copied.
      let running: boolean, stack: Uint8Array[];
      {
        using _suspended = suspendThread(t, { wow64 });
        const at = position(t, { wow64 });
        running = inCode(code, at.ip);
        stack = running ? [] : readStack(memory, at.sp);
      }
      if (running || holdsReturn(stack, code, wow64 ? 4 : 8)) {
        found.push({ tid, how: "inside" });
      }
    } catch (e) {
      // The process ended: nothing to look at, and eject cannot go on.
      if (isEnded(e)) throw e;
      // One that ended as it was looked at runs nowhere; one still running
      // that could not be looked at may be in the module.
      if (!ended(t)) {
        found.push({
          tid,
          how: "unknown",
          why: e instanceof Error ? e.message : String(e),
        });
      }
    }
  }
  return found;
}

const LOOK_ACCESS = THREAD.QUERY_INFORMATION | THREAD.SUSPEND_RESUME |
  THREAD.GET_CONTEXT;

/**
 * Opens thread `tid` to look at it; when that is denied, once more with
 * SeDebugPrivilege if the token holds it, as the process was opened
 * (openTarget): the threads of another user's process or of a service
 * are refused as the process is, and would all count as not seen.
 */
function openForLook(tid: number): Handle {
  return withDebugPrivilegeRetry(() => openThread(tid, LOOK_ACCESS));
}

/** How {@linkcode threadsInModule} looks at a thread (tests replace it). */
export interface ThreadLook {
  position?: typeof threadPosition;
}

function ended(t: Handle): boolean {
  try {
    return threadExitCode(t) !== STILL_ACTIVE;
  } catch {
    return false;
  }
}

export interface CodeRanges {
  ranges: [bigint, bigint][];
  /** The module's bytes at an address, as far as they can be read. */
  bytes(address: bigint, length: number): Uint8Array | undefined;
}

/** The module's executable sections, as mapped in the target. */
function codeRanges(target: TargetProcess, mod: ModuleInfo): CodeRanges {
  const image = moduleImage(target, mod);
  const ranges: [bigint, bigint][] = [];
  try {
    for (const s of readMappedHeaders(image).sections) {
      if (!(s.characteristics & SCN_MEM_EXECUTE)) continue;
      const from = mod.base + BigInt(s.virtualAddress);
      ranges.push([from, from + BigInt(s.virtualSize)]);
    }
  } catch (e) {
    if (isEnded(e)) throw e;
    // headers unreadable: the whole image counts as code
    ranges.push([mod.base, mod.base + BigInt(mod.size)]);
  }
  return {
    ranges,
    bytes(address, length) {
      const rva = Number(address - mod.base);
      if (rva < 0 || rva + length > mod.size) return undefined;
      try {
        return image.read(rva, length);
      } catch (e) {
        if (isEnded(e)) throw e;
        return undefined;
      }
    },
  };
}

function inCode(code: CodeRanges, address: bigint): boolean {
  return code.ranges.some(([from, to]) => address >= from && address < to);
}

/** What {@linkcode returnsInto} reads a stack through ({@linkcode targetMemory}). */
export interface StackMemory {
  query(address: bigint): MemoryRegion | null;
  read(address: bigint, length: number): Uint8Array;
}

/** MEM_COMMIT; PAGE_NOACCESS, PAGE_GUARD. */
const MEM_COMMIT = 0x1000;
const PAGE_UNREADABLE = 0x01 | 0x100;

/**
 * Whether the stack from `sp` up holds a return address into the module's
 * code: a value that points there right after a call instruction
 * ({@linkcode readStack}, then {@linkcode holdsReturn}). Stale values
 * above the stack pointer can count too: a refusal that `force`
 * overrides, never a crash.
 */
export function returnsInto(
  memory: StackMemory,
  code: CodeRanges,
  sp: bigint,
  word: 4 | 8,
): boolean {
  return holdsReturn(readStack(memory, sp), code, word);
}

/**
 * A copy of the stack from `sp` up, read region by region up to the end of
 * its allocation (at most {@linkcode STACK_SCAN_MAX}, a megabyte at a
 * time), to be looked at once the thread runs again. A guard page is never
 * read (a read turns its guard off, and the stack could no longer grow:
 * the program's next new stack page would be an access violation), nor a
 * page that cannot be read.
 */
export function readStack(memory: StackMemory, sp: bigint): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  const first = memory.query(sp);
  if (!first) return chunks;
  const chunk = BigInt(STACK_READ_MAX);
  const last = sp + BigInt(STACK_SCAN_MAX);
  for (let at = sp, region = first; at < last;) {
    const top = region.base + region.size;
    if (
      region.state === MEM_COMMIT && !(region.protect & PAGE_UNREADABLE)
    ) {
      for (; at < top && at < last; at += chunk) {
        const end = [top, last, at + chunk].reduce((x, y) => x < y ? x : y);
        chunks.push(memory.read(at, Number(end - at)));
      }
    }
    // Word-aligned as the stack pointer is, from the next region on.
    at = top;
    const next = memory.query(top);
    if (
      !next || next.allocationBase !== first.allocationBase ||
      next.base + next.size <= top
    ) break;
    region = next;
  }
  return chunks;
}

/** Whether a word of `chunks` is a return address into the module's code. */
export function holdsReturn(
  chunks: Uint8Array[],
  code: CodeRanges,
  word: 4 | 8,
): boolean {
  for (const stack of chunks) {
    const view = new DataView(stack.buffer, stack.byteOffset, stack.byteLength);
    for (let i = 0; i + word <= stack.length; i += word) {
      const value = word === 8
        ? view.getBigUint64(i, true)
        : BigInt(view.getUint32(i, true));
      if (inCode(code, value) && afterCall(code, value)) return true;
    }
  }
  return false;
}

/**
 * Whether the instruction before `address` is a call: `E8 rel32`, or
 * `FF /2` with its ModRM operand (register, memory, RIP-relative, SIB,
 * displacements), with or without a REX prefix. A stack walker's test
 * of a return address.
 */
export function afterCall(
  code: { bytes(address: bigint, length: number): Uint8Array | undefined },
  address: bigint,
): boolean {
  const b = code.bytes(address - 7n, 7);
  if (!b) return false;
  if (b[2] === 0xe8) return true;
  for (let k = 2; k <= 7; k++) {
    if (b[7 - k] !== 0xff) continue;
    const modrm = b[7 - k + 1];
    if (((modrm >> 3) & 7) !== 2) continue;
    if (1 + modrmLength(b, 7 - k + 1) === k) return true;
  }
  return false;
}

/** Bytes of a ModRM operand at `b[at]`: ModRM, SIB, displacement. */
function modrmLength(b: Uint8Array, at: number): number {
  const modrm = b[at];
  const mod = modrm >> 6;
  const rm = modrm & 7;
  if (mod === 3) return 1;
  let n = 1;
  if (rm === 4) {
    n++;
    const sib = at + 1 < b.length ? b[at + 1] : 0;
    if (mod === 0 && (sib & 7) === 5) n += 4;
  } else if (mod === 0 && rm === 5) {
    n += 4;
  }
  if (mod === 1) n += 1;
  if (mod === 2) n += 4;
  return n;
}
