/**
 * Starting a program with DLLs that load before any of its own code:
 * the process is created suspended, the DLLs are put first in the
 * in-memory import table of its executable (the method of Detours'
 * DetourCreateProcessWithDlls), then it is resumed. The loader then maps
 * and initialises them as static imports, before the program's TLS
 * callbacks, CRT initialisation and `main`. {@linkcode launch} returns once
 * a remote thread (which can only run after process initialisation) has
 * seen them loaded, or reports the loader's failure.
 *
 * @module
 */

import {
  absolutePath,
  baseName,
  checkDll,
  firstExportOrdinal,
} from "./dll_file.ts";
import { HeapshiftError } from "./errors.ts";
import {
  callRemote,
  createProcess,
  ERROR,
  type Handle,
  isSignaled,
  MACHINE,
  MEM,
  PAGE,
  procAddress,
  processExitCode,
  processMachine,
  RemoteMemory,
  RemoteTimeoutError,
  resumeThread,
  terminateProcess,
  waitSignaled,
  wideBytes,
  Win32Error,
} from "./ffi/mod.ts";
import { machineName, peKind, readFailure, readHead } from "./pe_image.ts";
import { processError, unsupportedMachine } from "./target.ts";
import { missingDependencies } from "./dependencies.ts";

/**
 * Options for {@linkcode launch}.
 *
 * @example Arguments, directory, environment and DLLs
 * ```ts
 * import { launch } from "@heapshift/heapshift";
 * using proc = await launch("C:\\games\\game.exe", {
 *   args: ["--level", "2"],
 *   cwd: "C:\\games",
 *   env: { MIMALLOC_VERBOSE: "1" },
 *   dlls: ["build/heapshift.dll"],
 * });
 * ```
 */
export interface LaunchOptions {
  /** Arguments after the program name. */
  args?: string[];
  /** Working directory (default: the current one). */
  cwd?: string;
  /** Variables added to (or replacing those of) the current environment. */
  env?: Record<string, string>;
  /** DLLs to load before the program's own code, in this order. */
  dlls?: string[];
  /**
   * Milliseconds to wait for the program's loader to load and initialise
   * the DLLs (default 10000). A DLL that fails to load is reported as a
   * `load-failed` error; on timeout the program is stopped.
   */
  timeout?: number;
  /**
   * `inherit` (default): the program's stdin, stdout and stderr are ours;
   * `none`: it has none, so it does not hold our pipes open once we end.
   */
  stdio?: "inherit" | "none";
}

/** The process handle of each LaunchedProcess, for this module only. */
const handles = new WeakMap<LaunchedProcess, Handle>();

/**
 * A program started by {@linkcode launch}.
 *
 * @example Wait with a deadline, then kill
 * ```ts
 * import { HeapshiftError, launch } from "@heapshift/heapshift";
 * using proc = await launch("C:\\tools\\job.exe", { dlls: ["build/heapshift.dll"] });
 * try {
 *   console.log("exit code", await proc.wait({ timeout: 60_000 }));
 * } catch (e) {
 *   if (e instanceof HeapshiftError && e.kind === "timeout") proc.kill();
 *   else throw e;
 * }
 * ```
 */
export class LaunchedProcess implements Disposable {
  /** Its process id. */
  readonly pid: number;
  #process: Handle;

  /** @internal Wraps a process handle (use {@linkcode launch}). */
  constructor(pid: number, process: Handle) {
    this.pid = pid;
    this.#process = process;
    handles.set(this, process);
  }

  /**
   * Waits for the program to exit and returns its exit code. With a
   * `timeout` (ms), throws a `timeout` HeapshiftError if it is still running.
   */
  async wait(options: { timeout?: number } = {}): Promise<number> {
    if (!(await waitSignaled(this.#process, options.timeout ?? Infinity))) {
      throw new HeapshiftError(
        "timeout",
        `Process ${this.pid} did not exit within ${options.timeout} ms`,
      );
    }
    return processExitCode(this.#process);
  }

  /** The exit code, or `undefined` while the program runs. */
  exitCode(): number | undefined {
    return isSignaled(this.#process)
      ? processExitCode(this.#process)
      : undefined;
  }

  /** Terminates the program (no effect once it has exited). */
  kill(exitCode = 1): void {
    if (this.exitCode() !== undefined) return;
    try {
      terminateProcess(this.#process, exitCode);
    } catch (e) {
      // Already exited: TerminateProcess says access denied.
      if (!(e instanceof Win32Error && e.code === ERROR.ACCESS_DENIED)) throw e;
    }
  }

  /** Releases the process handle (the program keeps running). */
  close(): void {
    this.#process.close();
  }

  /** Same as {@linkcode LaunchedProcess.close}. */
  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * Quotes one argument the way the MSVC runtime splits command lines.
 *
 * @example Build a command line
 * ```ts
 * import { quoteArg } from "@heapshift/heapshift";
 * const line = ["C:\\my tools\\x.exe", 'say "hi"'].map(quoteArg).join(" ");
 * // "C:\my tools\x.exe" "say \"hi\""
 * ```
 */
export function quoteArg(arg: string): string {
  if (arg !== "" && !/[\s"]/.test(arg)) return arg;
  let out = '"';
  let slashes = 0;
  for (const c of arg) {
    if (c === "\\") {
      slashes++;
    } else if (c === '"') {
      out += "\\".repeat(2 * slashes + 1) + '"';
      slashes = 0;
    } else {
      out += "\\".repeat(slashes) + c;
      slashes = 0;
    }
  }
  return out + "\\".repeat(2 * slashes) + '"';
}

function mergeEnv(extra: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  const keys = new Map<string, string>();
  for (
    const [k, v] of [
      ...Object.entries(Deno.env.toObject()),
      ...Object.entries(extra),
    ]
  ) {
    const prev = keys.get(k.toUpperCase());
    if (prev !== undefined) delete out[prev];
    keys.set(k.toUpperCase(), k);
    out[k] = v;
  }
  return out;
}

const u32 = (b: Uint8Array, o: number) =>
  new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(o, true);

/** The base address of the (only) non-DLL image mapped in `memory`. */
function findExeImage(memory: RemoteMemory, exe: string): bigint {
  let addr = 0x10000n;
  for (;;) {
    const r = memory.query(addr);
    if (!r) break;
    if (r.type === MEM.IMAGE && r.base === r.allocationBase) {
      const kind = peKind(memory.read(r.base, 0x400));
      if (kind && !kind.dll) return r.base;
    }
    const next = r.base + r.size;
    if (next <= addr) break;
    addr = next;
  }
  throw new HeapshiftError(
    "failed",
    `Cannot launch ${exe}: its image is not mapped in the suspended process`,
  );
}

/** Where {@linkcode allocNear} allocates, and for whom (for messages). */
interface NearRange {
  size: number;
  from: bigint;
  limit: bigint;
  exe: string;
}

/** Allocates `size` bytes at a 64 KiB boundary above `from`, below `limit`. */
function allocNear(memory: RemoteMemory, range: NearRange): bigint {
  const { size, from, limit } = range;
  const GRAIN = 0x10000n;
  let addr = (from + GRAIN - 1n) / GRAIN * GRAIN;
  while (addr + BigInt(size) < limit) {
    const r = memory.query(addr);
    if (!r) break;
    if (r.state === MEM.FREE) {
      const at = (r.base + GRAIN - 1n) / GRAIN * GRAIN;
      if (at + BigInt(size) <= r.base + r.size) {
        const got = memory.tryAlloc(size, { at });
        if (got !== 0n) return got;
      }
    }
    addr = r.base + r.size;
  }
  throw new HeapshiftError(
    "failed",
    `Cannot launch ${range.exe}: no free memory for the new import table within 2 GiB of its image`,
  );
}

/** A DLL to add: its path (ANSI, as import names are) and an ordinal. */
interface NewImport {
  path: string;
  ordinal: number;
}

/** The executable image to add imports to, for {@linkcode addImports}. */
interface ExeImage {
  /** Its path, for messages. */
  exe: string;
  /** Its base address in the suspended process. */
  base: bigint;
  /** The DLLs to put first. */
  dlls: NewImport[];
}

/**
 * Rewrites the in-memory import directory of the image at `base` so that
 * `dlls` come first (Detours' UpdateImports): a new descriptor array with
 * ours followed by the original ones, outside the image, within 4 GiB
 * (RVAs are 32 bits); the bound import directory is cleared.
 */
function addImports(memory: RemoteMemory, image: ExeImage): void {
  const { exe, base, dlls } = image;
  const dos = memory.read(base, 64);
  const ntOff = BigInt(u32(dos, 0x3c));
  const nt = memory.read(base + ntOff, 4 + 20 + 240);
  const v = new DataView(nt.buffer);
  const opt = 24;
  if (v.getUint16(opt, true) !== 0x20b) {
    throw new HeapshiftError(
      "unsupported",
      `Cannot launch ${exe}: it is not a PE32+ (64-bit) image`,
    );
  }
  const sizeOfImage = v.getUint32(opt + 56, true);
  const sizeOfHeaders = v.getUint32(opt + 60, true);
  const dir = (i: number) => opt + 112 + 8 * i;
  const IMPORT = 1, BOUND = 11, IAT = 12;
  const importRva = v.getUint32(dir(IMPORT), true);

  // The original descriptors, up to (not including) the null terminator.
  const old: Uint8Array[] = [];
  if (importRva !== 0) {
    for (let at = base + BigInt(importRva);; at += 20n) {
      const d = memory.read(at, 20);
      if (u32(d, 12) === 0 && u32(d, 16) === 0) break; // Name, FirstThunk
      old.push(d);
    }
  }

  // If the image names no IAT directory, the loader looks for the section
  // holding the import directory; ours is in no section, so name it (as
  // Detours does).
  if (v.getUint32(dir(IAT), true) === 0 && importRva !== 0) {
    const sections = v.getUint16(4 + 2, true);
    const optSize = v.getUint16(4 + 16, true);
    const table = memory.read(
      base + ntOff + 24n + BigInt(optSize),
      40 * sections,
    );
    for (let i = 0; i < sections; i++) {
      const va = u32(table, 40 * i + 12);
      const raw = u32(table, 40 * i + 16);
      if (importRva >= va && importRva < va + raw) {
        v.setUint32(dir(IAT), va, true);
        v.setUint32(dir(IAT) + 4, raw, true);
      }
    }
  }

  const descBytes = 20 * (dlls.length + old.length + 1);
  const thunksAt = (descBytes + 7) & ~7;
  const stringsAt = thunksAt + 32 * dlls.length;
  const names = dlls.map((d) => new TextEncoder().encode(`${d.path}\0`));
  const total = stringsAt +
    names.reduce((n, s) => n + ((s.length + 7) & ~7), 0);

  const block = allocNear(memory, {
    size: total,
    from: base + BigInt(sizeOfImage),
    limit: base + 0x8000_0000n,
    exe,
  });
  const rva = Number(block - base);
  const out = new Uint8Array(total);
  const w = new DataView(out.buffer);
  let str = stringsAt;
  dlls.forEach((d, i) => {
    const thunk = thunksAt + 32 * i;
    const byOrdinal = 0x8000_0000_0000_0000n | BigInt(d.ordinal);
    w.setBigUint64(thunk, byOrdinal, true); // lookup table
    w.setBigUint64(thunk + 16, byOrdinal, true); // IAT
    w.setUint32(20 * i + 0, rva + thunk, true); // OriginalFirstThunk
    w.setUint32(20 * i + 12, rva + str, true); // Name
    w.setUint32(20 * i + 16, rva + thunk + 16, true); // FirstThunk
    out.set(names[i], str);
    str += (names[i].length + 7) & ~7;
  });
  old.forEach((d, i) => out.set(d, 20 * (dlls.length + i)));
  try {
    memory.write(block, out);
  } catch (e) {
    memory.free(block);
    throw e;
  }

  if (v.getUint32(dir(IAT), true) === 0) {
    // No import directory before: still name an IAT so the loader does not
    // go looking for one.
    v.setUint32(dir(IAT), rva, true);
    v.setUint32(dir(IAT) + 4, total, true);
  }
  v.setUint32(dir(IMPORT), rva, true);
  v.setUint32(dir(IMPORT) + 4, descBytes, true);
  v.setBigUint64(dir(BOUND), 0n, true);
  v.setUint32(opt + 64, 0, true); // CheckSum
  const prev = memory.protect(base, {
    size: sizeOfHeaders,
    protect: PAGE.READWRITE,
  });
  try {
    memory.write(base + ntOff, nt);
  } finally {
    memory.protect(base, { size: sizeOfHeaders, protect: prev });
  }
}

function launchError(exe: string, e: unknown): unknown {
  if (!(e instanceof Win32Error)) return e;
  const why = e.code === ERROR.FILE_NOT_FOUND
    ? ["not-found", "no such file"] as const
    : e.code === ERROR.BAD_EXE_FORMAT
    ? ["unsupported", "not a valid 64-bit Windows program"] as const
    : e.code === ERROR.ACCESS_DENIED || e.code === 740
    ? [
      "access-denied",
      "access denied (it may need elevation: run heapshift from an elevated prompt)",
    ] as const
    : ["failed", e.message] as const;
  return new HeapshiftError(why[0], `Cannot launch ${exe}: ${why[1]}`, {
    cause: e,
  });
}

/**
 * Starts `exe` suspended, makes `options.dlls` load before any of its own
 * code (TLS callbacks, CRT initialisation, `main`) by putting them first in
 * its in-memory import table, then resumes it. Each DLL must export at
 * least one function (it is imported by ordinal).
 *
 * @example Run a program with heapshift from its first allocation
 * ```ts
 * import { launch } from "@heapshift/heapshift";
 * using proc = await launch("C:\\games\\game.exe", {
 *   args: ["--windowed"],
 *   dlls: ["build/heapshift.dll"],
 * });
 * console.log(`pid ${proc.pid} exited with ${await proc.wait()}`);
 * ```
 */
export async function launch(
  exe: string,
  options: LaunchOptions = {},
): Promise<LaunchedProcess> {
  const { launched, dlls } = launchSuspendedAndResume(exe, options);
  try {
    await confirmLoaded(launched, {
      dlls,
      timeout: options.timeout ?? 10_000,
    });
  } catch (e) {
    launched.close();
    throw e;
  }
  return launched;
}

/** NTSTATUS exit codes of a process whose loader gave up, and why. */
const LOADER_FAILURES: Record<number, string> = {
  0xc0000135: "a DLL it needs was not found (STATUS_DLL_NOT_FOUND)",
  0xc0000142: "a DLL failed to initialise (STATUS_DLL_INIT_FAILED)",
  0xc0000139:
    "an imported function was not found (STATUS_ENTRYPOINT_NOT_FOUND)",
  0xc000007b:
    "a DLL has the wrong format or machine (STATUS_INVALID_IMAGE_FORMAT)",
};

/**
 * Waits until the program's loader has initialised every added DLL: a
 * remote thread calls `GetModuleHandleW(dll)`; a new thread only runs once
 * process initialisation is over, so its answer proves the DLLs loaded and
 * initialised. If the process ends instead, an exit with a loader status
 * means a DLL failed to load; any other exit means the program ran (so the
 * DLLs had loaded).
 */
async function confirmLoaded(
  launched: LaunchedProcess,
  options: { dlls: string[]; timeout: number },
): Promise<void> {
  if (options.dlls.length === 0) return;
  const names = options.dlls.map(baseName).join(", ");
  let handle: bigint | undefined;
  try {
    const result = await callRemote(
      handles.get(launched)!,
      procAddress("kernel32.dll", "GetModuleHandleW"),
      { data: wideBytes(options.dlls[0]), timeout: options.timeout },
    );
    // Without the stub only 32 bits are known: 0 proves nothing then.
    handle = result.complete ? result.value : undefined;
  } catch (e) {
    if (e instanceof RemoteTimeoutError) {
      launched.kill();
      throw new HeapshiftError(
        "timeout",
        `Cannot launch with ${names}: the program did not finish loading them within ${options.timeout} ms (it was stopped)`,
        { cause: e },
      );
    }
    // The process may have died under the remote thread: look below.
    if (!(await waitSignaled(handles.get(launched)!, 1000))) {
      throw processError(e, {
        pid: launched.pid,
        doing: `check that ${names} loaded in`,
      });
    }
  }
  const code = launched.exitCode();
  if (code !== undefined) {
    const why = LOADER_FAILURES[code];
    if (!why) return;
    const missing = code === 0xc0000135
      ? [
        ...new Set(
          (await Promise.all(
            options.dlls.map((d) => missingDependencies(d, [])),
          )).flat(),
        ),
      ]
      : [];
    throw new HeapshiftError(
      "load-failed",
      `Cannot launch with ${names}: the program's loader stopped it with 0x${
        code.toString(16).toUpperCase()
      }: ${why}${missing.length ? `; missing: ${missing.join(", ")}` : ""}`,
    );
  }
  if (handle === 0n) {
    launched.kill();
    throw new HeapshiftError(
      "load-failed",
      `Cannot launch with ${names}: the program started without loading it (it was stopped)`,
    );
  }
}

function launchSuspendedAndResume(
  exe: string,
  options: LaunchOptions,
): { launched: LaunchedProcess; dlls: string[] } {
  const path = absolutePath(exe);
  let head: Uint8Array;
  try {
    head = readHead(path);
  } catch (e) {
    throw new HeapshiftError(
      e instanceof Deno.errors.NotFound ? "not-found" : "failed",
      `Cannot launch ${path}: ${readFailure(path, e)}`,
      { cause: e },
    );
  }
  const kind = peKind(head);
  if (!kind || kind.dll) {
    throw new HeapshiftError(
      "unsupported",
      `Cannot launch ${path}: not a Windows program (.exe)`,
    );
  }
  if (kind.machine !== MACHINE.AMD64) {
    throw new HeapshiftError(
      "unsupported",
      `Cannot launch ${path}: it is a ${
        machineName(kind.machine)
      } program; heapshift supports only 64-bit (x64) targets for now`,
    );
  }
  const imports: NewImport[] = (options.dlls ?? []).map((d) => {
    const dll = checkDll(d);
    if (!/^[\x20-\x7e]+$/.test(dll)) {
      throw new HeapshiftError(
        "bad-dll",
        `Cannot use DLL ${dll} with launch: import names are ANSI, so the path must be plain ASCII (copy the DLL to such a path)`,
      );
    }
    const ordinal = firstExportOrdinal(dll);
    if (ordinal === undefined) {
      throw new HeapshiftError(
        "bad-dll",
        `Cannot use DLL ${dll} with launch: it exports nothing, and a DLL added to the import table must export at least one function`,
      );
    }
    return { path: dll, ordinal };
  });

  const commandLine = [path, ...(options.args ?? [])].map(quoteArg).join(" ");
  let created;
  try {
    created = createProcess(path, commandLine, {
      cwd: options.cwd === undefined ? undefined : absolutePath(options.cwd),
      env: options.env ? mergeEnv(options.env) : undefined,
      suspended: true,
      stdio: options.stdio,
    });
  } catch (e) {
    throw launchError(path, e);
  }
  const { process, thread, pid } = created;
  try {
    const m = processMachine(process);
    if (m.process !== MACHINE.AMD64) throw unsupportedMachine(pid, m.process);
    if (imports.length > 0) {
      const memory = new RemoteMemory(process);
      addImports(memory, {
        exe: path,
        base: findExeImage(memory, path),
        dlls: imports,
      });
    }
    resumeThread(thread);
  } catch (e) {
    try {
      terminateProcess(process, 1);
    } catch { /* already gone */ }
    process.close();
    throw e instanceof HeapshiftError ? e : launchError(path, e);
  } finally {
    thread.close();
  }
  return {
    launched: new LaunchedProcess(pid, process),
    dlls: imports.map((i) => i.path),
  };
}
