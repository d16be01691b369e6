/**
 * `inject NAME --wait` ends in the instance of the program that keeps
 * running: the library's wait ({@linkcode takeOverLasting} in
 * src/_lasting_instance.ts), its errors the CLI's and its advice the
 * CLI's options.
 *
 * @module
 */

import {
  type Lasting,
  type LastingSteps,
  takeOverLasting as lasting,
  type TakeoverResult,
} from "../src/_lasting_instance.ts";
import type { HeldInstance, Instance } from "../src/_lasting_instance.ts";
import { CliError } from "./output.ts";
import { crashStatus } from "../mod.ts";

export { heldBy, UNWATCHED } from "../src/_lasting_instance.ts";
export type {
  EndedInstance,
  FindInstance,
  HeldInstance,
  Instance,
  Lasting,
  TakeoverResult,
} from "../src/_lasting_instance.ts";

/** {@linkcode takeOverLasting}'s steps, less what the CLI says itself. */
export type CliLastingSteps<
  R extends TakeoverResult,
  H extends HeldInstance,
> = Omit<
  LastingSteps<R, H>,
  "fail" | "crashOf" | "waitLonger" | "followNoFurther"
>;

/**
 * Takes over `first`, else the first new instance of the program, and the
 * next one while each ends within the watch (src/_lasting_instance.ts),
 * failing with CliErrors that name the CLI's options.
 */
export function takeOverLasting<
  R extends TakeoverResult,
  H extends HeldInstance,
>(
  first: Instance | undefined,
  steps: CliLastingSteps<R, H>,
): Promise<Lasting<R>> {
  return lasting(first, {
    ...steps,
    fail: (text) => new CliError(text),
    crashOf: crashStatus,
    waitLonger: " (--wait SECONDS waits longer)",
    followNoFurther: "`inject` one by its pid, or `launch` it",
  });
}
