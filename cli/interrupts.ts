/**
 * Ctrl+C while the CLI waits for a program that shares its console: the
 * program gets the interrupt too, and decides for itself; the CLI stays to
 * report what it decided (its exit code), as a shell does while it runs a
 * program.
 *
 * @module
 */

/** The interrupt signals of this system. */
function interrupts(): Deno.Signal[] {
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
