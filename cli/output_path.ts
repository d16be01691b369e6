/**
 * Output files named on the command line: on Windows a ':' after the
 * drive names an NTFS alternate data stream (`bad:name.exe` is the stream
 * `name.exe` of the file `bad`), so the user would get no file of the name
 * asked for; and under Wine, which has no streams, an error that does not
 * say why.
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
 * Refuses (a usage error naming `option`) an output path with a ':' other
 * than its drive's, on Windows (`options.windows`, default: this system).
 * `options.advice`: what to do instead (default: choose another name).
 */
export function checkOutputPath(
  path: string,
  option: string,
  options: { windows?: boolean; advice?: string } = {},
): void {
  if (!(options.windows ?? isWindows)) return;
  const at = path.indexOf(":", drivePrefix(path));
  if (at < 0) return;
  throw new UsageError(
    `${option} ${path}: the ':' makes it a stream of ${
      path.slice(0, at)
    } (an NTFS alternate data stream), not a file of that name: ${
      options.advice ?? "choose a name without ':'"
    }`,
  );
}
