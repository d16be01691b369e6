/**
 * `heapshift inject`: loads the hook DLL into a running program, waits for one to start,
 * or launches an executable with it.
 *
 * @module
 */

import { checkTakeover } from "../takeover.ts";
import {
  endedSoon,
  type Handoff,
  launcherHandoff,
  startedField,
  type StartedProgram,
} from "../handoff.ts";
import { loadedOtherRuntimeWarning } from "../crt_warning.ts";
import { isHeapshiftDll } from "../../pe/mod.ts";
import {
  launchInterruptibly,
  refuseIlOnly,
  takeover,
  warnOtherRuntime,
  warnTestFaults,
} from "./launch.ts";
import type { Command } from "@commander-js/extra-typings";
import { baseName, isFile } from "../../src/_paths.ts";
import { processEnded } from "../../src/_exit_status.ts";
import {
  example,
  parsePath,
  parsePid,
  parseSeconds,
  parseWaitSeconds,
  refuseBothHalves,
  type SetCode,
} from "../args.ts";
import {
  dllForTarget,
  fileArch,
  rebuildStaleDlls,
  resolveDll,
} from "../dll.ts";
import {
  c,
  CliError,
  hex,
  printJson,
  progress,
  shown,
  warn,
} from "../output.ts";
import {
  decimalHint,
  isPathTarget,
  parseProcessArg,
  pickRunning,
  PID_HELP,
  runningName,
} from "../process_arg.ts";
import {
  archesFor,
  bridgeOptions,
  onWindows,
  refuseEnvDetached,
} from "../windows_side.ts";

async function doInject(
  target: string,
  opts: {
    pid?: number;
    wait?: number | boolean;
    dll?: string;
    timeout: number;
    errorDialogs?: boolean;
    json?: boolean;
  },
): Promise<number> {
  const api = await import("../api.ts");
  const picked = await pickRunning(target, opts.pid);
  if (picked) {
    // A pid no process has is said so before anything is asked of it.
    const name = picked.name ?? runningName(picked.pid, api.processes());
    const dll = await dllForTarget(opts.dll, () => api.processArch(picked.pid));
    return await injectPid(picked.pid, name, dll, opts);
  }
  const name = baseName(target);
  if (opts.wait !== undefined && opts.wait !== false) {
    const seconds = typeof opts.wait === "number" ? opts.wait : 60;
    // A --dll must exist before the wait; the default one depends on
    // the bitness of the process that appears, and one built from older
    // sources is rebuilt now, not once the program has started.
    if (opts.dll) await resolveDll(opts.dll);
    else await rebuildStaleDlls(archesFor(target));
    // On stderr also with --json (stdout stays JSON only): a script can
    // start the program once the CLI is waiting for it.
    progress(`waiting up to ${seconds} s for ${name} to start…`);
    // A path waits for that very file; a name for a process that is new
    // (none has it now, but this CLI may, as deno.exe)
    const p = isPathTarget(target)
      ? await waitForFile(target, seconds)
      : await waitForNew(name, { seconds, wait: api.waitForProcess });
    await untilInitialising(p, opts.timeout);
    const dll = await dllForTarget(opts.dll, () => api.processArch(p.pid));
    return await injectPid(p.pid, p.name, dll, opts);
  }
  if (isFile(target)) {
    refuseIlOnly(target, opts.dll ? [opts.dll] : undefined);
    const dll = await dllForTarget(opts.dll, () => fileArch(target));
    await warnOtherRuntime(target, [dll]);
    warnTestFaults([dll]);
    const t0 = performance.now();
    const launched = await launchInterruptibly(target, {
      dlls: [dll],
      stdio: "none",
      timeout: opts.timeout * 1000,
      errorDialogs: opts.errorDialogs,
    });
    const ms = performance.now() - t0;
    let outcome;
    let exitCode: number | undefined;
    let handoff: Handoff | undefined;
    try {
      outcome = await takeover(launched, {
        exe: target,
        dlls: [dll],
        explicitDll: opts.dll !== undefined,
        timeoutMs: opts.timeout * 1000,
      });
      // Watched a moment, as by launch: a launcher hands over and exits.
      exitCode = await endedSoon(launched);
      if (exitCode !== undefined) {
        handoff = await launcherHandoff(launched, {
          exe: target,
          exitCode,
          dlls: [dll],
          soon: true,
        });
      }
    } finally {
      launched.close();
    }
    if (outcome.warning) warn(outcome.warning);
    const code = report({
      pid: launched.pid,
      name,
      launched: true,
      dll,
      ms,
      state: outcome.state,
      exitCode,
      started: handoff?.started,
      json: opts.json,
    });
    // After the report, as launch says it: the last thing read.
    if (handoff) warn(handoff.warning);
    return code;
  }
  throw new CliError(
    `No process named ${name} is running (use --wait to wait for it, or give the path of the executable to launch it)${
      decimalHint(target)
    }`,
  );
}

/**
 * Waits until a process just seen has begun its initialisation: its loader
 * has listed kernel32 (the 32-bit one for an x86 program). Before that
 * (created suspended by a launcher, or a moment after its creation) there
 * is nothing to load a DLL with, and a remote thread would be the one to
 * initialise the program, running every DLL's start-up on it.
 */
async function untilInitialising(
  p: { pid: number; name: string },
  seconds: number,
): Promise<void> {
  const api = await import("../api.ts");
  const deadline = Date.now() + seconds * 1000;
  let last = "";
  for (;;) {
    try {
      const mods = api.modules(p.pid);
      if (mods.some((m) => m.name.toLowerCase() === "kernel32.dll")) return;
      last = "";
    } catch (e) {
      const kind = (e as { kind?: string }).kind;
      // Gone (a launcher that starts its real program and exits): its pid
      // may soon name another process, which must not get the DLL. While
      // anyone holds a handle to one that ended, its pid still opens (and
      // a crash, e.g. 0xC0000135 for a missing DLL, is told by its code).
      const ended = processEnded(e);
      if (kind === "not-found" || kind === "ended") {
        throw new CliError(
          `${p.name} (pid ${p.pid}) ${
            ended?.crash ? ended.message : "exited"
          } before it began initialising; nothing was injected`,
        );
      }
      // Waiting does not open a process we may not open.
      if (kind === "access-denied" || kind === "unsupported") throw e;
      last = e instanceof Error ? ` (last error: ${e.message})` : "";
    }
    if (Date.now() >= deadline) {
      throw new CliError(
        `${p.name} (pid ${p.pid}) did not begin initialising within ${seconds} s (created suspended, and not resumed?); nothing was injected (--timeout sets how long to wait)${last}`,
      );
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * The first new process named `name` (see `waitForProcess` of mod.ts, the
 * `wait` given), within `seconds`: a timeout is said in seconds, as the
 * user gave it.
 */
export async function waitForNew(
  name: string,
  options: {
    seconds: number;
    wait: (
      name: string,
      options: { timeout: number; newOnly: boolean },
    ) => Promise<{ pid: number; name: string }>;
  },
): Promise<{ pid: number; name: string }> {
  const { seconds } = options;
  try {
    return await options.wait(name, { timeout: seconds * 1000, newOnly: true });
  } catch (e) {
    if ((e as { kind?: string }).kind !== "timeout") throw e;
    throw new CliError(
      `No process named ${name} started within ${seconds} s (--wait SECONDS waits longer)`,
    );
  }
}

/** The first process that runs the file at `path`, within `seconds`. */
async function waitForFile(
  path: string,
  seconds: number,
): Promise<{ pid: number; name: string }> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const p = await pickRunning(path);
    if (p) return { pid: p.pid, name: p.name ?? baseName(path) };
    if (Date.now() >= deadline) {
      throw new CliError(`No process ran ${path} within ${seconds} s`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function injectPid(
  pid: number,
  name: string,
  dll: string,
  // opts.dll: the --dll given, if any (`dll` is the path it resolved to)
  opts: { timeout: number; json?: boolean; dll?: string },
): Promise<number> {
  const api = await import("../api.ts");
  // inject() returns a module loaded already as it is, loading nothing
  // more: the report must not say it was injected now.
  const loaded = loadedModules(pid, api.modules);
  const before = new Set(loaded.map((m) => m.base));
  // Not refused (a plugin it loads later may use the UCRT), but 'state
  // live' alone would read as its allocations taken over.
  const runtime = isHeapshiftDll(dll) &&
    await loadedOtherRuntimeWarning(loaded, baseName(dll));
  if (runtime) warn(runtime);
  const t0 = performance.now();
  const mod = await api.inject(pid, dll, { timeout: opts.timeout * 1000 });
  const ms = performance.now() - t0;
  const alreadyLoaded = before.has(mod.base);
  // The load is not the takeover: heapshift may have refused to patch.
  const outcome = await checkTakeover({
    pid,
    name,
    dll,
    explicitDll: opts.dll !== undefined,
  }, {
    timeoutMs: Math.max(opts.timeout * 1000 - ms, 1000),
    stats: api.stats,
  });
  if (outcome.state === "ended") {
    throw new CliError(
      `${
        baseName(dll)
      } was injected into ${name} (pid ${pid}), but the program ended before heapshift's takeover could be seen (did it crash? its own output or the system's event log may say)`,
    );
  }
  if (outcome.warning) warn(outcome.warning);
  const state = outcome.state;
  return report({
    pid,
    name,
    dll,
    ms,
    module: mod,
    alreadyLoaded,
    state,
    json: opts.json,
  });
}

/** The modules loaded in `pid`; none when they cannot be listed. */
function loadedModules<M>(pid: number, modules: (pid: number) => M[]): M[] {
  try {
    return modules(pid);
  } catch {
    return []; // inject() says why it cannot reach the process
  }
}

function report(r: {
  pid: number;
  name: string;
  dll: string;
  ms: number;
  launched?: boolean;
  /** The DLL was loaded before `inject` asked for it: nothing more was. */
  alreadyLoaded?: boolean;
  module?: { name: string; path: string; base: bigint; size: number };
  /** heapshift's state, for heapshift's DLL. */
  state?: "live";
  /** A launched program that has already ended: its exit code. */
  exitCode?: number;
  /** The programs it started that still run (a launcher's game). */
  started?: StartedProgram[];
  json?: boolean;
}): number {
  if (r.json) {
    printJson({
      pid: r.pid,
      process: r.name,
      launched: r.launched ?? false,
      alreadyLoaded: r.alreadyLoaded ?? false,
      dll: r.dll,
      module: r.module,
      ...(r.state ? { state: r.state } : {}),
      ...(r.exitCode === undefined ? {} : { exitCode: r.exitCode }),
      ...startedField(r.started),
      ms: Math.round(r.ms * 10) / 10,
    });
    return 0;
  }
  const verb = r.launched ? "launched" : "injected";
  // The process's name and the module's path are the program's: escaped.
  const dll = shown(baseName(r.dll));
  const name = c.bold(shown(r.name));
  console.log(
    r.alreadyLoaded
      ? `${dll} was loaded in ${name} (pid ${r.pid}) already`
      : `${c.green(verb)} ${dll} ${
        r.launched ? "with" : "into"
      } ${name} (pid ${r.pid})`,
  );
  const rows: string[][] = [];
  if (r.module) rows.push(["module base", hex(r.module.base)]);
  rows.push(["dll", shown(r.module?.path ?? r.dll)]);
  if (r.state) rows.push(["state", r.state]);
  if (r.exitCode !== undefined) rows.push(["exit", `${r.exitCode} (ended)`]);
  rows.push(["took", `${r.ms.toFixed(1)} ms`]);
  for (const [k, v] of rows) console.log(`  ${k.padEnd(12)} ${v}`);
  return 0;
}

/** Registers `inject`. */
export function injectCommand(program: Command, setCode: SetCode): void {
  const command = program.command("inject")
    .description(
      "Inject the hook DLL into a running program (pid, process name, or an executable to launch).",
    )
    .argument(
      "<target>",
      "pid, process name (game.exe) or path of an executable",
      parseProcessArg,
    )
    .option("--pid <pid>", PID_HELP, parsePid)
    .option(
      "--wait [seconds]",
      "wait for the process to start (default 60 s), then inject at once",
      parseWaitSeconds,
    )
    .option(
      "--dll <path>",
      "the DLL to inject (default build/heapshift.dll, or build/heapshift32.dll for a 32-bit program)",
      parsePath,
    )
    .option(
      "--timeout <seconds>",
      "how long the remote load may take (with --wait, also how long the program found may take to begin initialising; for an executable that is not running, how long its loader may take to load the DLL before the program is stopped)",
      parseSeconds,
      10,
    )
    .option(
      "--error-dialogs",
      "for an executable that is not running: give it Windows' default error mode, as from Explorer (without either option it inherits heapshift's)",
    )
    .option(
      "--no-error-dialogs",
      "for an executable that is not running: Windows shows the program no error box (a DLL not found, a crash); it fails with the error's exit code instead, for scripts no one watches",
    )
    .option("--json", "machine-readable output");
  refuseBothHalves(command, "error-dialogs", {
    what:
      "give one, or neither for the program to inherit heapshift's error mode",
  });
  bridgeOptions(command).addHelpText(
    "after",
    example(
      "deno run -A cli.ts inject game.exe",
      "deno run -A cli.ts inject 1234 --json",
      "deno run -A cli.ts inject game.exe --wait 120",
    ),
  ).action(async (target, opts) => {
    refuseEnvDetached(opts, { inject: target, wait: opts.wait });
    setCode(
      await onWindows(opts, () => doInject(target, opts), {
        // an executable to launch is read there too
        files: [opts.dll, target],
        defaultDlls: opts.dll ? [] : archesFor(target),
      }),
    );
  });
}
