/**
 * Where a target's code finds a system function (internal). For an x64
 * target it is where we find it: system DLLs load at the same address in
 * every process of a session. For an x86 target it is in its own 32-bit
 * DLLs, whose export tables are read from its memory (`GetProcAddress` here
 * would give the 64-bit function).
 *
 * @module
 */

import { HeapshiftError } from "./heapshift_error.ts";
import { procAddress } from "../ffi/mod.ts";
import {
  type ByteSource,
  mappedSource,
  PeError,
  readExports,
  readMappedHeaders,
} from "../pe/mod.ts";
import { type ModuleInfo, moduleNamed, targetModules } from "./module_list.ts";
import { processError, targetMemory, type TargetProcess } from "./_target.ts";

/** A function of a DLL, e.g. `kernel32.dll` / `LoadLibraryW`. */
export interface ExportName {
  dll: string;
  fn: string;
}

/** How many forwarders are followed (kernel32 → kernelbase → ntdll). */
const MAX_FORWARDS = 4;

/**
 * The address of `want.fn` of `want.dll` as code in `target` calls it. The
 * target must be opened with VM_READ; for x86 the DLL must be loaded in it
 * (`options.modules`: its module list, when the caller has just read it).
 */
export function exportAddress(
  target: TargetProcess,
  want: ExportName,
  options: { modules?: ModuleInfo[] } = {},
): bigint {
  if (target.arch === "x64") {
    try {
      return procAddress(want.dll, want.fn);
    } catch (e) {
      throw processError(e, { pid: target.pid, doing: `find ${want.fn} for` });
    }
  }
  return loadedExportAddress(target, want, options);
}

/**
 * The address of `want.fn` of `want.dll` (a name or the full path of a
 * module loaded in `target`), read from the target's own memory: the module
 * as it is mapped there. The target must be opened with VM_READ.
 */
export function loadedExportAddress(
  target: TargetProcess,
  want: ExportName,
  options: { modules?: ModuleInfo[] } = {},
): bigint {
  const bits = target.arch === "x86" ? "32-bit " : "";
  try {
    return findExport(options.modules ?? targetModules(target), want, {
      image: (m) => moduleImage(target, m),
      process: `${bits}process ${target.pid}`,
    });
  } catch (e) {
    if (e instanceof HeapshiftError) throw e;
    throw processError(e, {
      pid: target.pid,
      doing: `read the exports of ${want.dll} in`,
    });
  }
}

/**
 * The image of `mod` as it is mapped in `target` (opened with VM_READ),
 * read from there by RVA: a {@linkcode mappedSource}. Once the process
 * has ended, a read throws an `ended` HeapshiftError
 * ({@linkcode targetMemory}).
 */
export function moduleImage(
  target: TargetProcess,
  mod: ModuleInfo,
): ByteSource {
  const memory = targetMemory(target);
  return mappedSource((rva, length) =>
    memory.read(mod.base + BigInt(rva), length)
  );
}

/** Where {@linkcode findExport} reads, and how it names the process. */
export interface ExportSearch {
  /** The loaded image of a module (a {@linkcode mappedSource}). */
  image(module: ModuleInfo): ByteSource;
  /** The process, for messages, e.g. `32-bit process 1234`. */
  process: string;
}

/**
 * The address of `want` among the loaded modules `list`, read through
 * `search.image`, following forwarders ("NTDLL.RtlGetLastWin32Error") to
 * other loaded modules; an API set (api-ms-win-core-…) resolves to
 * kernelbase.dll, as on every system heapshift runs on.
 */
export function findExport(
  list: ModuleInfo[],
  want: ExportName,
  search: ExportSearch,
  depth = 0,
): bigint {
  const where = `${want.dll} of ${search.process}`;
  const mod = moduleNamed(list, want.dll);
  if (!mod) {
    // Every program maps kernel32 first thing in its initialisation (an x86
    // one its 32-bit copy, after the 64-bit side of WOW64 has run); one in
    // ExitProcess may list no module any more.
    const early = depth === 0 && want.dll.toLowerCase() === "kernel32.dll"
      ? ": every running program has it, so this one has only just started (its loader has not got that far yet) or is ending; try again in a moment"
      : "";
    throw new HeapshiftError(
      "failed",
      `Cannot find ${want.fn}: ${want.dll} is not loaded in ${search.process}${early}`,
    );
  }
  const src = search.image(mod);
  let symbol;
  try {
    symbol = readExports(src, readMappedHeaders(src))?.symbols.find((s) =>
      s.name === want.fn
    );
  } catch (e) {
    if (!(e instanceof PeError)) throw e;
    throw new HeapshiftError(
      "failed",
      `Cannot read the export table of ${where}: ${e.message}`,
      { cause: e },
    );
  }
  if (!symbol) {
    throw new HeapshiftError(
      "failed",
      `Cannot find ${want.fn} in ${where}: it does not export it`,
    );
  }
  if (!symbol.forwarder) return mod.base + BigInt(symbol.rva);
  const dot = symbol.forwarder.lastIndexOf(".");
  const dll = symbol.forwarder.slice(0, dot);
  const fn = symbol.forwarder.slice(dot + 1);
  if (depth >= MAX_FORWARDS || dot <= 0 || fn.startsWith("#")) {
    throw new HeapshiftError(
      "failed",
      `Cannot find ${want.fn} in ${where}: it forwards to ${symbol.forwarder}, which heapshift does not follow`,
    );
  }
  const next = /^(api|ext)-ms-/i.test(dll) ? "kernelbase.dll" : `${dll}.dll`;
  return findExport(list, { dll: next, fn }, search, depth + 1);
}
