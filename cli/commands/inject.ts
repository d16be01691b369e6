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
  LaunchWatch,
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
import type { AttachedProcess, Stats } from "../api.ts";
import {
  type EndedInstance,
  type FindInstance,
  heldBy,
  type HeldInstance,
  type Instance,
  takeOverLasting,
  UNWATCHED,
} from "../lasting_instance.ts";
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
  isConsoleProgram,
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
  pickProcess,
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
  // By name or path: the instance that keeps running (a pid or --pid
  // names one process, taken as it is).
  if (
    opts.wait !== undefined && opts.wait !== false &&
    opts.pid === undefined && !/^\d+$/.test(target)
  ) {
    const seconds = typeof opts.wait === "number" ? opts.wait : 60;
    return await injectLasting(target, { ...opts, seconds });
  }
  const picked = await pickRunning(target, opts.pid);
  if (picked) {
    // A pid no process has is said so before anything is asked of it.
    const name = picked.name ?? runningName(picked.pid, api.processes());
    const dll = await dllForTarget(opts.dll, () => api.processArch(picked.pid));
    return await injectPid(picked.pid, name, dll, opts);
  }
  const name = baseName(target);
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
    // What it starts, and theirs, seen while they run (as by launch).
    using watch = new LaunchWatch(launched, { list: api.processes });
    watch.start();
    try {
      outcome = await takeover(launched, {
        exe: target,
        dlls: [dll],
        explicitDll: opts.dll !== undefined,
        timeoutMs: opts.timeout * 1000,
      });
      // Watched a moment, as by launch: a launcher hands over and exits.
      exitCode = await endedSoon(launched);
      watch.stop();
      if (exitCode !== undefined) {
        handoff = await launcherHandoff(launched, {
          exe: target,
          exitCode,
          dlls: [dll],
          explicitDll: opts.dll !== undefined ? dll : undefined,
          soon: true,
          endedWithinWatch: true,
          unseenConsole: isConsoleProgram(target),
          watch: watch.descent,
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
 * `inject --wait` of a name or a path: waits for the program to start
 * (takes the one running, if one is), and takes over the instance that
 * keeps running ({@linkcode takeOverLasting}).
 */
async function injectLasting(
  target: string,
  opts: InjectOptions & { seconds: number },
): Promise<number> {
  const api = await import("../api.ts");
  const name = baseName(target);
  const { seconds } = opts;
  const running = await pickRunning(target, undefined, {
    several: "--wait waits only when none is running",
  });
  if (!running) {
    // A --dll must exist before the wait; the default one depends on
    // the bitness of the process that appears, and one built from older
    // sources is rebuilt now, not once the program has started.
    if (opts.dll) await resolveDll(opts.dll);
    else await rebuildStaleDlls(archesFor(target));
    // On stderr also with --json (stdout stays JSON only): a script can
    // start the program once the CLI is waiting for it.
    progress(`waiting up to ${seconds} s for ${name} to start…`);
  }
  const lasting = await takeOverLasting(
    running && { pid: running.pid, name: running.name ?? name },
    {
      name,
      seconds,
      find: instanceOf(target, api),
      noneStarted: isPathTarget(target)
        ? `No process ran ${target} within ${seconds} s`
        : `No process named ${name} started within ${seconds} s (--wait SECONDS waits longer)`,
      hold: (p) => holdInstance(p, api.attach),
      takeOver: async (p, held) => {
        await untilInitialising(p, opts.timeout);
        const dll = await dllForTarget(opts.dll, () => api.processArch(p.pid));
        // Read through our handle: also once the program has ended.
        const stats = held.stats ?? api.stats;
        return await injectInto(p, {
          ...opts,
          dll,
          explicitDll: opts.dll !== undefined,
          stats,
        });
      },
      notice: (text) => progress(text),
    },
  );
  const { result } = lasting;
  const code = report({
    ...result,
    state: result.state === "live" ? "live" : undefined,
    exitCode: lasting.exitCode,
    endedInstances: lasting.ended,
    json: opts.json,
  });
  if (lasting.warning) warn(lasting.warning);
  return code;
}

/**
 * The instances `target` (a name or a path) designates, those in `seen`
 * (taken already) aside: by name the first listed (never this CLI's own
 * process, a deno.exe), by path one running that very file. None ran
 * when the wait began (one that did is taken first, several refused):
 * one started while the DLLs were rebuilt is found too.
 */
function instanceOf(
  target: string,
  api: {
    findProcesses: (name: string) => Instance[];
    processPath: (pid: number) => string;
  },
): FindInstance {
  const name = baseName(target);
  return (seen) => {
    const find = (n: string) =>
      api.findProcesses(n).filter((p) => !seen.has(p.pid));
    if (!isPathTarget(target)) {
      return find(name).find((p) => p.pid !== Deno.pid);
    }
    const p = pickProcess(target, { find, pathOf: api.processPath });
    return p && { pid: p.pid, name: p.name ?? name };
  };
}

/**
 * Process `p` held open (its exit code, and heapshift's stats, readable
 * once it has ended); undefined when it is gone. One that cannot be
 * opened is taken over all the same, unwatched: the takeover says why it
 * cannot be reached.
 */
function holdInstance(
  p: Instance,
  attach: (pid: number) => AttachedProcess,
): (HeldInstance & { stats?: () => Stats }) | undefined {
  let attached: AttachedProcess;
  try {
    attached = attach(p.pid);
  } catch (e) {
    if ((e as { kind?: string }).kind === "not-found") return undefined;
    return UNWATCHED;
  }
  return {
    ...heldBy(attached, () => attached.close()),
    stats: () => attached.stats(),
  };
}

/** What the options of `inject` give the injection. */
interface InjectOptions {
  timeout: number;
  json?: boolean;
  /** The --dll given, if any. */
  dll?: string;
}

/** An injection done, for the report. */
interface Injected {
  pid: number;
  name: string;
  dll: string;
  ms: number;
  module: { name: string; path: string; base: bigint; size: number };
  alreadyLoaded: boolean;
  /** heapshift's state (heapshift's DLL): `ended` if the program did first. */
  state?: "live" | "ended";
}

async function injectPid(
  pid: number,
  name: string,
  dll: string,
  // opts.dll: the --dll given, if any (`dll` is the path it resolved to)
  opts: InjectOptions,
): Promise<number> {
  const api = await import("../api.ts");
  const injected = await injectInto({ pid, name }, {
    ...opts,
    dll,
    explicitDll: opts.dll !== undefined,
    stats: api.stats,
  });
  if (injected.state === "ended") {
    throw new CliError(
      `${
        baseName(dll)
      } was injected into ${name} (pid ${pid}), but the program ended before heapshift's takeover could be seen (did it crash? its own output or the system's event log may say)`,
    );
  }
  return report({
    ...injected,
    state: injected.state,
    json: opts.json,
  });
}

/**
 * Injects `options.dll` into process `p` and waits for heapshift's
 * takeover (read with `options.stats`); what it said is warned of.
 */
async function injectInto(
  p: Instance,
  options: {
    dll: string;
    /** The DLL came from --dll (a retry must name it too). */
    explicitDll?: boolean;
    timeout: number;
    stats: (pid: number) => Stats;
  },
): Promise<Injected> {
  const { pid, name } = p;
  const { dll } = options;
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
  const mod = await api.inject(pid, dll, { timeout: options.timeout * 1000 });
  const ms = performance.now() - t0;
  // The load is not the takeover: heapshift may have refused to patch.
  const outcome = await checkTakeover({
    pid,
    name,
    dll,
    explicitDll: options.explicitDll,
  }, {
    timeoutMs: Math.max(options.timeout * 1000 - ms, 1000),
    stats: options.stats,
  });
  if (outcome.warning) warn(outcome.warning);
  return {
    pid,
    name,
    dll,
    ms,
    module: mod,
    alreadyLoaded: before.has(mod.base),
    state: outcome.state,
  };
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
  /** Instances of the program waited for that ended before this one. */
  endedInstances?: EndedInstance[];
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
      ...(r.endedInstances?.length ? { endedInstances: r.endedInstances } : {}),
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
      "wait for the process to start (default 60 s), then inject at once; if it ends within 2 s (a game that has Steam start it again), the next instance to start is taken over",
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
