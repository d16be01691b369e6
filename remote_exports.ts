/**
 * Where a target's code finds a system function (internal). For an x64
 * target it is where we find it: system DLLs load at the same address in
 * every process of a session. For an x86 target it is in its own 32-bit
 * DLLs, whose export tables are read from its memory (`GetProcAddress` here
 * would give the 64-bit function).
 *
 * @module
 */

import { HeapshiftError } from "./errors.ts";
import { procAddress, RemoteMemory } from "./ffi/mod.ts";
import {
  mappedSource,
  PeError,
  readExports,
  readMappedHeaders,
} from "./pe/mod.ts";
import { type ModuleInfo, moduleNamed, targetModules } from "./process.ts";
import { processError, type TargetProcess } from "./target.ts";

/** A function of a DLL, e.g. `kernel32.dll` / `LoadLibraryW`. */
export interface ExportName {
  dll: string;
  fn: string;
}

/** How many forwarders are followed (kernel32 → kernelbase → ntdll). */
const MAX_FORWARDS = 4;

/**
 * The address of `want.fn` of `want.dll` as code in `target` calls it. The
 * target must be opened with VM_READ; for x86 the DLL must be loaded in it.
 */
export function exportAddress(
  target: TargetProcess,
  want: ExportName,
): bigint {
  if (target.arch === "x64") {
    try {
      return procAddress(want.dll, want.fn);
    } catch (e) {
      throw processError(e, { pid: target.pid, doing: `find ${want.fn} for` });
    }
  }
  return exportIn32(target, { list: targetModules(target), want, depth: 0 });
}

/** What {@linkcode exportIn32} looks up, among which modules. */
interface Lookup {
  list: ModuleInfo[];
  want: ExportName;
  depth: number;
}

function exportIn32(target: TargetProcess, lookup: Lookup): bigint {
  const { list, want, depth } = lookup;
  const where = `the 32-bit ${want.dll} of process ${target.pid}`;
  const mod = moduleNamed(list, want.dll);
  if (!mod) {
    throw new HeapshiftError(
      "failed",
      `Cannot find ${want.fn}: ${want.dll} is not loaded in 32-bit process ${target.pid}`,
    );
  }
  const memory = new RemoteMemory(target.process);
  const src = mappedSource((rva, length) =>
    memory.read(mod.base + BigInt(rva), length)
  );
  let symbol;
  try {
    symbol = readExports(src, readMappedHeaders(src))?.symbols.find((s) =>
      s.name === want.fn
    );
  } catch (e) {
    if (e instanceof PeError) {
      throw new HeapshiftError(
        "failed",
        `Cannot read the export table of ${where}: ${e.message}`,
        { cause: e },
      );
    }
    throw processError(e, {
      pid: target.pid,
      doing: `read the exports of ${want.dll} in`,
    });
  }
  if (!symbol) {
    throw new HeapshiftError(
      "failed",
      `Cannot find ${want.fn} in ${where}: it does not export it`,
    );
  }
  if (!symbol.forwarder) return mod.base + BigInt(symbol.rva);
  // "NTDLL.RtlGetLastWin32Error": the function lives in another DLL. An API
  // set (api-ms-win-core-…) resolves to kernelbase.dll on every system
  // heapshift runs on.
  const dot = symbol.forwarder.lastIndexOf(".");
  const dll = symbol.forwarder.slice(0, dot);
  const fn = symbol.forwarder.slice(dot + 1);
  if (depth >= MAX_FORWARDS || fn.startsWith("#")) {
    throw new HeapshiftError(
      "failed",
      `Cannot find ${want.fn} in ${where}: it forwards to ${symbol.forwarder}, which heapshift does not follow`,
    );
  }
  const next = /^(api|ext)-ms-/i.test(dll) ? "kernelbase.dll" : `${dll}.dll`;
  return exportIn32(target, {
    list,
    want: { dll: next, fn },
    depth: depth + 1,
  });
}
