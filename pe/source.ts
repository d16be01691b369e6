/**
 * Random-access byte sources, so the reader only touches the parts of a
 * file it needs.
 *
 * @module
 */

import { PeFileError, PeFormatError } from "./errors.ts";
import { fileProblem, pathText, statRegular } from "./_file.ts";

/** Random access to the bytes of a PE file. */
export interface ByteSource {
  /** Total size in bytes. */
  readonly size: number;
  /**
   * Returns `length` bytes from `offset`; the caller keeps the range inside
   * `size`. The result may be a view into a cache: do not modify it.
   */
  read(offset: number, length: number): Uint8Array;
  /**
   * Copies `target.length` bytes from `offset` into `target`, bypassing any
   * cache (optional: for copying large ranges).
   */
  readInto?(offset: number, target: Uint8Array): void;
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
  #closed = false;

  /** Wraps an open file; `size` is its length. */
  constructor(file: Deno.FsFile, size: number) {
    this.#file = file;
    this.size = size;
  }

  /**
   * Opens `path` for reading. Throws a {@linkcode PeFileError} naming the
   * path unless it is a regular file (or a link to one): a FIFO would block
   * and a device never end.
   */
  static open(path: string | URL): FileSource {
    statRegular(path);
    const name = pathText(path);
    let file: Deno.FsFile;
    try {
      file = Deno.openSync(path, { read: true });
    } catch (e) {
      throw new PeFileError(name, {
        action: "read",
        reason: fileProblem(e),
      }, { cause: e });
    }
    try {
      const info = file.statSync();
      // Replaced between the check and the open.
      if (!info.isFile) {
        throw new PeFileError(name, {
          action: "read",
          reason: "it is not a regular file",
        });
      }
      return new FileSource(file, info.size);
    } catch (e) {
      file.close();
      throw e;
    }
  }

  /** Copies bytes from `offset` into `target`, without caching them. */
  readInto(offset: number, target: Uint8Array): void {
    this.#file.seekSync(offset, Deno.SeekMode.Start);
    let got = 0;
    while (got < target.length) {
      const n = this.#file.readSync(target.subarray(got));
      if (n === null || n === 0) {
        throw new PeFormatError(
          "file",
          offset + got,
          "file shrank while reading",
        );
      }
      got += n;
    }
    this.bytesRead += target.length;
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
    this.readInto(start, buf);
    // A small cache is enough: the reader walks a few regions in order.
    if (this.#pages.size >= MAX_PAGES) {
      this.#pages.delete(this.#pages.keys().next().value!);
    }
    this.#pages.set(index, buf);
    return buf;
  }

  /** Closes the file (again: nothing). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#file.close();
  }

  /** Closes the file (for `using`). */
  [Symbol.dispose](): void {
    this.close();
  }
}
