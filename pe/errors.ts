/**
 * Error types of the PE reader and patcher.
 *
 * @module
 */

/** Base class of every error this package throws on purpose. */
export class PeError extends Error {
  /** The error name. */
  override name = "PeError";
}

/**
 * The input is not a well-formed PE file: it is truncated, has a bad magic
 * number, points outside the file, loops or claims an absurd count.
 *
 * `field` names the structure member that is wrong and `offset` is the file
 * offset where it was read (or -1 when it has no single offset).
 */
export class PeFormatError extends PeError {
  /** The error name. */
  override name = "PeFormatError";
  /** The header field or structure at fault, e.g. `IMAGE_DOS_HEADER.e_magic`. */
  readonly field: string;
  /** File offset of the faulty field, or -1 when there is none. */
  readonly offset: number;

  /** Builds the error; the message names the field and the offset. */
  constructor(field: string, offset: number, problem: string) {
    super(
      `${field}${
        offset >= 0 ? ` at 0x${offset.toString(16)}` : ""
      }: ${problem}`,
    );
    this.field = field;
    this.offset = offset;
  }
}

/**
 * The file is a valid PE but cannot be patched as asked, e.g. there is no
 * room for another section header or the DLL to remove was not added by
 * heapshift.
 */
export class PePatchError extends PeError {
  /** The error name. */
  override name = "PePatchError";
}

/** The output (or backup) file exists and `force` was not given. */
export class OutputExistsError extends PeError {
  /** The error name. */
  override name = "OutputExistsError";
  /** The path that already exists. */
  readonly path: string;

  /** Builds the error for `path`. */
  constructor(path: string) {
    super(`${path} already exists (use force to overwrite)`);
    this.path = path;
  }
}
