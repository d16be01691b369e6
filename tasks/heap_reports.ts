/**
 * Wine's heap reports: what the Windows suite, the demo and the bench treat
 * as the crash it would be on Windows. No dependencies, so the Windows
 * suite's harness (run by the Windows Deno) shares it with tasks/.
 *
 * @module
 */

/**
 * What 64-bit Windows kills, Wine forgives: a `HeapFree`, `HeapSize` or
 * `HeapReAlloc` of a pointer the heap did not hand out terminates the
 * process on Windows and returns FALSE under Wine. With these channels
 * Wine prints a line for each (`<pid>:<tid>:warn:heap:…`) on the unix
 * stderr that every process it starts inherits. `err+seh` and `fixme+seh`
 * are for the crashes no handler sees ({@linkcode CRASH_REPORT}).
 */
export const HEAP_WINEDEBUG =
  "-all,+pid,warn+heap,err+heap,warn+debugstr,err+seh,fixme+seh";

/**
 * A heap report of Wine's (with `+pid`: `0104:0108:warn:heap:…`), but for
 * a failed allocation (`allocate_region Could not allocate …`), which is
 * an ordinary NULL from `HeapAlloc` on Windows too.
 */
export const HEAP_REPORT =
  /^[0-9a-f]+:[0-9a-f]+:(warn|err):heap:(?!allocate_region Could not allocate )/;

/** {@linkcode HEAP_REPORT} anywhere in a line. */
const REPORT_IN_LINE = new RegExp(HEAP_REPORT.source.slice(1));

/**
 * A barrier a test writes with `OutputDebugStringA` to mark where the
 * reports of its own processes begin and end: Wine prints it on the same
 * stream as the reports, in order (`…:warn:debugstr:OutputDebugStringA
 * "@@heapshift-barrier <id> begin\n"`).
 */
export const HEAP_BARRIER =
  /debugstr:OutputDebugStringA "(@@heapshift-barrier [\w-]+ \w+)/;

/**
 * Wine's line for a program that died of an exception nothing handled
 * (`wine: Unhandled page fault on read access to … (thread 0024), starting
 * debugger...`), printed whatever `WINEDEBUG` says: on Windows the program
 * is gone as well. kernelbase's start_debugger prints it for every kind,
 * and not all begin with "Unhandled" (`wine: Unimplemented function …
 * called`, `Assertion failed`, `Critical section … wait failed`): its
 * fixed end is what is matched. A fail-fast (`__fastfail`, in which
 * Microsoft's CRT's abort(), /GS checks and invalid-parameter default end)
 * skips that filter: Wine ends the process from NtRaiseException, saying
 * so on `err+seh` only (`<pid>:<tid>:err:seh:NtRaiseException Unhandled
 * exception code c0000409 …`; its other two errors there end the process
 * too). RaiseFailFastException, with which heapshift.dll ends a program it
 * cannot go on in (dll/tls.c), is a stub in Wine 10 that ends the process
 * (0xC0000602) saying so on `fixme+seh` only. A test whose program
 * crashes on purpose says so (a `crashes` barrier, tests/win/harness.ts);
 * any other such line fails it.
 */
export const CRASH_REPORT =
  /wine: [^\n]*? \(thread [0-9a-f]+\), starting debugger\.\.\.|[0-9a-f]+:[0-9a-f]+:(err:seh:NtRaiseException|fixme:seh:RaiseFailFastException) [^\n]*/;

/** What becomes of one line of the Windows programs' stderr. */
export interface StderrLine {
  /** What goes into the heap log (a report or a barrier), if anything. */
  log?: string;
  /** Whether the line is shown on our stderr. */
  show: boolean;
}

/**
 * Sorts one line of the stderr every Wine process shares: a barrier is
 * logged (and not shown), a heap report or a crash logged and shown; the
 * rest of what the heap, debugger and exception channels print (failed
 * allocations, other programs' OutputDebugString text) stays as quiet as
 * it was, and every other line is shown.
 */
export function sortStderrLine(line: string): StderrLine {
  const barrier = HEAP_BARRIER.exec(line);
  if (barrier) return { log: barrier[1], show: false };
  // Not only at the line's start: every Wine process writes to the one
  // stderr, and a program's write without its newline (a prompt, the
  // first 4 KiB of a long message) puts the next report of any process on
  // its line.
  const at = line.search(REPORT_IN_LINE);
  if (at >= 0) return { log: line.slice(at), show: true };
  const crash = CRASH_REPORT.exec(line);
  if (crash) return { log: crash[0], show: true };
  return {
    show: !/^[0-9a-f]+:[0-9a-f]+:\w+:(heap|debugstr|seh):/.test(line),
  };
}

/** The heap reports in a log written by {@linkcode runInEnv}'s `heapLog`. */
export function heapReports(log: string): string[] {
  let text = "";
  try {
    text = Deno.readTextFileSync(log);
  } catch { /* nothing was written */ }
  return text.split("\n").filter((l) => HEAP_REPORT.test(l));
}

/**
 * The crash lines ({@linkcode CRASH_REPORT}) in the text of a heap log that
 * no test declared: outside every test's barriers, or inside those of a
 * test that wrote no `crashes` barrier.
 */
export function unexpectedCrashes(log: string): string[] {
  const out: string[] = [];
  // Watches nest (a test of the harness itself watches inside its own
  // test's watch): a line passes when any open one allows crashes.
  const allowing = new Set<string>();
  for (const line of log.split("\n")) {
    const barrier = /^@@heapshift-barrier ([\w-]+) (\w+)$/.exec(line);
    if (barrier) {
      const [, id, what] = barrier;
      if (what === "crashes") allowing.add(id);
      else if (what === "end") allowing.delete(id);
      continue;
    }
    if (CRASH_REPORT.test(line) && allowing.size === 0) out.push(line);
  }
  return out;
}
