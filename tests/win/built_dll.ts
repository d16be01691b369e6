// What the hook DLL under test was built from, as `deno task build-dll`
// recorded it next to the DLL (build/.heapshift-dll.stamp: toolchain,
// mimalloc tree, MI_MALLOC_VERSION, _msize mode), so tests can expect the
// mimalloc version the suite runs against (HEAPSHIFT_MIMALLOC_VERSION).
import { mimallocVersion } from "../../src/stats_block.ts";
import { repoPath } from "./harness.ts";

/** The built DLL's mimalloc version as stats() reports it ("2.1.2"). */
export function builtMimallocVersion(): string {
  const stamp = Deno.readTextFileSync(repoPath("build/.heapshift-dll.stamp"));
  return mimallocVersion(Number(stamp.split("\n")[2]));
}
