// An edited copy of a PE file, described rather than built (internal):
// literal pieces (headers, the new section, padding) and ranges of the
// input, with small patches over those ranges. It is rendered to bytes, or
// streamed to a file so that a 100 MB program is read once and never held
// in memory.

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

const CHUNK = 1 << 20;

/** An output file as pieces in order; see the module comment. */
export class Output {
  #pieces: Piece[] = [];
  #patches: Patch[] = [];
  /** Size so far. */
  size = 0;
  /** File offset of the CheckSum field to recompute, or -1 to keep it. */
  checksumAt = -1;

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
    const out = new Uint8Array(this.size);
    for (const p of this.#pieces) {
      out.set(p.bytes ?? src.read(p.from!, p.length), p.at);
    }
    for (const q of this.#patches) out.set(q.bytes, q.at);
    if (this.checksumAt >= 0) {
      put32(out, this.checksumAt, peChecksum(out, this.checksumAt));
    }
    return out;
  }

  /**
   * Writes the output to `file` (empty, positioned at 0), reading the
   * copied ranges from `src` a chunk at a time.
   */
  writeTo(src: ByteSource, file: Deno.FsFile): void {
    const sum = new ChecksumSum();
    if (this.checksumAt >= 0) this.put32(this.checksumAt, 0);
    const buf = new Uint8Array(Math.min(CHUNK, this.size));
    const emit = (b: Uint8Array, at: number) => {
      for (const q of this.#patches) {
        const start = Math.max(at, q.at);
        const end = Math.min(at + b.length, q.at + q.bytes.length);
        if (start < end) {
          b.set(q.bytes.subarray(start - q.at, end - q.at), start - at);
        }
      }
      if (this.checksumAt >= 0) sum.add(b, at);
      writeAll(file, b);
    };
    for (const p of this.#pieces) {
      if (p.bytes) {
        emit(p.bytes, p.at);
        continue;
      }
      for (let done = 0; done < p.length; done += CHUNK) {
        const b = buf.subarray(0, Math.min(CHUNK, p.length - done));
        readInto(src, p.from! + done, b);
        emit(b, p.at + done);
      }
    }
    if (this.checksumAt >= 0) {
      const c = new Uint8Array(4);
      put32(c, 0, sum.checksum(this.size));
      file.seekSync(this.checksumAt, Deno.SeekMode.Start);
      writeAll(file, c);
    }
  }
}

function readInto(src: ByteSource, offset: number, b: Uint8Array): void {
  if (offset + b.length > src.size) {
    throw new PeFormatError("file", src.size, "file shrank while reading");
  }
  if (src.readInto) src.readInto(offset, b);
  else b.set(src.read(offset, b.length));
}

function writeAll(file: Deno.FsFile, b: Uint8Array): void {
  for (let done = 0; done < b.length;) done += file.writeSync(b.subarray(done));
}
