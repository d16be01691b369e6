/**
 * Helpers shared by the command modules: the Linux-to-Windows bridge
 * options and argument parsers.
 *
 * @module
 */

import { InvalidArgumentError } from "@commander-js/extra-typings";
import { PeError, resolveDllName } from "../pe/mod.ts";
import { UsageError } from "./output.ts";
import { isWindows } from "../ffi/mod.ts";
import { runWindowsHalf } from "./wine_bridge.ts";

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

/** Parses a path option (`--dll PATH`): an empty one is a usage error. */
export function parsePath(value: string): string {
  if (value.trim() === "") throw new InvalidArgumentError("expected a path");
  return value;
}

/**
 * Checks `patch`'s `--dll NAME` and `--postfix TEXT` before any file is
 * read: a name the import table cannot hold is a usage error.
 */
export function checkDllName(opts: { dll?: string; postfix?: string }): void {
  try {
    resolveDllName({ dll: opts.dll, postfix: opts.postfix });
  } catch (e) {
    if (!(e instanceof PeError)) throw e;
    throw new UsageError(
      `${
        opts.postfix !== undefined ? "--dll/--postfix" : "--dll"
      }: ${e.message}`,
    );
  }
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
