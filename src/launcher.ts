/**
 * Starting a program with DLLs that load before any of its own code:
 * the process is created suspended, the DLLs are put first in the
 * in-memory import table of its executable (the method of Detours'
 * DetourCreateProcessWithDlls), then it is resumed. The loader then maps
 * and initialises them as static imports, before the program's TLS
 * callbacks, CRT initialisation and `main`. {@linkcode launch} returns once
 * a remote thread has seen them loaded (created only once the main thread
 * has begun initialising the process, so it runs after that), or reports
 * the loader's failure.
 *
 * @module
 */

import { aMachine, archName, archOf } from "./arch.ts";
import {
  absolutePath,
  checkDllArch,
  firstExportOrdinal,
  readDllFor,
} from "./_dll_file.ts";
import { baseName } from "./_paths.ts";
import { HeapshiftError } from "./heapshift_error.ts";
import {
  createProcess,
  ERROR,
  KillOnExit,
  RemoteMemory,
  resumeThread,
  SEM,
  shortPathName,
  terminateProcess,
  Win32Error,
} from "../ffi/mod.ts";
import type { FirstImport } from "../pe/mod.ts";
import {
  ilOnlyRefusal,
  isIlOnlyAssembly,
  notAProgram,
  peKind,
  readFailure,
  readHead,
} from "./_image_kind.ts";
import { processArchOf } from "./_target.ts";
import { mergeEnv, quoteArg } from "./command_line.ts";
import {
  holdLaunchedStats,
  LaunchedProcess,
  launchedTarget,
} from "./launched_process.ts";
import { markLoaded } from "./_load_marker.ts";
import { moduleNamed, targetModules } from "./module_list.ts";
import { addImports, findExeImage } from "./_first_imports.ts";
import { confirmLoaded } from "./_load_check.ts";
import { guardAsync } from "./_error_kinds.ts";
import { timeoutMs } from "./_timeout.ts";
import { checkOptions, checkOptionTypes, typeName } from "./_arguments.ts";

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
  /**
   * The program's working directory (default: the current one). A
   * relative `exe` or DLL path is still taken from the current directory,
   * not from this one.
   */
  cwd?: string;
  /** Variables added to (or replacing those of) the current environment. */
  env?: Record<string, string>;
  /** DLLs to load before the program's own code, in this order. */
  dlls?: string[];
  /**
   * Milliseconds to wait for the program's loader to load and initialise
   * the DLLs (default 10000; Infinity: no limit). A DLL that fails to load is reported as a
   * `load-failed` error; on timeout the program is stopped.
   */
  timeout?: number;
  /**
   * `inherit` (default): the program's stdin, stdout and stderr are ours;
   * `none`: it has none, so it does not hold our pipes open once we end.
   */
  stdio?: "inherit" | "none";
  /**
   * Whether Windows may show the program's error dialogs: the loader's "a
   * DLL was not found" box, and the "stopped working" box of a crash
   * (Windows Error Reporting). Unsaid, the program inherits this
   * process's error mode, as CreateProcess gives it (a CI agent or a
   * service that turned the dialogs off for what it starts keeps them
   * off). `true` gives the program Windows' default error mode, as it has
   * when started from Explorer, whatever this process's is. `false` turns
   * both off (SEM_FAILCRITICALERRORS | SEM_NOGPFAULTERRORBOX), for
   * automation, where a box no one clicks would hang the script: the
   * program fails at once with the error's exit code instead (0xC0000135
   * for a missing DLL), and Windows Error Reporting is not started for an
   * ordinary crash (a fail-fast one, such as a detected heap corruption,
   * may still be reported).
   */
  errorDialogs?: boolean;
  /**
   * Cancels the launch: aborted before the call, nothing is started;
   * aborted while launch waits for the DLLs, the program (which has run no
   * further than its loader) is stopped. Either way launch rejects with the
   * signal's reason. Once launch has returned, the signal has no effect.
   */
  signal?: AbortSignal;
}
/** CreateProcessW's limit on the command line, its NUL included. */
const MAX_COMMAND_LINE = 32_768;

function launchError(exe: string, e: unknown, cwd?: string): unknown {
  if (!(e instanceof Win32Error)) return e;
  // CreateProcessW's answer for a working directory that is not one
  if (e.code === ERROR.DIRECTORY && cwd !== undefined) {
    return new HeapshiftError(
      "not-found",
      `Cannot launch ${exe}: its working directory ${cwd} does not exist or is not a directory`,
      { cause: e },
    );
  }
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
 * before anything is started; so is an IL-only .NET program with DLLs
 * (`unsupported`: Windows leaves its imports to the .NET runtime). A
 * program whose files use another C runtime than the UCRT is not refused:
 * heapshift takes over only what modules it loads later on the UCRT (a
 * plugin) allocate, and the program's own `free` of such a block ends it
 * on Windows (the block is mimalloc's; a 32-bit program only with
 * termination on heap corruption on, else the free fails). Until the DLLs are confirmed the program is
 * held in a job object that ends it if this process ends (Ctrl+C without a
 * handler, a crash, being killed), so it is never left suspended or
 * half-started; once `launch` resolves it may outlive this process.
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
export function launch(
  exe: string,
  options: LaunchOptions = {},
): Promise<LaunchedProcess> {
  return guardAsync(() => start(exe, options));
}

async function start(
  exe: string,
  options: LaunchOptions,
): Promise<LaunchedProcess> {
  if (typeof exe !== "string" || exe === "") {
    throw new HeapshiftError(
      "bad-argument",
      `Cannot launch: the program must be the path of an executable, not ${
        exe === "" ? "an empty string" : typeName(exe)
      }`,
    );
  }
  checkOptions(options, `launch ${exe}`);
  const timeout = timeoutMs(options.timeout, {
    fallback: 10_000,
    doing: `launch ${exe}`,
    infinite: true,
  });
  checkStrings(exe, options);
  const signal = options.signal;
  signal?.throwIfAborted();
  const { launched, dlls, hold } = launchSuspendedAndResume(exe, options);
  try {
    const check = confirmLoaded(launched, {
      exe,
      dlls,
      timeout,
      errorDialogs: options.errorDialogs,
    });
    await (signal ? untilAborted(check, signal) : check);
    markLaunchLoads(launched, dlls);
    // heapshift.dll made its stats block while it loaded: held from now,
    // its counts outlast the program (LaunchedProcess.stats).
    holdLaunchedStats(launched);
    // Confirmed: from now on it may outlive us.
    hold?.release();
  } catch (e) {
    // Not known to have its DLLs: the caller gets no process, so none is
    // left running.
    try {
      launched.kill();
    } catch { /* it has exited */ }
    hold?.close();
    launched.close();
    throw e;
  }
  return launched;
}

/**
 * Marks the DLLs `launched` loaded for us as heapshift's loads, so that
 * eject unloads them without `force`. Best effort, as the marks are: a
 * program that ended meanwhile lists nothing.
 */
function markLaunchLoads(launched: LaunchedProcess, dlls: string[]): void {
  if (dlls.length === 0) return;
  let loaded;
  try {
    loaded = targetModules(launchedTarget(launched));
  } catch {
    return;
  }
  for (const dll of dlls) {
    const mod = moduleNamed(loaded, dll);
    if (mod) markLoaded(launched.pid, mod);
  }
}

/**
 * `work`, or the signal's reason if it is aborted first (then `work` is left
 * to fail on its own: the caller stops what it waits for).
 */
async function untilAborted<T>(
  work: Promise<T>,
  signal: AbortSignal,
): Promise<T> {
  work.catch(() => {});
  let onAbort = () => {};
  const stop = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason);
  });
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    signal.throwIfAborted();
    return await Promise.race([work, stop]);
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
}

/**
 * The options' types (a JavaScript caller's are not checked for it), and
 * arguments and environment that a command line or an environment block
 * can carry: a NUL would end the string there (and drop what follows),
 * `=` in a name would split it.
 */
function checkStrings(exe: string, options: LaunchOptions): void {
  const doing = `launch ${exe}`;
  const bad = (what: string) =>
    new HeapshiftError("bad-argument", `Cannot ${doing}: ${what}`);
  const { args = [], env = {}, cwd, dlls = [], stdio } = options;
  if (!Array.isArray(args)) {
    throw bad(`args must be an array of strings, not ${typeName(args)}`);
  }
  args.forEach((a: unknown, i) => {
    if (typeof a !== "string") {
      throw bad(`argument ${i + 1} is ${typeName(a)}, not a string`);
    }
    if (a.includes("\0")) {
      throw bad(
        `argument ${
          i + 1
        } contains a NUL character, which would end the command line there`,
      );
    }
  });
  if (typeof env !== "object" || env === null || Array.isArray(env)) {
    throw bad(
      `env must be an object of strings ({ NAME: "value" }), not ${
        typeName(env)
      }`,
    );
  }
  for (const [k, v] of Object.entries(env) as [string, unknown][]) {
    if (k === "" || k.includes("\0") || k.indexOf("=", 1) !== -1) {
      throw bad(
        `${
          JSON.stringify(k)
        } is not an environment variable name (no "=" or NUL, not empty)`,
      );
    }
    if (typeof v !== "string") {
      throw bad(`the value of ${k} is ${typeName(v)}, not a string`);
    }
    if (v.includes("\0")) {
      throw bad(
        `the value of ${k} contains a NUL character, which would end it there`,
      );
    }
  }
  checkOptionTypes(options, { types: { cwd: "string" }, doing });
  if (cwd?.includes("\0")) {
    throw bad(
      "its working directory contains a NUL character, which would end it there",
    );
  }
  if (!Array.isArray(dlls)) {
    throw bad(`dlls must be an array of DLL paths, not ${typeName(dlls)}`);
  }
  dlls.forEach((d: unknown, i) => {
    if (typeof d !== "string") {
      throw bad(`dll ${i + 1} is ${typeName(d)}, not a path`);
    }
  });
  if (stdio !== undefined && stdio !== "inherit" && stdio !== "none") {
    throw bad(
      `stdio must be "inherit" or "none", not ${
        typeof stdio === "string" ? JSON.stringify(stdio) : typeName(stdio)
      }`,
    );
  }
  checkOptionTypes(options, {
    types: { signal: "AbortSignal", errorDialogs: "boolean" },
    doing,
  });
}

const ASCII_PATH = /^[\x20-\x7e]+$/;

/**
 * `dll` as an import table can name it: plain ASCII (the loader reads
 * import names in the ANSI code page, which is not known here). A folder
 * whose name is not (a user profile's, where a compiled binary extracts
 * its DLL) is named by its 8.3 alias, which is ASCII where the volume has
 * 8.3 names; the file name itself must be ASCII, as it is the module's
 * name. `undefined` when there is no such form.
 */
function importablePath(dll: string): string | undefined {
  if (ASCII_PATH.test(dll)) return dll;
  const cut = dll.lastIndexOf("\\");
  const name = dll.slice(cut + 1);
  if (cut < 0 || !ASCII_PATH.test(name)) return undefined;
  const dir = shortPathName(dll.slice(0, cut));
  return dir !== undefined && ASCII_PATH.test(dir)
    ? `${dir.replace(/\\$/, "")}\\${name}`
    : undefined;
}

function launchSuspendedAndResume(
  exe: string,
  options: LaunchOptions,
): { launched: LaunchedProcess; dlls: string[]; hold?: KillOnExit } {
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
    const why = notAProgram(path, head);
    throw new HeapshiftError(
      "unsupported",
      `Cannot launch ${path}: ${why.startsWith("not ") ? why : `it is ${why}`}`,
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
  const dlls = options.dlls ?? [];
  if (dlls.length > 0 && isIlOnlyAssembly(path)) {
    // Windows' loader leaves an IL-only program's imports to the .NET
    // runtime (Detours clears the flag to add DLLs, and converts an any-CPU
    // PE32 image to PE32+): an added DLL is not loaded, and an any-CPU
    // program, whose file is PE32, runs as a 64-bit process.
    throw new HeapshiftError(
      "unsupported",
      ilOnlyRefusal(path, dlls.map((d) => baseName(String(d)))),
    );
  }
  const imports: FirstImport[] = dlls.map((d) => {
    const file = readDllFor(d, arch);
    const dll = file.path;
    checkDllArch(file, {
      arch,
      noun: "program",
      doing: `launch ${path} with ${baseName(dll)}`,
    });
    const named = importablePath(dll);
    if (named === undefined) {
      throw new HeapshiftError(
        "bad-dll",
        `Cannot use DLL ${dll} with launch: import names are ANSI, so the path must be plain ASCII, and the folder has no 8.3 name that is (copy the DLL to such a path)`,
      );
    }
    const ordinal = firstExportOrdinal(dll);
    if (ordinal === undefined) {
      throw new HeapshiftError(
        "bad-dll",
        `Cannot use DLL ${dll} with launch: it exports nothing, and a DLL added to the import table must export at least one function`,
      );
    }
    return { path: named, ordinal };
  });

  const commandLine = [path, ...(options.args ?? [])].map(quoteArg).join(" ");
  if (commandLine.length >= MAX_COMMAND_LINE) {
    throw new HeapshiftError(
      "bad-argument",
      `Cannot launch ${path}: its command line would be ${commandLine.length} characters, and Windows takes at most ${
        MAX_COMMAND_LINE - 1
      } (pass long data in a file or through the environment)`,
    );
  }
  let created;
  try {
    created = createProcess(path, commandLine, {
      cwd: options.cwd === undefined ? undefined : absolutePath(options.cwd),
      env: options.env ? mergeEnv(options.env) : undefined,
      suspended: true,
      stdio: options.stdio,
      errorMode: options.errorDialogs === undefined
        ? "inherit"
        : options.errorDialogs
        ? "default"
        : SEM.FAILCRITICALERRORS | SEM.NOGPFAULTERRORBOX,
    });
  } catch (e) {
    throw launchError(path, e, options.cwd);
  }
  const { process, thread, pid } = created;
  // Until its DLLs are confirmed the program ends with us, however we end
  // (Ctrl+C, a crash, being killed): never left suspended or half-started.
  let hold: KillOnExit | undefined;
  try {
    hold = KillOnExit.hold(process);
  } catch { /* (a job of ours that forbids it): without */ }
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
    hold?.close();
    process.close();
    throw e instanceof HeapshiftError ? e : launchError(path, e);
  } finally {
    thread.close();
  }
  return {
    launched: new LaunchedProcess(pid, process, { arch }),
    dlls: imports.map((i) => i.path),
    hold,
  };
}
