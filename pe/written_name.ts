/**
 * The one rule for names the writer of this package cannot write: every
 * file is written through a temporary file beside it,
 * `.<name>.<8 hex digits>.tmp`, whose name is 14 longer than the file's,
 * and a file system gives a name at most 255. Callers that name files
 * check with it before writing, to say which of their options to change.
 *
 * @module
 */

import { posix, win32 } from "node:path";

/** The longest name a file system gives a file (NTFS, ext4 and others). */
const NAME_MAX = 255;
/** How much longer the temporary file's name is: `.<name>.<8 hex>.tmp`. */
const TEMPORARY_EXTRA = 14;

/** Why a file's name is too long to write, from {@linkcode writtenNameTooLong}. */
export interface NameTooLong {
  /** The name's length in `unit`s. */
  length: number;
  /**
   * How names are counted: in UTF-16 units on Windows (NTFS), in UTF-8
   * bytes elsewhere (Linux's file systems).
   */
  unit: "characters" | "bytes";
  /** The longest name that can be written, in `unit`s (241). */
  max: number;
  /**
   * The longest name a file may have at all (255): a name over it names
   * no file there is, and looking one up fails too.
   */
  nameMax: number;
  /**
   * Why, in words: "its name is 242 bytes, and the temporary file it is
   * written through is named 14 longer, over the 255 a file name may
   * have".
   */
  why: string;
}

/**
 * Whether the file at `path` can be written by this package's writer
 * ({@linkcode writeFileAtomic}, {@linkcode patchImports} and
 * {@linkcode removeImport}, for the file and its backup): `undefined` when
 * it can, else why not and the longest name that can. Its name is counted
 * as Windows (`options.windows`, default: this system) or Linux counts it:
 * the system's own error would say nothing of the temporary file (Linux
 * "file name too long", of a name the caller never gave; Wine "not
 * found").
 *
 * @example Refuse an output name before writing anything
 * ```ts
 * import { writtenNameTooLong } from "@heapshift/heapshift/pe";
 * const out = `${"g".repeat(238)}.exe`;
 * const tooLong = writtenNameTooLong(out, { windows: true });
 * if (tooLong) {
 *   console.log(`${tooLong.why}: at most ${tooLong.max} ${tooLong.unit}`);
 * }
 * ```
 */
export function writtenNameTooLong(
  path: string,
  options: { windows?: boolean } = {},
): NameTooLong | undefined {
  const windows = options.windows ?? Deno.build.os === "windows";
  // ('\' is a name's character off Windows)
  const name = windows ? win32.basename(path) : posix.basename(path);
  const length = windows ? name.length : new TextEncoder().encode(name).length;
  if (length + TEMPORARY_EXTRA <= NAME_MAX) return undefined;
  const unit = windows ? "characters" : "bytes";
  return {
    length,
    unit,
    max: NAME_MAX - TEMPORARY_EXTRA,
    nameMax: NAME_MAX,
    why:
      `its name is ${length} ${unit}, and the temporary file it is written through is named ${TEMPORARY_EXTRA} longer, over the ${NAME_MAX} a file name may have`,
  };
}
