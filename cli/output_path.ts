/**
 * Output files named on the command line that Windows would not give the
 * name asked for (src/_output_name.ts says which), refused as usage errors.
 *
 * @module
 */

import { outputNameProblem } from "../src/_output_name.ts";
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
