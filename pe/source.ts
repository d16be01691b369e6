/**
 * Random-access byte sources, so the reader only touches the parts of a
 * file it needs.
 *
 * @module
 */

import { PeFormatError } from "./errors.ts";

/** Random access to the bytes of a PE file. */
export interface ByteSource {
  /** Total size in bytes. */
  readonly size: number;
  /**
   * Returns `length` bytes from `offset`; the caller keeps the range inside
   * `size`. The result may be a view into a cache: do not modify it.
   */
  read(offset: number, length: number): Uint8Array;
}

/** A source over bytes already in memory. */
export function bytesSource(bytes: Uint8Array): ByteSource {
  return {
    size: bytes.length,
    read: (offset, length) => bytes.subarray(offset, offset + length),
  };
}

const PAGE = 64 * 1024;
const MAX_PAGES = 64;

/** A source over an open file that reads it in cached 64 KiB pages. */
export class FileSource implements ByteSource, Disposable {
  /** Total size in bytes. */
  readonly size: number;
  /** How many bytes were read from the file so far (for tests and stats). */
  bytesRead = 0;
  #file: Deno.FsFile;
  #pages = new Map<number, Uint8Array>();

  /** Wraps an open file; `size` is its length. */
  constructor(file: Deno.FsFile, size: number) {
    this.#file = file;
    this.size = size;
  }

  /** Opens `path` for reading. */
  static open(path: string | URL): FileSource {
    const file = Deno.openSync(path, { read: true });
    try {
      return new FileSource(file, file.statSync().size);
    } catch (e) {
      file.close();
      throw e;
    }
  }

  /** Returns `length` bytes from `offset`. */
  read(offset: number, length: number): Uint8Array {
    const first = Math.floor(offset / PAGE);
    const last = Math.floor((offset + Math.max(length, 1) - 1) / PAGE);
    if (first === last) {
      const page = this.#page(first);
      const start = offset - first * PAGE;
      return page.subarray(start, start + length);
    }
    const out = new Uint8Array(length);
    let done = 0;
    for (let p = first; p <= last; p++) {
      const page = this.#page(p);
      const start = p === first ? offset - first * PAGE : 0;
      const chunk = page.subarray(start, start + (length - done));
      out.set(chunk, done);
      done += chunk.length;
    }
    return out;
  }

  #page(index: number): Uint8Array {
    const cached = this.#pages.get(index);
    if (cached) return cached;
    const start = index * PAGE;
    const buf = new Uint8Array(Math.min(PAGE, this.size - start));
    this.#file.seekSync(start, Deno.SeekMode.Start);
    let got = 0;
    while (got < buf.length) {
      const n = this.#file.readSync(buf.subarray(got));
      if (n === null || n === 0) {
        throw new PeFormatError(
          "file",
          start + got,
          "file shrank while reading",
        );
      }
      got += n;
    }
    this.bytesRead += buf.length;
    // A small cache is enough: the reader walks a few regions in order.
    if (this.#pages.size >= MAX_PAGES) {
      this.#pages.delete(this.#pages.keys().next().value!);
    }
    this.#pages.set(index, buf);
    return buf;
  }

  /** Closes the file. */
  close(): void {
    this.#file.close();
  }

  /** Closes the file (for `using`). */
  [Symbol.dispose](): void {
    this.close();
  }
}
