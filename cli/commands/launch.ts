/**
 * `heapshift launch`: starts a program with DLLs loaded before any of its own code.
 *
 * @module
 */

import { ignoringInterrupts, interruptible } from "../interrupts.ts";
import type { Command } from "@commander-js/extra-typings";
import { baseName, isFile } from "../../src/_paths.ts";
import { crashStatus } from "../../src/_exit_status.ts";
import { underWine } from "../wine_bridge.ts";
import {
  collect,
  example,
  parsePath,
  parseSeconds,
  refuseBothHalves,
  type SetCode,
} from "../args.ts";
import {
  distinctDlls,
  fileArch,
  HOOK_DLL,
  isConsoleProgram,
  resolveDll,
} from "../dll.ts";
import { ilOnlyRefusal, isIlOnlyAssembly } from "../../src/_image_kind.ts";
import { c, cErr, CliError, shown, toJson, warn } from "../output.ts";
import { checkTakeover } from "../takeover.ts";
import {
  endedSoon,
  launcherHandoff,
  LaunchWatch,
  startedField,
} from "../handoff.ts";
import { otherRuntimeWarning } from "../crt_warning.ts";
import { isHeapshiftDll } from "../../pe/mod.ts";
import type { LaunchedProcess, LaunchOptions } from "../api.ts";
import {
  archesFor,
  bridgeOptions,
  onWindows,
  refuseEnvDetached,
} from "../windows_side.ts";

/** Registers `launch`. */
export function launchCommand(program: Command, setCode: SetCode): void {
  const command = program.command("launch")
    .description(
      "Start a program with DLLs loaded before any of its own code runs.",
    )
    .argument("<exe>", "the executable", parsePath)
    .argument("[args...]", "its arguments (after --)")
    .option(
      "--dll <path>",
      "a DLL to load (repeatable; default build/heapshift.dll, or build/heapshift32.dll for a 32-bit program)",
      (v: string, prev?: string[]) => collect(parsePath(v), prev),
    )
    .option("--cwd <dir>", "working directory", parsePath)
    .option(
      "--timeout <seconds>",
      "how long the program's loader may take to load and initialise the DLLs before the program is stopped",
      parseSeconds,
      10,
    )
    .option(
      "--error-dialogs",
      "give the program Windows' default error mode, as from Explorer: Windows may show it an error box (a DLL not found, a crash); without either option it inherits heapshift's",
    )
    .option(
      "--no-error-dialogs",
      "Windows shows the program no error box (a DLL not found, a crash): it fails with the error's exit code instead, for scripts no one watches",
    )
    .option(
      "--wait-exit",
      "wait for the program to end and exit with its code (its stdin, stdout and stderr are ours; the report goes to stderr)",
    )
    .option("--json", "machine-readable output");
  refuseBothHalves(command, "error-dialogs", {
    what:
      "give one, or neither for the program to inherit heapshift's error mode",
  });
  bridgeOptions(command).addHelpText(
    "after",
    example(
      "deno run -A cli.ts launch game.exe -- -windowed",
      "deno run -A cli.ts launch app.exe --dll build/heapshift.dll --dll extra.dll",
    ),
  ).action(async (exe, args, opts) => {
    refuseEnvDetached(opts, { launch: exe, waitExit: opts.waitExit });
    refuseIlOnly(exe, opts.dll);
    setCode(
      await onWindows(opts, () => doLaunch(exe, args, opts), {
        files: [exe, ...(opts.dll ?? [])],
        defaultDlls: opts.dll?.length ? [] : archesFor(exe),
      }),
    );
  });
}

/**
 * Says (on stderr) when heapshift, among `dlls`, is launched with a
 * program whose files use another C runtime: not refused (a plugin it
 * loads later may use the UCRT), but 'state live' alone would read as its
 * allocations taken over.
 */
export async function warnOtherRuntime(
  exe: string,
  dlls: readonly string[],
): Promise<void> {
  const heapshift = dlls.find((d) => isHeapshiftDll(d));
  const runtime = heapshift &&
    await otherRuntimeWarning(exe, baseName(heapshift));
  if (runtime) warn(runtime);
}

/**
 * Says (on stderr) when heapshift, among `dlls`, is launched while the
 * test-only HEAPSHIFT_TEST_FAULTS is set here: the program inherits our
 * environment, and heapshift.dll would fake the failures it names (a
 * refused takeover that reads as the program's doing).
 */
export function warnTestFaults(dlls: readonly string[]): void {
  let faults: string | undefined;
  try {
    faults = Deno.env.get("HEAPSHIFT_TEST_FAULTS");
  } catch {
    return; // not allowed to read it: neither is it known to be set
  }
  if (!faults || !dlls.some((d) => isHeapshiftDll(d))) return;
  warn(
    `HEAPSHIFT_TEST_FAULTS=${faults} is set in heapshift's environment: the program inherits it, and heapshift.dll fakes the failures it names (a switch for heapshift's tests: unset it)`,
  );
}

/**
 * Refuses to launch the IL-only .NET program `exe` with DLLs (`dlls`, else
 * the default one), before a default DLL is picked (or built, here or for
 * the Wine side) for a program that takes none: the API would refuse it
 * only then.
 */
export function refuseIlOnly(exe: string, dlls?: readonly string[]): void {
  if (!isIlOnlyAssembly(exe)) return;
  throw new CliError(
    ilOnlyRefusal(
      exe,
      dlls?.length ? dlls.map(baseName) : [HOOK_DLL[fileArch(exe) ?? "x64"]],
    ),
  );
}

async function doLaunch(
  exe: string,
  args: string[],
  opts: {
    dll?: string[];
    cwd?: string;
    timeout: number;
    errorDialogs?: boolean;
    waitExit?: boolean;
    json?: boolean;
  },
): Promise<number> {
  if (!isFile(exe)) throw new CliError(`No executable at ${exe}`);
  const api = await import("../api.ts");
  const dlls = opts.dll?.length
    ? distinctDlls(await Promise.all(opts.dll.map((d) => resolveDll(d))))
    : [await resolveDll(undefined, { arch: fileArch(exe) })];
  await warnOtherRuntime(exe, dlls);
  warnTestFaults(dlls);
  const t0 = performance.now();
  // Without --wait-exit the program outlives us: it must not hold our
  // stdout open (a script reading it would wait for the program's end).
  // Ctrl+C before the DLLs are confirmed stops the program instead of
  // leaving it behind, suspended or unchecked.
  const launched = await launchInterruptibly(exe, {
    args,
    cwd: opts.cwd,
    dlls,
    stdio: opts.waitExit ? "inherit" : "none",
    timeout: opts.timeout * 1000,
    errorDialogs: opts.errorDialogs,
  });
  const ms = performance.now() - t0;
  const console_ = isConsoleProgram(exe);
  // What it starts, and what those start, seen while they run: a
  // launcher's launcher (or cmd /c start) may end before it does.
  using watch = new LaunchWatch(launched, { list: api.processes });
  watch.start();
  const { state, warning } = await takeover(launched, {
    exe,
    dlls,
    explicitDll: Boolean(opts.dll?.length),
    waitExit: opts.waitExit,
    timeoutMs: opts.timeout * 1000,
  });
  // A console program shares our stderr while it runs: its warning waits
  // for its end. A GUI program's is said now (Ctrl+C may end our wait).
  const later = opts.waitExit && console_ ? warning : undefined;
  if (warning && !later) warn(warning);
  // Ctrl+C reaches a console program too (it shares our console): it
  // decides, and we stay to report its exit code, as a shell would. A GUI
  // program never gets it: then Ctrl+C is ours.
  const wait = () => api.waitExit(launched);
  // Without --wait-exit, watched a moment: a game's launcher starts the
  // game and exits, which must not pass for the game running with the DLLs.
  const code = !opts.waitExit
    ? await endedSoon(launched)
    : console_
    ? await ignoringInterrupts(wait)
    : await wait();
  watch.stop();
  // With --wait-exit the program had our standard streams: the report
  // goes to stderr, once it has ended, so neither is mixed into the other.
  const say = opts.waitExit ? console.error : console.log;
  const colour = opts.waitExit ? cErr : c;
  const handoff = code === undefined
    ? undefined
    : await launcherHandoff(launched, {
      exe,
      exitCode: code,
      dlls,
      explicitDll: opts.dll?.length ? dlls.find(isHeapshiftDll) : undefined,
      soon: !opts.waitExit,
      // A console program run to its end (--wait-exit) is what ends soon
      // in the ordinary way; a GUI one that shows nothing and ends at
      // once is a launcher's hand-over.
      endedWithinWatch: !opts.waitExit || (!console_ && watch.within()),
      unseenConsole: !opts.waitExit && console_,
      watch: watch.descent,
    });
  if (opts.json) {
    say(toJson({
      pid: launched.pid,
      exe,
      args,
      dlls,
      ms: Math.round(ms * 10) / 10,
      ...(state ? { state } : {}),
      ...(code === undefined ? {} : { exitCode: code }),
      ...startedField(handoff?.started),
    }));
  } else {
    say(
      `${colour.green("launched")} ${
        colour.bold(shown(baseName(exe)))
      } (pid ${launched.pid})`,
    );
    for (const d of dlls) say(`  dll   ${shown(d)}`);
    if (state) say(`  state ${state}`);
    say(`  took  ${ms.toFixed(1)} ms`);
    if (code !== undefined) say(`  exit  ${code}`);
  }
  if (later) warn(later);
  if (handoff) warn(handoff.warning);
  const note = opts.waitExit && code !== undefined
    ? exitStatusNote(code, { wine: underWine() !== null })
    : undefined;
  if (note) console.error(cErr.dim(`note: ${note}`));
  return opts.waitExit ? code ?? 0 : 0;
}

/**
 * What the shell will not see of the exit code `code` that `--wait-exit`
 * exits with: under Wine the Linux side gets only its low byte (a crash's
 * 0xC0000005 arrives as 5), so a code that does not fit is said here.
 * Undefined natively, or when it fits.
 */
export function exitStatusNote(
  code: number,
  options: { wine: boolean },
): string | undefined {
  const status = code >>> 0;
  if (!options.wine || status <= 255) return undefined;
  const crash = crashStatus(code);
  return `the program's exit code ${code}${
    crash ? ` (${crash})` : ""
  } does not fit a Linux exit status: under Wine the shell sees ${
    status & 0xff
  } (its low byte)`;
}

/**
 * `launch()` with Ctrl+C turned into its abort: a program interrupted before
 * its DLLs are confirmed is stopped, not left behind suspended or
 * unchecked (exit code 130).
 */
export async function launchInterruptibly(
  exe: string,
  options: Omit<LaunchOptions, "signal">,
): Promise<LaunchedProcess> {
  const api = await import("../api.ts");
  return await interruptible(
    (signal) => api.launch(exe, { ...options, signal }),
    `Launch of ${baseName(exe)} interrupted: the program was stopped`,
  );
}

/**
 * heapshift's state once the program runs, if one of `dlls` is heapshift's
 * and the program has not ended yet (waiting at most `timeoutMs`, default
 * 10 s). A failed takeover is an error; with `--wait-exit` (the program is
 * running with our streams) a warning.
 */
export async function takeover(
  launched: LaunchedProcess,
  options: {
    exe: string;
    dlls: string[];
    /** The DLLs came from `--dll`, not the default. */
    explicitDll?: boolean;
    waitExit?: boolean;
    timeoutMs?: number;
  },
): Promise<{ state?: "live"; warning?: string }> {
  const api = await import("../api.ts");
  for (const dll of options.dlls) {
    if (launched.exitCode() !== undefined) return {};
    try {
      const outcome = await checkTakeover({
        pid: launched.pid,
        name: baseName(options.exe),
        dll,
        explicitDll: options.explicitDll,
      }, { timeoutMs: options.timeoutMs ?? 10_000, stats: api.stats });
      if (outcome.state === "live") return { state: "live" };
      if (outcome.state === "ended" || outcome.warning) {
        return { warning: outcome.warning };
      }
    } catch (e) {
      if (!(e instanceof CliError) || !options.waitExit) throw e;
      return { warning: e.message };
    }
  }
  return {};
}
