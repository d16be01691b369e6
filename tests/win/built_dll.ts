// What the hook DLL under test was built from, as `deno task build-dll`
// recorded it next to the DLL (build/.heapshift.dll.stamp and
// .heapshift32.dll.stamp: toolchain, mimalloc tree, MI_MALLOC_VERSION,
// _msize mode), so tests can expect the mimalloc version the suite runs
// against (HEAPSHIFT_MIMALLOC_VERSION).
import { mimallocVersion } from "../../src/stats_block.ts";
import { type Arch, hookDll } from "./harness.ts";

/** The built DLL's mimalloc version as stats() reports it ("2.1.2"). */
export function builtMimallocVersion(arch: Arch = "x64"): string {
  const dll = hookDll(arch);
  const i = Math.max(dll.lastIndexOf("/"), dll.lastIndexOf("\\")) + 1;
  const stamp = Deno.readTextFileSync(
    `${dll.slice(0, i)}.${dll.slice(i)}.stamp`,
  );
  return mimallocVersion(Number(stamp.split("\n")[2]));
}
