/**
 * Output files named on the command line that Windows would not give the
 * name asked for (src/_output_name.ts says which), refused as usage errors.
 *
 * @module
 */

import { outputNameProblem, writtenNameProblem } from "../src/_output_name.ts";
import { UsageError } from "./output.ts";

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
  const problem = outputNameProblem(path, { windows: options.windows });
  if (problem === undefined) return;
  throw new UsageError(
    `${option} ${path}: ${problem.why}: ${options.advice ?? problem.advice}`,
  );
}

/**
 * Refuses (a usage error naming `what`) a path whose file pe/ writes
 * through a temporary file beside it (a patched program, its backup),
 * when that temporary file's name would be too long: the write would
 * fail before anything is written, and pe/'s message could not say which
 * option to change.
 * `options.advice(limit)`: what to do instead, given the limit (`at most
 * 241 bytes`; default: choose a name of that length).
 */
export function checkWrittenName(
  path: string,
  what: string,
  options: { windows?: boolean; advice?: (limit: string) => string } = {},
): void {
  const problem = writtenNameProblem(path, { windows: options.windows });
  if (problem === undefined) return;
  throw new UsageError(
    `${what} ${path}: ${problem.why}: ${
      options.advice?.(problem.limit) ?? problem.advice
    }`,
  );
}
