/**
 * Output file names Windows would not give the file asked for: a ':'
 * after the drive names an NTFS alternate data stream (`bad:name.exe` is
 * the stream `name.exe` of the file `bad`; under Wine, which has no
 * streams, an error that does not say why); a '.' or a space that ends a
 * name is dropped (`keep.exe.` is `keep.exe`, maybe a file of the user's
 * that `force` would replace); a device's name (`NUL`, `CON.exe`) opens the
 * device. For patchImports' output and the CLI's output options alike.
 * And a name too long for the temporary file pe/ writes a file through
 * (a patched program, its backup), which the CLI checks for the names it
 * derives from a program's too (`<name>.heapshift.exe`, `<exe>.bak`).
 *
 * @module
 */

import { isWindows } from "../ffi/mod.ts";
import { PeFileError, writtenNameTooLong } from "../pe/mod.ts";

/** Why a name will not do, and what to do instead. */
export interface NameProblem {
  why: string;
  advice: string;
}

/**
 * The length of `path`'s prefix that may hold a ':': a drive (`C:`), after
 * `\\?\` or `\\.\` when there is one.
 */
function drivePrefix(path: string): number {
  const device = /^[\\/]{2}[?.][\\/]/.exec(path)?.[0].length ?? 0;
  return /^[a-z]:/i.test(path.slice(device)) ? device + 2 : 0;
}

/**
 * Reserved DOS device names: Windows opens the device for the name, and
 * before Windows 11 for the name with any extension (`CON.exe`), which a
 * file copied there could not be named either. COM0 and LPT0, which only
 * the documentation lists, Windows opens as files.
 */
const DEVICE = /^(CON|PRN|AUX|NUL|COM[1-9¹²³]|LPT[1-9¹²³]|CONIN\$|CONOUT\$)$/i;

/**
 * What is wrong, on Windows (`options.windows`, default: this system),
 * with writing a file at `path`: a ':' other than its drive's, a file name
 * ending in '.' or ' ', or a device's; `undefined` when nothing is.
 */
export function outputNameProblem(
  path: string,
  options: { windows?: boolean } = {},
): NameProblem | undefined {
  if (!(options.windows ?? isWindows)) return undefined;
  const at = path.indexOf(":", drivePrefix(path));
  if (at >= 0) {
    return {
      why: `the ':' makes it a stream of ${
        path.slice(0, at)
      } (an NTFS alternate data stream), not a file of that name`,
      advice: "choose a name without ':'",
    };
  }
  // After \\?\ a name is taken as it is, trailing dots and all.
  if (/^\\\\\?\\/.test(path)) return undefined;
  const name = path.slice(path.search(/[^\\/]*$/));
  // "." and ".." name directories, which the write refuses
  if (/^\.*$/.test(name)) return undefined;
  const kept = path.replace(/[. ]+$/, "");
  if (kept !== path) {
    return {
      why:
        `Windows drops the '.' and spaces that end a file name: it would be named ${kept}, not ${path}`,
      advice: "choose a name that ends in neither",
    };
  }
  if (DEVICE.test(name.replace(/\..*$/, "").replace(/ +$/, ""))) {
    return {
      why:
        `${name} is a device on Windows (CON, PRN, AUX, NUL, COM1 to COM9, LPT1 to LPT9; before Windows 11 with any extension too), not a file`,
      advice: "choose another name",
    };
  }
  return undefined;
}

/** A {@linkcode NameProblem} with the limit broken, e.g. `at most 241 bytes`. */
export interface LengthProblem extends NameProblem {
  limit: string;
}

/**
 * What is wrong with writing a file at `path` through pe/'s temporary
 * file (a patched program, its backup): the temporary file's name would
 * be longer than a file system allows; `undefined` when nothing is.
 * pe/'s own rule ({@linkcode writtenNameTooLong}), counted for Windows
 * (`options.windows`, default: this system) in UTF-16 units, else in
 * UTF-8 bytes.
 */
export function writtenNameProblem(
  path: string,
  options: { windows?: boolean } = {},
): LengthProblem | undefined {
  const tooLong = writtenNameTooLong(path, {
    windows: options.windows ?? isWindows,
  });
  if (tooLong === undefined) return undefined;
  const limit = `at most ${tooLong.max} ${tooLong.unit}`;
  return { why: tooLong.why, advice: `choose a name of ${limit}`, limit };
}

/** pe/'s failure to write a file for its name, as {@linkcode writtenFailure} finds it. */
export interface WrittenFailure {
  /** The file pe/ could not write. */
  path: string;
  problem: LengthProblem;
  /**
   * What pe/ adds to its words, e.g. `; game.exe is unchanged` (a backup
   * it made and could not remove), or "".
   */
  more: string;
}

/**
 * When `e` is pe/'s failure to write a file whose name is too long for its
 * temporary file (the copy of a program, its backup, the program itself in
 * place: names pe/ derives, which a caller words with its own options), the
 * file and the problem; else undefined. Found as the write fails, not
 * before: an edit that has nothing to write (a program patched already)
 * is not refused.
 */
export function writtenFailure(e: unknown): WrittenFailure | undefined {
  if (!(e instanceof PeFileError) || e.action !== "write") return undefined;
  const problem = writtenNameProblem(e.path);
  if (problem === undefined) return undefined;
  const own = `${problem.why}: ${problem.advice}`;
  const more = e.reason.startsWith(own) ? e.reason.slice(own.length) : "";
  return { path: e.path, problem, more };
}
