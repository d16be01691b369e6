/**
 * `heapshift build-dll`: builds the hook DLL, as `deno task build-dll` does.
 *
 * @module
 */

import type { Command } from "@commander-js/extra-typings";
import { example, type SetCode } from "../args.ts";
import { buildDll } from "../dll.ts";

/** Registers `build-dll`. */
export function buildDllCommand(program: Command, setCode: SetCode): void {
  program.command("build-dll")
    .description("Build the hook DLL (same as `deno task build-dll`).")
    .allowUnknownOption()
    .allowExcessArguments()
    .argument("[args...]", "passed to tasks/build_dll.ts")
    .addHelpText(
      "after",
      example("deno run -A cli.ts build-dll --toolchain mingw"),
    )
    .action(async (args) => {
      setCode(await buildDll(args));
    });
}
