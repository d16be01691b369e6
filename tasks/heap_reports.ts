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
 * stderr that every process it starts inherits.
 */
export const HEAP_WINEDEBUG = "-all,+pid,warn+heap,err+heap,warn+debugstr";

/**
 * A heap report of Wine's (with `+pid`: `0104:0108:warn:heap:…`), but for
 * a failed allocation (`allocate_region Could not allocate …`), which is
 * an ordinary NULL from `HeapAlloc` on Windows too.
 */
export const HEAP_REPORT =
  /^[0-9a-f]+:[0-9a-f]+:(warn|err):heap:(?!allocate_region Could not allocate )/;

/**
 * A barrier a test writes with `OutputDebugStringA` to mark where the
 * reports of its own processes begin and end: Wine prints it on the same
 * stream as the reports, in order (`…:warn:debugstr:OutputDebugStringA
 * "@@heapshift-barrier <id> begin\n"`).
 */
export const HEAP_BARRIER =
  /debugstr:OutputDebugStringA "(@@heapshift-barrier [\w-]+ \w+)/;

/** The heap reports in a log written by {@linkcode runInEnv}'s `heapLog`. */
export function heapReports(log: string): string[] {
  let text = "";
  try {
    text = Deno.readTextFileSync(log);
  } catch { /* nothing was written */ }
  return text.split("\n").filter((l) => HEAP_REPORT.test(l));
}
