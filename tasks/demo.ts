/**
 * `deno task demo`: the newcomer's first run. Until the hook DLL and the CLI
 * land, it says what it will do and checks that the Windows side is ready.
 *
 * @module
 */
import { isWindows, provision } from "./winenv.ts";

console.log(`heapshift demo

What it will do once the hook DLL lands:
  1. build build/heapshift.dll if needed;
  2. start a bundled allocation-heavy sample program on the plain UCRT heap;
  3. inject heapshift into it while it runs;
  4. show its throughput before and after, and the old-heap blocks draining
     into mimalloc, then a summary table.
`);
if (!isWindows) {
  console.log("Preparing the Wine environment (first run: a few minutes)…");
  await provision();
}
console.log("The Windows environment is ready.");
