/**
 * Toolhelp snapshots: the processes of the system and the modules of a
 * process, decoded from PROCESSENTRY32W / MODULEENTRY32W.
 *
 * @module
 */

import { ERROR, Win32Error } from "./win32_error.ts";
import { Handle, isInvalidHandle } from "./handle.ts";
import { kernel32 } from "./library.ts";
import { readWide } from "./strings.ts";

const TH32CS_SNAPPROCESS = 0x2;
const TH32CS_SNAPTHREAD = 0x4;
const TH32CS_SNAPMODULE = 0x8;

/** One PROCESSENTRY32W. */
export interface ProcessEntry {
  pid: number;
  parentPid: number;
  threads: number;
  exeFile: string;
}

/** One MODULEENTRY32W. */
export interface ModuleEntry {
  base: bigint;
  size: number;
  name: string;
  path: string;
}

// PROCESSENTRY32W on x64: dwSize 0, cntUsage 4, th32ProcessID 8,
// th32DefaultHeapID 16 (ULONG_PTR), th32ModuleID 24, cntThreads 28,
// th32ParentProcessID 32, pcPriClassBase 36, dwFlags 40,
// szExeFile[260] 44; sizeof 568.
const PE32_SIZE = 568;
// THREADENTRY32: dwSize 0, cntUsage 4, th32ThreadID 8,
// th32OwnerProcessID 12, tpBasePri 16, tpDeltaPri 20, dwFlags 24; sizeof 28.
const TE32_SIZE = 28;
// MODULEENTRY32W on x64: dwSize 0, th32ModuleID 4, th32ProcessID 8,
// GlblcntUsage 12, ProccntUsage 16, modBaseAddr 24, modBaseSize 32,
// hModule 40, szModule[256] 48, szExePath[260] 560; sizeof 1080.
const ME32_SIZE = 1080;

function snapshot(flags: number, pid: number): Handle {
  const k = kernel32();
  for (let attempt = 0;; attempt++) {
    const h = k.CreateToolhelp32Snapshot(flags, pid);
    if (!isInvalidHandle(h)) return new Handle(h!);
    const code = k.GetLastError();
    // ERROR_BAD_LENGTH: the module list changed while being read; retry.
    if (code === ERROR.BAD_LENGTH && attempt < 10) continue;
    // ERROR_PARTIAL_COPY: the loader was changing what it reads (a DLL
    // loading); lasting, in a process created suspended, not started yet.
    if (code === ERROR.PARTIAL_COPY && attempt < 3) continue;
    throw new Win32Error("CreateToolhelp32Snapshot", code);
  }
}

/** A toolhelp walk: its First/Next calls, entry size and decoder. */
interface Walk<T> {
  first: "Process32FirstW" | "Module32FirstW" | "Thread32First";
  next: "Process32NextW" | "Module32NextW" | "Thread32Next";
  size: number;
  decode(view: DataView, bytes: Uint8Array): T;
}

const PROCESS_WALK: Walk<ProcessEntry> = {
  first: "Process32FirstW",
  next: "Process32NextW",
  size: PE32_SIZE,
  decode: (v, b) => ({
    pid: v.getUint32(8, true),
    threads: v.getUint32(28, true),
    parentPid: v.getUint32(32, true),
    exeFile: readWide(b, { offset: 44, maxChars: 260 }),
  }),
};

const MODULE_WALK: Walk<ModuleEntry> = {
  first: "Module32FirstW",
  next: "Module32NextW",
  size: ME32_SIZE,
  decode: (v, b) => ({
    base: v.getBigUint64(24, true),
    size: v.getUint32(32, true),
    name: readWide(b, { offset: 48, maxChars: 256 }),
    path: readWide(b, { offset: 560, maxChars: 260 }),
  }),
};

const THREAD_WALK: Walk<{ tid: number; pid: number }> = {
  first: "Thread32First",
  next: "Thread32Next",
  size: TE32_SIZE,
  decode: (v) => ({ tid: v.getUint32(8, true), pid: v.getUint32(12, true) }),
};

/** Decodes every entry of `snap`, reusing one buffer. */
function walk<T>(snap: Handle, kind: Walk<T>): T[] {
  const { first, next, size } = kind;
  const k = kernel32();
  const bytes = new Uint8Array(size);
  const view = new DataView(bytes.buffer);
  const out: T[] = [];
  view.setUint32(0, size, true);
  let call: typeof first | typeof next = first;
  let ok = k[first](snap.raw, bytes);
  while (ok) {
    out.push(kind.decode(view, bytes));
    bytes.fill(0, 4);
    view.setUint32(0, size, true);
    call = next;
    ok = k[next](snap.raw, bytes);
  }
  const code = k.GetLastError();
  if (code !== ERROR.NO_MORE_FILES) throw new Win32Error(call, code);
  return out;
}

/** Every process in the system. */
export function processEntries(): ProcessEntry[] {
  using snap = snapshot(TH32CS_SNAPPROCESS, 0);
  return walk(snap, PROCESS_WALK);
}

/** Every module loaded in process `pid` (64-bit modules of a 64-bit view). */
export function moduleEntries(pid: number): ModuleEntry[] {
  using snap = snapshot(TH32CS_SNAPMODULE, pid);
  return walk(snap, MODULE_WALK);
}

/** The ids of the threads of process `pid` (a snapshot: some may end). */
export function threadIds(pid: number): number[] {
  // A thread snapshot lists every process's threads, whatever pid says.
  using snap = snapshot(TH32CS_SNAPTHREAD, 0);
  return walk(snap, THREAD_WALK).filter((t) => t.pid === pid).map((t) => t.tid);
}
