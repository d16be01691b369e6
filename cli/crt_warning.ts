/**
 * The warning of `patch`, `launch` and `inject` for heapshift added to a
 * program whose files use another C runtime than the UCRT.
 *
 * @module
 */

import { type CrtUse, crtUse, programCrtUse } from "../src/_crt_use.ts";
import { baseName } from "../src/_paths.ts";
import { isSystemDll, systemRoot } from "../src/_system_dll.ts";
import { ilOnlyRuns32Bit, isIlOnlyAssembly } from "../src/_image_kind.ts";
import { imports } from "../pe/mod.ts";
import { fileArch } from "./dll.ts";

/** What a program that imports no C runtime DLL does, in a warning. */
const STATIC_RUNTIME =
  "imports no C runtime DLL for its allocations (it links one in, or uses none: neither it nor the DLLs it imports from beside it import ucrtbase.dll or api-ms-win-crt-heap)";

/**
 * Why heapshift given to `exe` as `dll` may take nothing over: the
 * program's files use another C runtime (msvcrt.dll, ucrtbased.dll) and
 * none the UCRT, or import no C runtime DLL at all (a C runtime linked
 * in, as MSVC's /MT and Rust's crt-static do, or none). A warning, not a
 * refusal: a module it loads later (a plugin, as rundll32 or a MinGW host
 * loads one) may use the UCRT, and heapshift, there first, takes that
 * over. Undefined when the program uses the UCRT, cannot be read, or lies
 * in Windows' own directories (the DLLs beside it are not looked into).
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
  const name = baseName(exe);
  const bits32 = fileArch(exe) === "x86";
  const unless =
    `unless the program loads a module that uses the UCRT (a plugin), though it reports itself live`;
  if (use.kind === "static" && !use.unfollowed) {
    return `heapshift takes over the UCRT's allocator (ucrtbase.dll), and ${name} ${STATIC_RUNTIME}, so ${dll} would have nothing to take over ${unless}; ${
      freeRisk(name, { free: "its own free", bits32 })
    }`;
  }
  if (use.kind !== "msvcrt" && use.kind !== "debug-ucrt") return undefined;
  return `heapshift takes over the UCRT's allocator (ucrtbase.dll), and ${name} uses ${
    runtimeOf(use)
  }, none of its files the UCRT: ${dll} would have nothing to take over ${unless}; ${
    freeRisk(name, { bits32 })
  }`;
}

/**
 * The one way going ahead can end such a program: what a UCRT module
 * allocates is mimalloc's once heapshift is live, and the program's own
 * runtime frees on the Win32 heap, which Windows punishes for a pointer
 * it did not hand out (until now both were the process heap). A 32-bit
 * process only with termination on heap corruption, which is on by default
 * for a program whose header names Windows Vista (6.0) or later, or once
 * it calls HeapSetInformation; else the HeapFree fails.
 */
function freeRisk(
  program: string,
  options: { free?: string; bits32?: boolean } = {},
): string {
  const free = options.free ?? "its own C runtime's free";
  const ends = options.bits32
    ? "Windows ends it if it runs with termination on heap corruption (a 32-bit program built for Windows Vista or later, or one that turned it on), else that free fails and the block stays allocated"
    : "Windows ends the program";
  return `a block such a module allocates is mimalloc's: should ${program} free it with ${free} (memory a plugin hands over), ${ends} (dll/README.md, Known limits)`;
}

/** The C runtime of `use` (msvcrt or debug-ucrt), in a warning. */
function runtimeOf(use: CrtUse): string {
  return `${
    use.kind === "msvcrt"
      ? "the old C runtime"
      : "the debug UCRT of a debug build"
  } (${use.dlls.join(", ")})`;
}

/**
 * {@linkcode otherRuntimeWarning} for heapshift injected into a running
 * program, given its loaded `modules` (the program first), which also
 * warns of an IL-only .NET program (launch refuses those): undefined also
 * when a loaded module that is not Windows' own (which import the UCRT on
 * their own) uses the UCRT, or may (its file cannot be read): heapshift
 * takes that module over.
 */
export async function loadedOtherRuntimeWarning(
  modules: readonly { name: string; path: string }[],
  dll: string,
): Promise<string | undefined> {
  if (modules.length === 0) return undefined;
  const runtime = await programRuntime(modules[0].path);
  if (!runtime) return undefined;
  const root = systemRoot();
  for (const m of modules) {
    if (isSystemDll(m.path, root)) continue;
    try {
      const list = await imports(m.path, { symbols: false });
      if (crtUse(list.map((d) => d.dll)).kind === "ucrt") return undefined;
    } catch {
      return undefined; // it may use the UCRT
    }
  }
  return `heapshift takes over the UCRT's allocator (ucrtbase.dll), and ${
    modules[0].name
  } ${runtime.what}, none of its loaded modules the UCRT yet: ${dll} takes over only the allocations of a module it loads later that uses the UCRT (a plugin), though it reports itself live; ${
    freeRisk(modules[0].name, runtime)
  }`;
}

/**
 * What runs a program's own code when that is not the UCRT: another C
 * runtime DLL, or (an IL-only .NET program, the .NET Framework's, which
 * imports no C runtime itself) the .NET runtime, or a C runtime linked in
 * (no C runtime DLL imported); undefined for the UCRT, a program in
 * Windows' own directories that imports none, or a file that cannot be
 * read.
 */
async function programRuntime(
  exe: string,
): Promise<{ what: string; free?: string; bits32?: boolean } | undefined> {
  if (isIlOnlyAssembly(exe)) {
    return {
      what:
        "is an IL-only .NET program, whose runtime allocates through a C runtime of its own (ucrtbase_clr0400.dll, msvcr120_clr0400.dll), not ucrtbase.dll",
      free: "Marshal.FreeHGlobal (LocalFree)",
      bits32: ilOnlyRuns32Bit(exe),
    };
  }
  let use;
  try {
    use = await programCrtUse(exe);
  } catch {
    return undefined; // inject says why it cannot reach the program
  }
  const bits32 = fileArch(exe) === "x86";
  if (use.kind === "static" && !use.unfollowed) {
    return {
      what: STATIC_RUNTIME,
      free: "its own free",
      bits32,
    };
  }
  if (use.kind !== "msvcrt" && use.kind !== "debug-ucrt") return undefined;
  return { what: `uses ${runtimeOf(use)}`, bits32 };
}
