/**
 * Helpers shared by the command modules: the Linux-to-Windows bridge
 * options and argument parsers.
 *
 * @module
 */

import { InvalidArgumentError } from "@commander-js/extra-typings";
import { isWindows, runWindowsHalf } from "./platform.ts";

let currentArgsList: string[] = [];

/** Bridge options every Windows command accepts (used on Linux only). */
interface BridgeOpts {
  prefix?: string;
  wineEnv?: string;
}

/**
 * On Linux, runs this same command line with the Windows Deno under Wine
 * and returns its exit code; on Windows returns undefined (run it here).
 */
export async function forward(opts: BridgeOpts): Promise<number | undefined> {
  if (isWindows) return undefined;
  return await runWindowsHalf(currentArgsList, {
    prefix: opts.prefix,
    wineEnv: opts.wineEnv,
  });
}

/** Help of `--prefix` (the Linux bridge to the user's Wine prefix). */
export const PREFIX_HELP =
  "on Linux: the Wine/Proton prefix the program runs in (default $WINEPREFIX)";
/** Help of `--wine-env` (the Linux bridge to the project's environment). */
export const WINE_ENV_HELP =
  "on Linux: run in the project's Wine environment, prefix NAME";

/** Parses a pid argument. */
export function parsePid(value: string): number {
  if (
    !/^\d+$/.test(value) || Number(value) <= 0 || Number(value) > 0xffffffff
  ) {
    throw new InvalidArgumentError(
      "expected a process id (a positive integer)",
    );
  }
  return Number(value);
}

/** The command line being run. */
export function currentArgs(): string[] {
  return [...currentArgsList];
}

/** Records the command line being run (forwarded as is to the Windows half). */
export function setCurrentArgs(args: string[]): void {
  currentArgsList = args;
}

/** Builds an "Example(s):" help block. */
export function example(...lines: string[]): string {
  return `\nExample${lines.length > 1 ? "s" : ""}:\n${
    lines.map((l) => `  $ ${l}`).join("\n")
  }\n`;
}
