/**
 * The `heapshift` command line: the program and its commands (one module
 * each in cli/commands/), built with commander. cli.ts runs
 * {@linkcode main}; tests call it in-process too.
 *
 * @module
 */

import { Command, CommanderError } from "@commander-js/extra-typings";
import denoJson from "../deno.json" with { type: "json" };
import { HeapshiftError } from "../mod.ts";
import { PeError } from "../pe/mod.ts";
import { example, type SetCode, setCurrentArgs } from "./args.ts";
import { cErr, CliError, shown } from "./output.ts";
import { buildDllCommand } from "./commands/build_dll.ts";
import { demoCommand } from "./commands/demo.ts";
import { doctorCommand } from "./commands/doctor.ts";
import { ejectCommand } from "./commands/eject.ts";
import { importsCommand } from "./commands/imports.ts";
import { injectCommand } from "./commands/inject.ts";
import { launchCommand } from "./commands/launch.ts";
import { modulesCommand } from "./commands/modules.ts";
import { patchCommand } from "./commands/patch.ts";
import { psCommand } from "./commands/ps.ts";
import { specialkCommand } from "./commands/specialk.ts";
import { statsCommand } from "./commands/stats.ts";

/** The CLI's version: deno.json's. */
export const VERSION: string = denoJson.version;

/** The commands, in the order `--help` lists them. */
const COMMANDS: ((program: Command, setCode: SetCode) => void)[] = [
  injectCommand,
  launchCommand,
  patchCommand,
  importsCommand,
  psCommand,
  modulesCommand,
  ejectCommand,
  statsCommand,
  buildDllCommand,
  specialkCommand,
  doctorCommand,
  demoCommand,
];

/** Builds the commander program. `setCode` collects the action's exit code. */
export function buildProgram(setCode: SetCode): Command {
  const program = new Command()
    .name("heapshift")
    .description(
      "Take over a running Windows program's UCRT allocator and hand it to mimalloc.",
    )
    .version(VERSION, "-V, --version")
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride()
    .configureOutput({
      writeOut: (s) => Deno.stdout.writeSync(new TextEncoder().encode(s)),
      writeErr: (s) => Deno.stderr.writeSync(new TextEncoder().encode(s)),
      outputError: (s, write) => write(shownUsageError(s)),
    })
    .addHelpText(
      "after",
      example(
        "deno task demo",
        "deno run -A cli.ts inject game.exe",
        "deno run -A cli.ts stats 1234 --watch",
      ),
    );
  for (const register of COMMANDS) register(program, setCode);
  return program;
}

/**
 * Commander's error message `text` (ending in a line break) escaped as
 * {@linkcode shown} does: it quotes the user's own text (an unknown option
 * or command, excess arguments, a value a parser refused), which may be a
 * name pasted from elsewhere. Commander's own line break before its
 * suggestion of one of our options or commands stays; a line break in the
 * user's text does not (the suggestion holds no quote, what commander
 * quotes is followed by one).
 */
function shownUsageError(text: string): string {
  const [, message, suggestion] =
    /^([\s\S]*?)(?:\n(\(Did you mean [^'\n]*\?\)))?\n?$/.exec(text)!;
  return `${shown(message)}\n${
    suggestion === undefined ? "" : `${shown(suggestion)}\n`
  }`;
}

/** Maps an error to an exit code, printing its one-line reason. */
export function reportError(e: unknown): number {
  if (e instanceof CommanderError) {
    if (
      e.code === "commander.helpDisplayed" || e.code === "commander.version" ||
      (e.code === "commander.help" && e.exitCode === 0)
    ) return 0;
    // Commander already printed the reason (or, for no command at all, the
    // help on stderr).
    return 2;
  }
  if (
    e instanceof Deno.errors.BrokenPipe ||
    (e instanceof Error && /os error 233|broken pipe/i.test(e.message))
  ) {
    return 0; // stdout closed early (e.g. piped into head): not a failure
  }
  let code = 1;
  let msg: string;
  // Ours are one line: a line break in one is a name's, escaped with the
  // rest of what shown() escapes (a file or process name may hold U+202E).
  if (e instanceof CliError) {
    code = e.exitCode;
    msg = shown(e.message);
  } else if (e instanceof PeError) {
    msg = shown(e.message);
  } else if (e instanceof HeapshiftError) {
    msg = shown(e.message);
  } else if (e instanceof Deno.errors.NotFound) {
    msg = shown(e.message);
  } else if (e instanceof Error) {
    msg = shown(`${e.name}: ${e.message}`.split("\n")[0]);
  } else msg = shown(String(e).split("\n")[0]);
  console.error(`${cErr.red("error:")} ${msg}`);
  if (Deno.env.get("HEAPSHIFT_DEBUG") && e instanceof Error) {
    console.error(e.stack);
  }
  return code;
}

/** Runs the CLI on `args`; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  setCurrentArgs(args);
  let code = 0;
  const program = buildProgram((n) => code = n);
  try {
    await program.parseAsync(args, { from: "user" });
  } catch (e) {
    return reportError(e);
  }
  return code;
}
