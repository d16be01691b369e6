/**
 * The deno tasks' own command lines: `--help` prints the usage and does
 * nothing else; an argument a task cannot run with is refused (exit 2)
 * before any work, naming it and pointing at `--help`.
 *
 * @module
 */

import { parseArgs, type ParseArgsConfig } from "node:util";

/** An argument a deno task cannot run with: exit code 2. */
export class TaskArgsError extends Error {
  override name = "TaskArgsError";
}

/** The options of {@linkcode parseTaskArgs}, as `node:util`'s. */
export type TaskOptions = NonNullable<ParseArgsConfig["options"]>;

/**
 * Whether `args` ask for the usage: `--help` or `-h` anywhere before a
 * `--` (what follows one is another program's).
 */
export function wantsHelp(args: string[]): boolean {
  const end = args.indexOf("--");
  return (end < 0 ? args : args.slice(0, end)).some((a) =>
    a === "--help" || a === "-h"
  );
}

/** What `deno task <task>` prints for `problem` with its arguments. */
export function usageProblem(task: string, problem: string): string {
  return `error: ${problem}\nrun \`deno task ${task} --help\` for the usage`;
}

/**
 * Runs `main` with this program's arguments as `deno task <task>` does,
 * and exits with its code: `--help` ({@linkcode wantsHelp}) prints
 * `options.usage` and runs nothing; a {@linkcode TaskArgsError} from
 * `main` is printed as {@linkcode usageProblem}, exit 2.
 */
export async function runTask(
  task: string,
  main: (args: string[]) => Promise<number> | number,
  options: { usage: string },
): Promise<never> {
  if (wantsHelp(Deno.args)) {
    console.log(options.usage);
    Deno.exit(0);
  }
  let code;
  try {
    code = await main(Deno.args);
  } catch (e) {
    if (!(e instanceof TaskArgsError)) throw e;
    console.error(usageProblem(task, e.message));
    code = 2;
  }
  Deno.exit(code);
}

/**
 * `args` parsed strictly by `node:util`'s `parseArgs`: an unknown option,
 * an option without its value (or with an empty one: no path is ``), or a
 * flag given one throws {@linkcode TaskArgsError} saying which; so does an
 * argument that is no option unless `options.positionals`. Its `tokens`
 * say what each argument is (an option, its value, an operand).
 */
export function parseTaskArgs<T extends TaskOptions>(
  args: string[],
  options: { options: T; positionals?: boolean },
) {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: options.options,
      strict: true,
      allowPositionals: options.positionals ?? false,
      tokens: true,
    });
  } catch (e) {
    throw new TaskArgsError(problemOf(e));
  }
  for (const [name, value] of Object.entries(parsed.values)) {
    if ([value].flat().includes("")) {
      throw new TaskArgsError(`--${name} needs a value`);
    }
  }
  return parsed;
}

/**
 * A task's own options among `args`, parsed as {@linkcode parseTaskArgs}
 * parses (its refusals), and the `rest`, in order, for another parser.
 * Ours are taken anywhere before a `--`; with `options.command`, only
 * before the first operand or `--`: from there (after the `--`) `rest`
 * is a command with options of its own, and every option before it must
 * be ours.
 */
export function splitTaskArgs<T extends TaskOptions>(
  args: string[],
  options: { options: T; command?: boolean },
) {
  // (not strict: another parser's options are no error here)
  const { tokens } = parseArgs({
    args,
    options: options.options,
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  if (options.command) {
    const at = tokens.find((t) => t.kind !== "option");
    const end = at === undefined
      ? args.length
      : at.kind === "positional"
      ? at.index
      : at.index + 1;
    const { values } = parseTaskArgs(
      args.slice(0, at?.index ?? args.length),
      { options: options.options },
    );
    return { values, rest: args.slice(end) };
  }
  const ours = new Set<number>();
  for (const t of tokens) {
    if (t.kind !== "option" || !Object.hasOwn(options.options, t.name)) {
      continue;
    }
    ours.add(t.index);
    // (its value was the next argument)
    if (t.inlineValue === false) ours.add(t.index + 1);
  }
  const { values } = parseTaskArgs(args.filter((_, i) => ours.has(i)), {
    options: options.options,
  });
  return { values, rest: args.filter((_, i) => !ours.has(i)) };
}

/** `parseArgs`'s error, said as the tasks say it. */
function problemOf(e: unknown): string {
  const { code, message } = e as { code?: string; message: string };
  // parseArgs names the argument first, quoted ('--out <value>')
  const arg = /'([^' ]+)/.exec(message)?.[1];
  if (arg === undefined) return message;
  switch (code) {
    case "ERR_PARSE_ARGS_UNKNOWN_OPTION":
      return `unknown option ${arg}`;
    case "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL":
      return `unexpected argument ${arg}`;
    case "ERR_PARSE_ARGS_INVALID_OPTION_VALUE":
      if (/does not take an argument/.test(message)) {
        return `${arg} takes no value`;
      }
      // the next argument is an option: a value of that look goes after =
      return /ambiguous/.test(message)
        ? `${arg} needs a value (one starting with - as ${arg}=VALUE)`
        : `${arg} needs a value`;
    default:
      return message;
  }
}
