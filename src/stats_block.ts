/**
 * Decoding the hook DLL's stats block, layout v1 (declared in
 * dll/heapshift_stats.h, documented in dll/STATS.md). Pure TypeScript.
 *
 * @module
 */

import { HeapshiftError } from "./heapshift_error.ts";

/** "SHST": the block's magic number. */
export const STATS_MAGIC = 0x5453_4853;
/** The layout version this reader understands. */
export const STATS_LAYOUT = 1;
/** The size of the block heapshift.dll writes (readers use the header's). */
export const STATS_SIZE = 69_632;
/** The most of a block a reader maps. */
export const STATS_MAX_SIZE = 1 << 20;

/**
 * What the hook DLL is doing in the process. `failed` goes back to
 * `loading` while a takeover is tried again ({@linkcode reasonMayPass}).
 *
 * @example Is heapshift running?
 * ```ts
 * import { stats } from "@heapshift/heapshift";
 * if (stats(1234).state !== "live") console.error("heapshift is not active");
 * ```
 */
export type HeapshiftState = "loading" | "live" | "disabled" | "failed";

const STATES: HeapshiftState[] = ["loading", "live", "disabled", "failed"];

/**
 * Why heapshift is not live, or what went wrong while its hooks went in
 * (dll/STATS.md): heapshift's own reason, apart from the Win32 error of
 * the call that failed.
 */
export type HeapshiftReason =
  | "no-ucrt"
  | "no-room"
  | "shared-site"
  | "overlapping-sites"
  | "too-many-sites"
  | "thread-in-site"
  | "readback"
  | "protect"
  | "thread-open"
  | "thread-suspend"
  | "thread-context"
  | "too-many-threads"
  | "thread-snapshot"
  | "tls"
  | "unsafe-site"
  | "restore"
  | "foreign-hook"
  | "page-map"
  | "pin"
  | `reason-${number}`;

/** heapshift.dll's reason codes (header offset 72), from 1. */
const REASONS: HeapshiftReason[] = [
  "no-ucrt",
  "no-room",
  "shared-site",
  "overlapping-sites",
  "too-many-sites",
  "thread-in-site",
  "readback",
  "protect",
  "thread-open",
  "thread-suspend",
  "thread-context",
  "too-many-threads",
  "thread-snapshot",
  "tls",
  "unsafe-site",
  "restore",
  "foreign-hook",
  "page-map",
  "pin",
];

/**
 * Whether a takeover that failed for `reason` may succeed if tried again
 * (`inject` asks heapshift to, dll/README.md): a thread was inside a
 * function to patch, or the threads could not all be listed, opened,
 * paused or read. heapshift.dll's `may_pass` has the same list.
 *
 * @example Inject again when the takeover may still succeed
 * ```ts
 * import { inject, reasonMayPass, stats } from "@heapshift/heapshift";
 * const dll = "build/heapshift.dll";
 * await inject(1234, dll);
 * const s = stats(1234);
 * if (s.state === "failed" && reasonMayPass(s.reason)) await inject(1234, dll);
 * ```
 */
export function reasonMayPass(reason: HeapshiftReason | null): boolean {
  return reason !== null && TRANSIENT.has(reason);
}

const TRANSIENT = new Set<HeapshiftReason>([
  "thread-in-site",
  "thread-open",
  "thread-suspend",
  "thread-context",
  "too-many-threads",
  "thread-snapshot",
]);

/**
 * Allocation counters, summed over all threads. A block that a realloc
 * moves counts as one alloc and one free (an in-place resize as nothing),
 * so an old block's migration counts in `allocs`, `frees` and `freesOld`
 * as well as in `migrations`. heapshift does not count the old blocks a
 * program holds (that would mean walking its heap): that they have
 * drained shows as `freesOld` levelling off.
 *
 * @example Share of frees that went to the old heap
 * ```ts
 * import { stats } from "@heapshift/heapshift";
 * const { frees, freesOld } = stats(1234).counters;
 * console.log(`${((100 * freesOld) / Math.max(frees, 1)).toFixed(1)}% old`);
 * ```
 *
 * @example Wait until the old blocks stop draining
 * ```ts
 * import { stats } from "@heapshift/heapshift";
 * let before = -1;
 * let { freesOld } = stats(1234).counters;
 * while (freesOld > before) {
 *   await new Promise((r) => setTimeout(r, 5_000));
 *   [before, freesOld] = [freesOld, stats(1234).counters.freesOld];
 * }
 * console.log(`${freesOld} old blocks freed or moved`);
 * ```
 */
export interface HeapshiftCounters {
  /** Blocks handed out by the hooks (every kind, moves included). */
  allocs: number;
  /** Blocks released through the hooks (every kind, moves included). */
  frees: number;
  /**
   * Of those, blocks of the old heap: allocated before the takeover (or
   * the few the hooks take from it since, when mimalloc cannot get
   * memory, and while the process ends), migrations included.
   */
  freesOld: number;
  /**
   * Old blocks moved into mimalloc by a realloc-kind call (also counted in
   * `freesOld`).
   */
  migrations: number;
  /** Bytes copied by those migrations. */
  migratedBytes: number;
  /** `_expand` calls that returned NULL (no room). */
  expandRejects: number;
}

/**
 * What heapshift's trimmer does with the old (CRT) heap's free pages
 * (dll/STATS.md): `walk` resets the whole pages inside its free blocks
 * (Wine), `optimize` asks the heap itself at each `_heapmin` (Windows'
 * `HeapOptimizeResources`), `free-reset` has no thread but the hooks reset
 * each old block's whole pages as they free it (Wine's default); the
 * others say why it does not run.
 */
export type HeapshiftTrimState =
  | "none"
  | "walk"
  | "optimize"
  | "off"
  | "debug-heap"
  | "unknown-heap"
  | "unsupported"
  | "failed"
  | "small-heap"
  | "free-reset"
  | `state-${number}`;

/** heapshift.dll's trim states (header offset 88), from 0. */
const TRIM_STATES: HeapshiftTrimState[] = [
  "none",
  "walk",
  "optimize",
  "off",
  "debug-heap",
  "unknown-heap",
  "unsupported",
  "failed",
  "small-heap",
  "free-reset",
];

/**
 * The trimmer's state and counters.
 *
 * @example Pages given back
 * ```ts
 * import { stats } from "@heapshift/heapshift";
 * const { trim } = stats(1234);
 * console.log(`${trim.state}: ${(trim.resetBytes / 2 ** 20).toFixed(1)} MiB reset`);
 * ```
 */
export interface HeapshiftTrim {
  /** Running (`walk`, `optimize`), or why not. */
  state: HeapshiftTrimState;
  /** Win32 error of the trimmer's last failed call (0 when none failed). */
  error: number;
  /** Passes over the old heap completed. */
  passes: number;
  /** Bytes of whole free pages reset, over all passes (`walk`). */
  resetBytes: number;
  /** Times the heap lock was taken for a chunk of a walk. */
  chunks: number;
  /** The longest of those holds, in microseconds. */
  holdMaxUs: number;
  /** The old heap's busy blocks at the last walk, in KiB. */
  busyKiB: number;
  /** Its free blocks at the last walk, in KiB. */
  freeKiB: number;
}

/**
 * The stats of heapshift in one process.
 *
 * @example Summarise
 * ```ts
 * import { stats } from "@heapshift/heapshift";
 * const s = stats(1234);
 * console.log(`${s.state} since ${s.liveSince?.toISOString()}, mimalloc ${s.mimallocVersion}`);
 * console.log(`${s.hooked.length} functions hooked at ${s.patchSites} sites`);
 * ```
 */
export interface HeapshiftStats {
  /** The process id the block belongs to. */
  pid: number;
  /**
   * When that process was created, as the block records it (`null` when it
   * does not): with `pid` it names one process, so a pid the system gave
   * to a new process shows as another start.
   */
  processStarted: Date | null;
  /** Loading, live (hooks in), disabled, or failed. */
  state: HeapshiftState;
  /**
   * heapshift's reason when `state` is `failed` (or, with `live`, what went
   * wrong while the hooks went in: `readback`); `null` when nothing did.
   */
  reason: HeapshiftReason | null;
  /** The Win32 error of the call that failed (0 when none did). */
  error: number;
  /** mimalloc's version, e.g. `2.1.2`. */
  mimallocVersion: string;
  /** heapshift.dll's version, e.g. `0.1.0`. */
  dllVersion: string;
  /** The hooked UCRT exports. */
  hooked: string[];
  /** Number of distinct code sites patched. */
  patchSites: number;
  /** When the hooks went in (`null` before). */
  liveSince: Date | null;
  /** Allocation counters. */
  counters: HeapshiftCounters;
  /** The old heap's trimmer. */
  trim: HeapshiftTrim;
}

/**
 * `MI_MALLOC_VERSION` as text: v1/v2 write major + 2 digits of minor with
 * one of patch (212 = 2.1.2), v3 major + 2 digits minor + 2 digits patch
 * (30401 = 3.4.1).
 */
export function mimallocVersion(n: number): string {
  return n >= 10000
    ? `${Math.floor(n / 10000)}.${Math.floor(n / 100) % 100}.${n % 100}`
    : `${Math.floor(n / 100)}.${Math.floor(n / 10) % 10}.${n % 10}`;
}

/** 1970-01-01 as a FILETIME (100 ns units since 1601). */
const FILETIME_UNIX_EPOCH = 116_444_736_000_000_000n;

/**
 * The instant `ms` after 1970, or null when no Date can hold it (the
 * block is damaged or forged: a Date past ±8.64e15 ms is invalid, and
 * fails to print).
 */
function dateOrNull(ms: number): Date | null {
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? null : d;
}

/** Decodes a stats block of process `pid` (for messages). */
export function parseStats(pid: number, block: Uint8Array): HeapshiftStats {
  const bad = (why: string) =>
    new HeapshiftError(
      "failed",
      `Cannot read heapshift's stats of process ${pid}: ${why}`,
    );
  if (block.byteLength < 128) throw bad("the block is truncated");
  const v = new DataView(block.buffer, block.byteOffset, block.byteLength);
  const u32 = (o: number) => v.getUint32(o, true);
  if (u32(0) !== STATS_MAGIC) {
    throw bad("the block is not initialised (heapshift may still be loading)");
  }
  if (u32(4) !== STATS_LAYOUT) {
    throw bad(
      `the block has layout v${
        u32(4)
      }, this heapshift reads v${STATS_LAYOUT} (update heapshift)`,
    );
  }
  const size = Math.min(u32(8), block.byteLength);
  const stripeCount = u32(36);
  const stripeOffset = u32(40);
  const namesOffset = u32(44);
  const namesSize = u32(48);
  if (
    stripeOffset + 64 * stripeCount > size || namesOffset + namesSize > size
  ) {
    throw bad("the block's offsets are out of range");
  }
  const hooked: string[] = [];
  let at = namesOffset;
  const namesEnd = namesOffset + namesSize;
  while (at < namesEnd && block[at] !== 0 && hooked.length < u32(28)) {
    let end = at;
    while (end < namesEnd && block[end] !== 0) end++;
    hooked.push(new TextDecoder().decode(block.subarray(at, end)));
    at = end + 1;
  }
  // Printed as they are: anything else (a forged block's terminal escape
  // codes) says the block is not heapshift's.
  if (!hooked.every((n) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(n))) {
    throw bad("the block's names of hooked functions are not function names");
  }
  const sum = (index: number): number => {
    let total = 0n;
    for (let s = 0; s < stripeCount; s++) {
      total += v.getBigInt64(stripeOffset + 64 * s + 8 * index, true);
    }
    return Number(total);
  };
  const version = (n: number) =>
    `${(n >> 16) & 0xff}.${(n >> 8) & 0xff}.${n & 0xff}`;
  const mi = u32(20);
  const liveMs = Number(v.getBigUint64(56, true));
  const reason = u32(72);
  const created = v.getBigUint64(80, true);
  return {
    pid: u32(16),
    processStarted: created > FILETIME_UNIX_EPOCH
      ? new Date(Number((created - FILETIME_UNIX_EPOCH) / 10_000n))
      : null,
    state: STATES[u32(12)] ?? "failed",
    reason: reason === 0 ? null : REASONS[reason - 1] ?? `reason-${reason}`,
    error: u32(52),
    mimallocVersion: mimallocVersion(mi),
    dllVersion: version(u32(24)),
    hooked,
    patchSites: u32(32),
    liveSince: liveMs ? dateOrNull(liveMs) : null,
    counters: {
      allocs: sum(0),
      frees: sum(1),
      freesOld: sum(2),
      migrations: sum(3),
      migratedBytes: sum(4),
      expandRejects: sum(5),
    },
    trim: {
      state: TRIM_STATES[u32(88)] ?? `state-${u32(88)}`,
      error: u32(92),
      passes: Number(v.getBigUint64(96, true)),
      resetBytes: Number(v.getBigUint64(104, true)),
      chunks: u32(112),
      holdMaxUs: u32(116),
      busyKiB: u32(120),
      freeKiB: u32(124),
    },
  };
}

/**
 * The creation time (FILETIME) of the process that wrote a block, 0 when
 * the block does not say: with the pid it tells a live process's block
 * from one a dead process with the same pid left behind.
 */
export function statsOwner(block: Uint8Array): bigint {
  if (block.byteLength < 128) return 0n;
  return new DataView(block.buffer, block.byteOffset, block.byteLength)
    .getBigUint64(80, true);
}
