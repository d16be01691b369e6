// An edited copy of a PE file, described rather than built (internal):
// literal pieces (headers, the new section, padding) and ranges of the
// input, with small patches over those ranges. It is rendered to bytes, or
// streamed to a file so that a 100 MB program is never held in memory.

import { ChecksumSum, peChecksum } from "./checksum.ts";
import { PeFormatError } from "./errors.ts";
import { put16, put32, u32 } from "./_read.ts";
import type { ByteSource } from "./source.ts";

/** Literal bytes, or `length` bytes of the input from offset `from`. */
type Piece =
  & { at: number; length: number }
  & ({ bytes: Uint8Array; from?: undefined } | {
    from: number;
    bytes?: undefined;
  });

/** Bytes written over a copied range. */
interface Patch {
  at: number;
  bytes: Uint8Array;
}

/**
 * How the output's CheckSum field (at `at`) is made: kept as the literal
 * headers hold it; summed over the whole output; or updated from the
 * input's, whose fold was `folded` (its CheckSum minus its length), by
 * what changed, which reads only the changed bytes.
 */
export type ChecksumRule =
  | { kind: "keep" }
  | { kind: "full"; at: number }
  | { kind: "update"; at: number; folded: number };

const CHUNK = 1 << 20;
const M = 0xffff;

/** An output file as pieces in order; see the module comment. */
export class Output {
  #pieces: Piece[] = [];
  #patches: Patch[] = [];
  /** Size so far. */
  size = 0;
  /** How the CheckSum field is made (default: kept). */
  checksum: ChecksumRule = { kind: "keep" };

  /** Appends literal bytes (owned by the output from now on). */
  literal(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    this.#pieces.push({ at: this.size, length: bytes.length, bytes });
    this.size += bytes.length;
  }

  /** Appends `length` bytes of the input from offset `from`. */
  copy(from: number, length: number): void {
    if (length <= 0) return;
    this.#pieces.push({ at: this.size, length, from });
    this.size += length;
  }

  /** Writes `bytes` at output offset `at` (which must exist already). */
  set(bytes: Uint8Array, at: number): void {
    if (at < 0 || at + bytes.length > this.size) {
      throw new RangeError(`write at ${at}+${bytes.length} outside the output`);
    }
    for (const p of this.#pieces) {
      const start = Math.max(at, p.at);
      const end = Math.min(at + bytes.length, p.at + p.length);
      if (start >= end) continue;
      const part = bytes.subarray(start - at, end - at);
      if (p.bytes) p.bytes.set(part, start - p.at);
      else this.#patches.push({ at: start, bytes: part.slice() });
    }
  }

  /** Writes a little-endian u32 at `at`. */
  put32(at: number, v: number): void {
    const b = new Uint8Array(4);
    put32(b, 0, v);
    this.set(b, at);
  }

  /** Writes a little-endian u16 at `at`. */
  put16(at: number, v: number): void {
    const b = new Uint8Array(2);
    put16(b, 0, v);
    this.set(b, at);
  }

  /** Fills `[start, end)` with `v`. */
  fill(v: number, start: number, end: number): void {
    if (end > start) this.set(new Uint8Array(end - start).fill(v), start);
  }

  /** Reads a u32 of a literal piece (the headers the edits rewrite). */
  u32(at: number): number {
    const p = this.#pieces.find((p) => at >= p.at && at + 4 <= p.at + p.length);
    if (!p?.bytes) throw new RangeError(`no literal bytes at ${at}`);
    return u32(p.bytes, at - p.at);
  }

  /** The whole output as bytes, read from `src` where it copies. */
  render(src: ByteSource): Uint8Array {
    this.#updateChecksum(src);
    const out = new Uint8Array(this.size);
    for (const p of this.#pieces) {
      out.set(p.bytes ?? src.read(p.from!, p.length), p.at);
    }
    this.#patch(out, 0);
    if (this.checksum.kind === "full") {
      put32(out, this.checksum.at, peChecksum(out, this.checksum.at));
    }
    return out;
  }

  /**
   * Writes the output to `file` (empty, positioned at 0), reading the
   * copied ranges from `src` a chunk at a time; `signal` stops it between
   * chunks, rejecting with its reason.
   */
  async writeTo(
    src: ByteSource,
    file: Deno.FsFile,
    options: { signal?: AbortSignal } = {},
  ): Promise<void> {
    const { signal } = options;
    this.#updateChecksum(src);
    const rule = this.checksum;
    const sum = rule.kind === "full" ? new ChecksumSum() : undefined;
    if (rule.kind === "full") this.put32(rule.at, 0);
    const buf = new Uint8Array(Math.min(CHUNK, this.size));
    const pause = signal ? pauser() : undefined;
    const emit = async (b: Uint8Array, at: number) => {
      await pause?.();
      signal?.throwIfAborted();
      this.#patch(b, at);
      sum?.add(b, at);
      writeAll(file, b);
    };
    for (const p of this.#pieces) {
      if (p.bytes) {
        await emit(p.bytes, p.at);
        continue;
      }
      for (let done = 0; done < p.length; done += CHUNK) {
        const b = buf.subarray(0, Math.min(CHUNK, p.length - done));
        readInto(src, p.from! + done, b);
        await emit(b, p.at + done);
      }
    }
    if (sum && rule.kind === "full") {
      const c = new Uint8Array(4);
      put32(c, 0, sum.checksum(this.size));
      file.seekSync(rule.at, Deno.SeekMode.Start);
      writeAll(file, c);
    }
  }

  /** Applies the patches that fall in `b`, which sits at output `at`. */
  #patch(b: Uint8Array, at: number): void {
    for (const q of this.#patches) {
      const start = Math.max(at, q.at);
      const end = Math.min(at + b.length, q.at + q.bytes.length);
      if (start < end) {
        b.set(q.bytes.subarray(start - q.at, end - q.at), start - at);
      }
    }
  }

  // The update rule: the input's sum (from its CheckSum), less the input
  // bytes that are not copied, plus the literal bytes, plus what patches
  // change, plus 255 times each range copied to an offset of the other
  // parity. It is written into the literal headers, then kept. Bytes
  // copied twice, or a CheckSum field that is copied, fall back to "full".
  #updateChecksum(src: ByteSource): void {
    const rule = this.checksum;
    if (rule.kind !== "update") return;
    const copies = this.#pieces.filter((p) => p.bytes === undefined)
      .sort((a, b) => a.from! - b.from!);
    const copiedTwice = copies.some((p, i) =>
      i > 0 && p.from! < copies[i - 1].from! + copies[i - 1].length
    );
    const copiesChecksum = copies.some((p) =>
      rule.at + 4 > p.from! && rule.at < p.from! + p.length
    );
    if (copiedTwice || copiesChecksum) {
      this.checksum = { kind: "full", at: rule.at };
      return;
    }
    this.put32(rule.at, 0);
    let sum = rule.folded % M;
    const add = (bytes: Uint8Array, at: number, times: number) => {
      const s = new ChecksumSum();
      s.add(bytes, at);
      sum = (sum + times * s.residue) % M;
    };
    // Input bytes left out, at their input offsets (less the CheckSum,
    // which the input's sum leaves out already).
    const leftOut = (range: [number, number]) => {
      for (const part of without(range, [rule.at, rule.at + 4])) {
        eachChunk(src, part, (bytes, at) => add(bytes, at, M - 1));
      }
    };
    let from = 0;
    for (const p of copies) {
      leftOut([from, p.from!]);
      from = p.from! + p.length;
    }
    leftOut([from, src.size]);
    for (const p of this.#pieces) {
      if (p.bytes) add(p.bytes, p.at, 1);
      else if ((p.at - p.from!) & 1) {
        // At the other parity a byte weighs 256 times more (mod 0xffff).
        eachChunk(
          src,
          [p.from!, p.from! + p.length],
          (b, at) => add(b, at, 255),
        );
      }
    }
    // Patched ranges (merged): their bytes after, less before.
    for (const [a, b] of merged(this.#patches)) {
      const bytes = this.#bytesAt(src, a, b);
      add(bytes, a, M - 1);
      this.#patch(bytes, a);
      add(bytes, a, 1);
    }
    const r = sum % M;
    // An image starts with "MZ": its sum is never 0, so it folds to M.
    const folded = r === 0 ? M : r;
    this.put32(rule.at, folded + this.size);
    this.checksum = { kind: "keep" };
  }

  /** Output bytes `[a, b)` of copied pieces, before any patch. */
  #bytesAt(src: ByteSource, a: number, b: number): Uint8Array {
    const out = new Uint8Array(b - a);
    for (const p of this.#pieces) {
      const start = Math.max(a, p.at);
      const end = Math.min(b, p.at + p.length);
      if (start >= end) continue;
      out.set(
        p.bytes?.subarray(start - p.at, end - p.at) ??
          src.read(p.from! + start - p.at, end - start),
        start - a,
      );
    }
    return out;
  }
}

/** `[a, b)` without `[c, d)`, as up to two ranges. */
function without(
  [a, b]: [number, number],
  [c, d]: [number, number],
): [number, number][] {
  return [[a, Math.min(b, c)], [Math.max(a, d), b]].filter(([x, y]) =>
    x < y
  ) as [number, number][];
}

/** The patches' ranges, sorted and merged where they touch. */
function merged(patches: Patch[]): [number, number][] {
  const ranges = patches.map((q) => [q.at, q.at + q.bytes.length])
    .sort((x, y) => x[0] - y[0]);
  const out: [number, number][] = [];
  for (const [a, b] of ranges) {
    const last = out[out.length - 1];
    if (last && a <= last[1]) last[1] = Math.max(last[1], b);
    else out.push([a, b]);
  }
  return out;
}

/** Calls `fn` with the input bytes of `[a, b)`, a chunk at a time. */
function eachChunk(
  src: ByteSource,
  [a, b]: [number, number],
  fn: (bytes: Uint8Array, at: number) => void,
): void {
  const buf = new Uint8Array(Math.min(CHUNK, Math.max(0, b - a)));
  for (let at = a; at < b; at += CHUNK) {
    const chunk = buf.subarray(0, Math.min(CHUNK, b - at));
    readInto(src, at, chunk);
    fn(chunk, at);
  }
}

/** Reads `b.length` bytes of `src` from `offset` into `b`, uncached. */
export function readInto(
  src: ByteSource,
  offset: number,
  b: Uint8Array,
): void {
  if (offset + b.length > src.size) {
    throw new PeFormatError("file", src.size, "file shrank while reading");
  }
  if (src.readInto) src.readInto(offset, b);
  else b.set(src.read(offset, b.length));
}

/** Writes all of `b` to `file`. */
export function writeAll(file: Deno.FsFile, b: Uint8Array): void {
  for (let done = 0; done < b.length;) done += file.writeSync(b.subarray(done));
}

/** How often a long write lets the event loop run (ms). */
const PAUSE_EVERY_MS = 50;

/**
 * A pause for a long write to call between chunks: every PAUSE_EVERY_MS it
 * lets the event loop run (an interrupt's handler, which may abort the
 * write). Synchronous writes otherwise: an await per chunk made patching
 * deno.exe a third slower.
 */
function pauser(): () => Promise<void> | undefined {
  let last = performance.now();
  return () => {
    const now = performance.now();
    if (now - last < PAUSE_EVERY_MS) return undefined;
    last = now;
    return new Promise((resolve) => setTimeout(resolve, 0));
  };
}
