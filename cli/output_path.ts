/**
 * Output files named on the command line, which Windows would not give the
 * name asked for: a ':' after the drive names an NTFS alternate data
 * stream (`bad:name.exe` is the stream `name.exe` of the file `bad`; under
 * Wine, which has no streams, an error that does not say why); a '.' or a
 * space that ends a name is dropped (`keep.exe.` is `keep.exe`, maybe a
 * file of the user's that --force would replace); a device's name (`NUL`,
 * `CON.exe`) opens the device.
 *
 * @module
 */

import { isWindows } from "../ffi/mod.ts";
import { UsageError } from "./output.ts";

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
 * file copied there could not be named either.
 */
const DEVICE = /^(CON|PRN|AUX|NUL|COM[0-9¹²³]|LPT[0-9¹²³]|CONIN\$|CONOUT\$)$/i;

/**
 * Refuses (a usage error naming `option`), on Windows (`options.windows`,
 * default: this system), an output path that Windows would not give its
 * file: a ':' other than its drive's, a file name ending in '.' or ' ', or
 * a device's. `options.advice`: what to do instead (default: choose
 * another name).
 */
export function checkOutputPath(
  path: string,
  option: string,
  options: { windows?: boolean; advice?: string } = {},
): void {
  if (!(options.windows ?? isWindows)) return;
  const refuse = (why: string, advice: string) =>
    new UsageError(`${option} ${path}: ${why}: ${options.advice ?? advice}`);
  const at = path.indexOf(":", drivePrefix(path));
  if (at >= 0) {
    throw refuse(
      `the ':' makes it a stream of ${
        path.slice(0, at)
      } (an NTFS alternate data stream), not a file of that name`,
      "choose a name without ':'",
    );
  }
  // After \\?\ a name is taken as it is, trailing dots and all.
  if (/^\\\\\?\\/.test(path)) return;
  const name = path.slice(path.search(/[^\\/]*$/));
  // "." and ".." name directories, which the write refuses
  if (/^\.*$/.test(name)) return;
  const kept = path.replace(/[. ]+$/, "");
  if (kept !== path) {
    throw refuse(
      `Windows drops the '.' and spaces that end a file name: it would be named ${kept}, not ${path}`,
      "choose a name that ends in neither",
    );
  }
  if (DEVICE.test(name.replace(/\..*$/, "").replace(/ +$/, ""))) {
    throw refuse(
      `${name} is a device on Windows (CON, PRN, AUX, NUL, COM0 to COM9, LPT0 to LPT9; before Windows 11 with any extension too), not a file`,
      "choose another name",
    );
  }
}
