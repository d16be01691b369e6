/**
 * Error types of the PE reader and patcher.
 *
 * @module
 */

/**
 * Base class of every error the PE reader and patcher throw on purpose.
 *
 * @example Tell PE problems from other failures
 * ```ts
 * import { patchImports, PeError } from "@heapshift/heapshift/pe";
 * try {
 *   await patchImports("game.exe");
 * } catch (e) {
 *   if (!(e instanceof PeError)) throw e;
 *   console.error(`cannot patch game.exe: ${e.message}`);
 * }
 * ```
 */
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
 *
 * @example Report where a file is broken
 * ```ts
 * import { patchImports, PeFormatError } from "@heapshift/heapshift/pe";
 * try {
 *   await patchImports("suspect.exe");
 * } catch (e) {
 *   if (!(e instanceof PeFormatError)) throw e;
 *   console.error(`not a valid PE: ${e.field} at offset ${e.offset}`);
 * }
 * ```
 */
export class PeFormatError extends PeError {
  /** The error name. */
  override name = "PeFormatError";
  /** The header field or structure at fault, e.g. `IMAGE_DOS_HEADER.e_magic`. */
  readonly field: string;
  /** File offset of the faulty field, or -1 when there is none. */
  readonly offset: number;
  /** What is wrong there, in words. */
  readonly problem: string;
  /** The file it was read from, when the reader was given a path. */
  readonly file?: string;

  /**
   * Builds the error; the message names the field and the offset, and the
   * file when `options.file` gives one.
   */
  constructor(
    field: string,
    offset: number,
    problem: string,
    options?: ErrorOptions & { file?: string },
  ) {
    const where = `${field}${
      offset >= 0 ? ` at 0x${offset.toString(16)}` : ""
    }: ${problem}`;
    super(
      options?.file === undefined
        ? where
        : `Cannot read ${options.file}: not a valid Windows executable or DLL (${where})`,
      options,
    );
    this.field = field;
    this.offset = offset;
    this.problem = problem;
    if (options?.file !== undefined) this.file = options.file;
  }
}

/**
 * The file is a valid PE but cannot be patched as asked, e.g. there is no
 * room for another section header or the DLL to remove was not added by
 * heapshift.
 *
 * @example Removing a DLL that heapshift did not add
 * ```ts
 * import { PePatchError, removeImport } from "@heapshift/heapshift/pe";
 * try {
 *   await removeImport("game.exe", { dll: "steam_api64.dll" });
 * } catch (e) {
 *   if (!(e instanceof PePatchError)) throw e;
 *   console.error(e.message); // pass allowForeign to remove it anyway
 * }
 * ```
 */
export class PePatchError extends PeError {
  /** The error name. */
  override name = "PePatchError";
}

/**
 * The output (or backup) file exists and `force` was not given.
 *
 * @example Ask before overwriting
 * ```ts
 * import { OutputExistsError, patchImports } from "@heapshift/heapshift/pe";
 * try {
 *   await patchImports("game.exe", { output: "game.patched.exe" });
 * } catch (e) {
 *   if (!(e instanceof OutputExistsError)) throw e;
 *   if (confirm(`${e.path} exists. Overwrite?`)) {
 *     await patchImports("game.exe", { output: e.path, force: true });
 *   }
 * }
 * ```
 */
export class OutputExistsError extends PeError {
  /** The error name. */
  override name = "OutputExistsError";
  /** The path that already exists. */
  readonly path: string;

  /** Builds the error for `path`. */
  constructor(path: string) {
    super(
      `Cannot write ${path}: it already exists (pass force, or --force on the command line, to overwrite it)`,
    );
    this.path = path;
  }
}

/**
 * A path the PE functions cannot use: missing, not a regular file (a
 * directory, a FIFO, a device), a link they will not write through, or a
 * write that failed. The message names `path`, the path as the caller gave
 * it, never a temporary file.
 *
 * @example Tell a bad path from a bad file
 * ```ts
 * import { patchImports, PeFileError } from "@heapshift/heapshift/pe";
 * try {
 *   await patchImports("game.exe", { output: "out/game.exe" });
 * } catch (e) {
 *   if (!(e instanceof PeFileError)) throw e;
 *   console.error(`${e.path}: ${e.reason}`);
 * }
 * ```
 */
export class PeFileError extends PeError {
  /** The error name. */
  override name = "PeFileError";
  /** The path at fault. */
  readonly path: string;
  /** What could not be done to it, e.g. `write`. */
  readonly action: string;
  /** What went wrong, in words, e.g. `no such file`. */
  readonly reason: string;

  /**
   * Builds the error: "Cannot `what.action` `path`: `what.reason`".
   */
  constructor(
    path: string,
    what: { action: string; reason: string },
    options?: ErrorOptions,
  ) {
    super(`Cannot ${what.action} ${path}: ${what.reason}`, options);
    this.path = path;
    this.action = what.action;
    this.reason = what.reason;
  }
}
