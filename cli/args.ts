/**
 * Arguments shared by the command modules: the command line being run,
 * the parsers of common values and the help's examples.
 *
 * @module
 */

import {
  type Command,
  InvalidArgumentError,
  type OptionValues,
} from "@commander-js/extra-typings";

let currentArgsList: string[] = [];

/** The command line being run. */
export function currentArgs(): string[] {
  return [...currentArgsList];
}

/** Records the command line being run (forwarded as is to the Windows half). */
export function setCurrentArgs(args: string[]): void {
  currentArgsList = args;
}

/**
 * Refuses `--<name>` with `--no-<name>` on one command line, in the words
 * of commander's own refusal of options that `.conflicts()`: the two set
 * one value (commander would keep the last given), so neither can name
 * the other as conflicting. `options.what` ends the message: what to do.
 */
export function refuseBothHalves<
  A extends unknown[],
  O extends OptionValues,
  G extends OptionValues,
>(command: Command<A, O, G>, name: string, options: { what: string }): void {
  const given = new Set<string>();
  for (const flag of [name, `no-${name}`]) {
    command.on(`option:${flag}`, () => given.add(flag));
  }
  command.hook("preAction", (_, action) => {
    const both = given.size === 2;
    given.clear();
    if (!both) return;
    action.error(
      `error: option '--${name}' cannot be used with option '--no-${name}': ${options.what}`,
      { code: "commander.conflictingOption" },
    );
  });
}

/** What a command's action reports: its exit code. */
export type SetCode = (code: number) => void;

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

/** Parses a name (`ps NAME`, a module): an empty one is a usage error. */
export function parseName(value: string): string {
  if (value.trim() === "") throw new InvalidArgumentError("expected a name");
  return value;
}

/**
 * Parses a prefix name of the project's Wine environment (`--wine-env`):
 * what tasks/winenv.ts's runInEnv accepts, a usage error otherwise.
 */
export function parseWineEnv(value: string): string {
  if (!/^[\w.-]+$/.test(value)) {
    throw new InvalidArgumentError(
      "expected a prefix name of letters, digits, '_', '.' and '-', such as default",
    );
  }
  return value;
}

/** A parser of numbers > 0; `what` names them in the error ("seconds"). */
function positive(what?: string): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0) {
      throw new InvalidArgumentError(
        `expected a number${what ? ` of ${what}` : ""} > 0`,
      );
    }
    return n;
  };
}

/** Parses a number of seconds > 0. */
export const parseSeconds: (value: string) => number = positive("seconds");

/**
 * Parses `--wait [seconds]` (inject). Its value is optional, so before the
 * target (`inject --wait game.exe`) it takes the target: say where it goes.
 */
export function parseWaitSeconds(value: string): number {
  if (!Number.isNaN(Number(value))) return parseSeconds(value);
  throw new InvalidArgumentError(
    `expected a number of seconds > 0 (to wait the default 60 s for ${value}, put --wait after it: inject ${value} --wait)`,
  );
}

/** Parses a number > 0. */
export const parsePositive: (value: string) => number = positive();

/**
 * A parser of whole numbers from 1 to `max` written in decimal digits
 * (`2.5`, `1e3` and `0x10` are refused).
 */
export function countUpTo(max: number): (value: string) => number {
  return (value) => {
    if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > max) {
      throw new InvalidArgumentError(
        `expected a whole number from 1 to ${max}`,
      );
    }
    return Number(value);
  };
}

/** Collects a repeatable option's values. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** Builds an "Example(s):" help block. */
export function example(...lines: string[]): string {
  return `\nExample${lines.length > 1 ? "s" : ""}:\n${
    lines.map((l) => `  $ ${l}`).join("\n")
  }\n`;
}
