/**
 * Ctrl+C while the CLI waits for a program that shares its console: the
 * program gets the interrupt too, and decides for itself; the CLI stays to
 * report what it decided (its exit code), as a shell does while it runs a
 * program.
 *
 * @module
 */

import { FileSource, readHeaders } from "../pe/mod.ts";

/** The interrupt signals of this system. */
function interrupts(): Deno.Signal[] {
  return Deno.build.os === "windows" ? ["SIGINT", "SIGBREAK"] : ["SIGINT"];
}

/** IMAGE_SUBSYSTEM_WINDOWS_CUI: a program that runs in a console. */
const CONSOLE_SUBSYSTEM = 3;

/**
 * Whether the executable at `path` is a console program (its PE header's
 * subsystem): one that gets our console's Ctrl+C. A GUI program (a game)
 * never does, so the CLI must stay interruptible while it waits for one.
 */
export function isConsoleProgram(path: string): boolean {
  try {
    using src = FileSource.open(path);
    return readHeaders(src).subsystem === CONSOLE_SUBSYSTEM;
  } catch {
    return false;
  }
}

/** Runs `fn` with Ctrl+C (and Ctrl+Break) ignored by this process. */
export async function ignoringInterrupts<T>(fn: () => Promise<T>): Promise<T> {
  const ignore = () => {};
  for (const s of interrupts()) Deno.addSignalListener(s, ignore);
  try {
    return await fn();
  } finally {
    for (const s of interrupts()) Deno.removeSignalListener(s, ignore);
  }
}
