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

import { aMachine, type Arch, ARCH_MACHINE, archName, archOf } from "./arch.ts";
import {
  absolutePath,
  baseName,
  checkDllArch,
  firstExportOrdinal,
  readDll,
} from "./_dll_file.ts";
import { HeapshiftError } from "./heapshift_error.ts";
import {
  callRemote,
  createProcess,
  ERROR,
  type Handle,
  isSignaled,
  MEM,
  PAGE,
  processExitCode,
  RemoteMemory,
  RemoteTimeoutError,
  resumeThread,
  terminateProcess,
  waitSignaled,
  wideBytes,
  Win32Error,
} from "../ffi/mod.ts";
import {
  type FirstImport,
  mappedSource,
  PeError,
  planFirstImports,
} from "../pe/mod.ts";
import { peKind, readFailure, readHead } from "./_image_kind.ts";
import { exportAddress } from "./_remote_exports.ts";
import { processArchOf, processError, type TargetProcess } from "./_target.ts";
import { missingDependencies } from "./_missing_dependencies.ts";

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

/** Each LaunchedProcess as a target (its handle), for this module only. */
const targets = new WeakMap<LaunchedProcess, TargetProcess>();

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
  constructor(pid: number, process: Handle, arch: Arch = "x64") {
    this.pid = pid;
    this.#process = process;
    targets.set(this, { pid, process, arch });
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

/** The executable image to add imports to, for {@linkcode addImports}. */
interface ExeImage {
  /** Its path, for messages. */
  exe: string;
  /** Its base address in the suspended process. */
  base: bigint;
  /** The DLLs to put first. */
  dlls: FirstImport[];
}

/**
 * Puts `dlls` first in the in-memory import table of the image at `base`
 * (PE32 or PE32+; see pe/loaded_imports.ts): the new table goes in a block
 * above the image, within 2 GiB (RVAs are 32 bits; a 32-bit process's
 * memory ends at 4 GiB anyway), and the headers are pointed at it.
 */
function addImports(memory: RemoteMemory, image: ExeImage): void {
  const { exe, base, dlls } = image;
  const src = mappedSource((rva, length) =>
    memory.read(base + BigInt(rva), length)
  );
  let plan;
  try {
    plan = planFirstImports(src, dlls);
  } catch (e) {
    if (!(e instanceof PeError)) throw e;
    throw new HeapshiftError(
      "failed",
      `Cannot launch ${exe}: its import table in memory is malformed (${e.message})`,
      { cause: e },
    );
  }
  const limit = base + 0x8000_0000n;
  const block = allocNear(memory, {
    size: plan.size,
    from: base + BigInt(plan.sizeOfImage),
    limit: plan.format === "PE32" && limit > FOUR_GIB ? FOUR_GIB : limit,
    exe,
  });
  const placed = plan.place(Number(block - base));
  try {
    memory.write(block, placed.block.bytes);
  } catch (e) {
    memory.free(block);
    throw e;
  }
  const headers = base + BigInt(placed.headers.rva);
  const size = placed.headers.bytes.length;
  const prev = memory.protect(headers, { size, protect: PAGE.READWRITE });
  try {
    memory.write(headers, placed.headers.bytes);
  } finally {
    memory.protect(headers, { size, protect: prev });
  }
}

const FOUR_GIB = 0x1_0000_0000n;

function launchError(exe: string, e: unknown): unknown {
  if (!(e instanceof Win32Error)) return e;
  const why = e.code === ERROR.FILE_NOT_FOUND
    ? ["not-found", "no such file"] as const
    : e.code === ERROR.BAD_EXE_FORMAT
    ? ["unsupported", "not a valid Windows program (x64 or x86)"] as const
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
 * least one function (it is imported by ordinal). A 32-bit (x86) program
 * takes 32-bit DLLs; a DLL of the other architecture is a `bad-dll` error,
 * before anything is started.
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

/**
 * `GetModuleHandleW` as the launched program calls it, or `undefined` when
 * it exited first. An x86 program's 32-bit kernel32 is mapped by its own
 * loader after the resume: this waits (until `deadline`) for it to be
 * listed.
 */
async function moduleHandleFunction(
  target: TargetProcess,
  deadline: number,
): Promise<bigint | undefined> {
  const want = { dll: "kernel32.dll", fn: "GetModuleHandleW" };
  for (;;) {
    if (isSignaled(target.process)) return undefined;
    try {
      return exportAddress(target, want);
    } catch (e) {
      if (target.arch === "x64") throw e;
      if (Date.now() >= deadline) {
        throw new RemoteTimeoutError(0);
      }
    }
    await new Promise((r) => setTimeout(r, 10));
  }
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
  const target = targets.get(launched)!;
  const deadline = Date.now() + options.timeout;
  let handle: bigint | undefined;
  try {
    const fn = await moduleHandleFunction(target, deadline);
    if (fn !== undefined) {
      const result = await callRemote(target.process, fn, {
        data: wideBytes(options.dlls[0]),
        timeout: Math.max(deadline - Date.now(), 1),
        machine: ARCH_MACHINE[target.arch],
      });
      // Without the stub only 32 bits are known: 0 proves nothing then on
      // x64; a 32-bit handle is all there is on x86.
      handle = result.complete || target.arch === "x86"
        ? result.value
        : undefined;
    }
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
    if (!(await waitSignaled(target.process, 1000))) {
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
  const arch = archOf(kind.machine);
  if (!arch) {
    throw new HeapshiftError(
      "unsupported",
      `Cannot launch ${path}: it is ${
        aMachine(kind.machine)
      } program; heapshift supports only x64 and x86 programs`,
    );
  }
  const imports: FirstImport[] = (options.dlls ?? []).map((d) => {
    const file = readDll(d);
    const dll = file.path;
    checkDllArch(file, {
      arch,
      noun: "program",
      doing: `launch ${path} with ${baseName(dll)}`,
    });
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
    // The file said so; the process must agree (an image swapped meanwhile).
    const running = processArchOf(process, pid);
    if (running !== arch) {
      throw new HeapshiftError(
        "failed",
        `Cannot launch ${path}: the file is ${
          archName(arch)
        } but process ${pid} runs as ${archName(running)}`,
      );
    }
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
    launched: new LaunchedProcess(pid, process, arch),
    dlls: imports.map((i) => i.path),
  };
}
