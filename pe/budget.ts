/**
 * A budget for reading one file: however its structures point at each
 * other, the readers hand out a bounded number of functions and name bytes,
 * so a small crafted file cannot make them run out of memory or time.
 *
 * @module
 */

import { PeFormatError } from "./errors.ts";
import { cString } from "./_read.ts";
import type { ByteSource } from "./source.ts";

/** Limits of a {@linkcode ReadBudget}. */
export interface ReadLimits {
  /**
   * Imported functions, static and delay-load, over all DLLs (default
   * 262,144; real programs import a few thousand).
   */
  functions?: number;
  /**
   * Bytes of imported, exported and forwarder names handed out, each use of
   * a name counted again (default 32 MiB; the largest real DLLs export a
   * few MiB of names).
   */
  nameBytes?: number;
}

/** Default of {@linkcode ReadLimits.functions}. */
export const MAX_TOTAL_FUNCTIONS = 262144;
/** Default of {@linkcode ReadLimits.nameBytes}. */
export const MAX_TOTAL_NAME_BYTES = 32 * 1024 * 1024;

/** Where a name is and how long it may be. */
export interface NameAt {
  /** File offset of the first character. */
  offset: number;
  /** The field that points to it, for errors. */
  field: string;
  /** Most characters allowed. */
  max: number;
  /** Keep it for later reads of the same offset (default true). */
  cache?: boolean;
}

/**
 * What one read of a file has handed out, against its limits. The readers
 * of one file share one budget; each name is decoded once per file offset,
 * then served from a cache (many entries may point to one string).
 *
 * @example Read with tighter limits
 * ```ts ignore
 * const budget = new ReadBudget({ functions: 10000 });
 * const info = readPe(src, { budget });
 * ```
 */
export class ReadBudget {
  /** Most functions. */
  readonly maxFunctions: number;
  /** Most name bytes. */
  readonly maxNameBytes: number;
  /** Functions handed out so far. */
  functions = 0;
  /** Name bytes handed out so far (with their terminators). */
  nameBytes = 0;
  #names = new Map<number, string>();

  /** A budget with `limits` (defaults: see {@linkcode ReadLimits}). */
  constructor(limits: ReadLimits = {}) {
    this.maxFunctions = limits.functions ?? MAX_TOTAL_FUNCTIONS;
    this.maxNameBytes = limits.nameBytes ?? MAX_TOTAL_NAME_BYTES;
  }

  /**
   * Hint/name entries already read, by RVA: a lookup table may point at
   * one entry many times.
   */
  readonly hintNames: Map<number, { hint: number; name: string }> = new Map();

  /** Counts one imported function; false once over the limit. */
  addFunction(): boolean {
    return ++this.functions <= this.maxFunctions;
  }

  /** Counts one use of a name of `length` characters; false once over. */
  addName(length: number): boolean {
    this.nameBytes += length + 1;
    return this.nameBytes <= this.maxNameBytes;
  }

  /** The error for the limit that was passed, naming `field` at `offset`. */
  exceeded(field: string, offset: number): PeFormatError {
    return new PeFormatError(
      field,
      offset,
      this.functions > this.maxFunctions
        ? `more than ${this.maxFunctions} imported functions in total`
        : `names add up to more than ${this.maxNameBytes} bytes in total`,
    );
  }

  /**
   * The NUL-terminated name at `at.offset` (decoded once, then cached),
   * counted against the name bytes.
   */
  name(src: ByteSource, at: NameAt): string {
    let s = this.#names.get(at.offset);
    if (s === undefined) {
      s = cString(src, at.offset, at.field, at.max);
      if (at.cache !== false) this.#names.set(at.offset, s);
    } else if (s.length > at.max) {
      // The same bytes, read through a field that allows fewer of them.
      throw new PeFormatError(
        at.field,
        at.offset,
        `string longer than ${at.max} bytes`,
      );
    }
    if (!this.addName(s.length)) throw this.exceeded(at.field, at.offset);
    return s;
  }
}
