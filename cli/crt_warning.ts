/**
 * The warning of `patch` and `launch` for heapshift added to a program
 * whose files use another C runtime than the UCRT.
 *
 * @module
 */

import { programCrtUse } from "../src/_crt_use.ts";
import { baseName } from "../src/_paths.ts";

/**
 * Why heapshift given to `exe` as `dll` may take nothing over: the
 * program's files use another C runtime (msvcrt.dll, ucrtbased.dll) and
 * none the UCRT. A warning, not a refusal: a module it loads later (a
 * plugin, as rundll32 or a MinGW host loads one) may use the UCRT, and
 * heapshift, there first, takes that over. Undefined when the program
 * uses the UCRT, links its C runtime in, or cannot be read.
 */
export async function otherRuntimeWarning(
  exe: string,
  dll: string,
): Promise<string | undefined> {
  let use;
  try {
    use = await programCrtUse(exe);
  } catch {
    return undefined; // its own checks say why it cannot be read
  }
  if (use.kind !== "msvcrt" && use.kind !== "debug-ucrt") return undefined;
  const runtime = use.kind === "msvcrt"
    ? "the old C runtime"
    : "the debug UCRT of a debug build";
  return `heapshift takes over the UCRT's allocator (ucrtbase.dll), and ${
    baseName(exe)
  } uses ${runtime} (${
    use.dlls.join(", ")
  }), none of its files the UCRT: ${dll} would have nothing to take over unless the program loads a module that uses the UCRT (a plugin), though it reports itself live (inject refuses it while no such module is loaded)`;
}
