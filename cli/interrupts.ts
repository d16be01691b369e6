/**
 * Ctrl+C while the CLI waits for a program that shares its console: the
 * program gets the interrupt too, and decides for itself; the CLI stays to
 * report what it decided (its exit code), as a shell does while it runs a
 * program. Ctrl+C during work that must be undone (a launch, a file being
 * written) aborts it, and the CLI exits with 130 once it is undone.
 *
 * @module
 */

import { CliError } from "./output.ts";

/** The interrupt signals of this system. */
export function interrupts(): Deno.Signal[] {
  return Deno.build.os === "windows" ? ["SIGINT", "SIGBREAK"] : ["SIGINT"];
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

/**
 * Runs `fn` with Ctrl+C (and Ctrl+Break) held off, for work that must not
 * be cut short by Windows' default handler (ExitProcess at once, from its
 * own thread): the first says `note` (on stderr), a second stops waiting
 * for `fn` with a CliError (exit 130) that `gaveUp` words. A listener runs
 * only between tasks, never within synchronous work (the look at a
 * program's threads, which suspends each in turn): the process ends only
 * once that is done.
 */
export async function holdingInterrupts<T>(
  fn: () => Promise<T>,
  text: { note: string; gaveUp: string },
): Promise<T> {
  let count = 0;
  let stop!: (e: CliError) => void;
  const stopped = new Promise<never>((_, reject) => stop = reject);
  const listener = () => {
    if (++count === 1) console.error(text.note);
    else stop(new CliError(text.gaveUp, 130));
  };
  for (const s of interrupts()) Deno.addSignalListener(s, listener);
  try {
    return await Promise.race([fn(), stopped]);
  } finally {
    for (const s of interrupts()) Deno.removeSignalListener(s, listener);
  }
}

/**
 * Runs `fn` with a signal that Ctrl+C (or Ctrl+Break) aborts, with an
 * `AbortError` as its reason, instead of ending this process: what `fn` has
 * started can then be undone (a program launched halfway is stopped).
 */
export async function abortingOnInterrupt<T>(
  fn: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const controller = new AbortController();
  const abort = () =>
    controller.abort(new DOMException("interrupted (Ctrl+C)", "AbortError"));
  for (const s of interrupts()) Deno.addSignalListener(s, abort);
  try {
    return await fn(controller.signal);
  } finally {
    for (const s of interrupts()) Deno.removeSignalListener(s, abort);
  }
}

/**
 * {@linkcode abortingOnInterrupt}, its abort reported as a failure with the
 * exit code of an interrupted program (130): `said` tells what was undone.
 */
export async function interruptible<T>(
  fn: (signal: AbortSignal) => Promise<T>,
  said: string,
): Promise<T> {
  try {
    return await abortingOnInterrupt(fn);
  } catch (e) {
    if (e instanceof DOMException && e.name === "AbortError") {
      throw new CliError(said, 130);
    }
    throw e;
  }
}
