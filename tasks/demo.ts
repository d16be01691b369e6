/**
 * `deno task demo`: the newcomer's first run. Builds the hook DLL (when the
 * checkout can) and the bundled sample program (demo/sample.c), then runs
 * the demo's Windows half (`cli.ts demo`): natively on Windows, with the
 * Windows Deno under Wine on Linux (provisioning the environment first,
 * with progress, if needed).
 *
 * Arguments are passed to `cli.ts demo` (`--before S`, `--after S`,
 * `--threads N`, `--json`, `--arch x86`). With `--arch x86` the 32-bit
 * sample (`build/demo/sample32.exe`) and `build/heapshift32.dll` are built
 * and used: the 64-bit tool takes over a 32-bit program.
 *
 * @module
 */

import { buildDll, DLL_OUT } from "./build_dll.ts";
import { buildProgram, reportError } from "../cli/program.ts";
import { holdingInterrupts, interrupts } from "../cli/interrupts.ts";
import { CliError } from "../cli/output.ts";
import { checkSeenByEnv } from "../cli/windows_side.ts";
import { absoluteOptionPaths, userCwd } from "../src/_paths.ts";
import { type Arch, compile, isStale } from "./toolchain.ts";
import {
  exists,
  isProvisioned,
  isWindows,
  provision,
  repoRoot,
  runHeapChecked,
} from "./winenv.ts";

const root = repoRoot();
const SAMPLE_SRC = `${root}/demo/sample.c`;
/** The sample's build for each architecture (cli/demo.ts's defaults). */
const SAMPLE_EXE: Record<Arch, string> = {
  x64: `${root}/build/demo/sample.exe`,
  x86: `${root}/build/demo/sample32.exe`,
};

/** A bad argument of `deno task demo`: exit code 2. */
export class DemoUsageError extends Error {
  override name = "DemoUsageError";
}

/** The `--arch` of the demo's arguments (x64 without one). */
export function demoArch(args: string[]): Arch {
  // The last one, as commander takes it for cli.ts demo: the DLL and the
  // sample built here must be the ones the demo then runs.
  const i = args.findLastIndex((a) =>
    a === "--arch" || a.startsWith("--arch=")
  );
  const v = i < 0
    ? "x64"
    : args[i].includes("=")
    ? args[i].slice("--arch=".length)
    : args[i + 1];
  if (v === undefined || v === "" || v.startsWith("-")) {
    throw new DemoUsageError("--arch needs a value, x64 or x86");
  }
  if (v !== "x64" && v !== "x86") {
    throw new DemoUsageError(`--arch must be x64 or x86, not '${v}'`);
  }
  return v;
}

/** Whether `args` (the demo's, parsed already) give option `name`. */
export function givesOption(args: string[], name: string): boolean {
  return args.some((a) => a === name || a.startsWith(`${name}=`));
}

/**
 * The arguments the demo runs with: `--sample` and `--dll` made absolute
 * against `cwd`, where the user started it, since it runs from the
 * checkout's root (a `deno task` does too; its `INIT_CWD` says where it was
 * started).
 */
export function demoArgs(args: string[], cwd: string): string[] {
  return absoluteOptionPaths(args, { names: ["--sample", "--dll"], base: cwd });
}

/**
 * Parses the arguments as `cli.ts demo` will, without running it: the
 * exit code when that parse is the whole answer (`--help`: 0; a bad
 * argument, said by the CLI: 2; on Linux, a `--sample` or `--dll` the Wine
 * environment does not see, as `cli.ts demo` says it: 1), else undefined.
 * So a first run says either before its minutes of provisioning and
 * building. `args` as {@linkcode demoArgs} gives them (paths absolute).
 */
export async function checkDemoArgs(
  args: string[],
): Promise<number | undefined> {
  const program = buildProgram(() => {});
  program.commands.find((c) => c.name() === "demo")!.action(function () {
    // Else looked for inside the environment, and said not to exist.
    if (isWindows) return;
    const opts = this.opts() as { sample?: string; dll?: string };
    for (const f of [opts.sample, opts.dll]) if (f) checkSeenByEnv(f);
  });
  try {
    await program.parseAsync(["demo", ...args], { from: "user" });
    return undefined;
  } catch (e) {
    return reportError(e);
  }
}

function step(msg: string): void {
  console.error(`[demo] ${msg}`);
}

/** Runs the whole demo (what `deno task demo` does); returns the exit code. */
export async function demoTask(args: string[]): Promise<number> {
  // Help, or a bad argument, is said before a first run's minutes of
  // provisioning.
  const early = await checkDemoArgs(demoArgs(args, userCwd()));
  if (early !== undefined) return early;
  const arch = demoArch(args);
  if (!isWindows && !isProvisioned()) {
    step("preparing the Wine environment (first run: a few minutes)…");
    await provision();
  }
  // A --dll or --sample given is what the demo runs: the default one is
  // not built (a minute on a first run; impossible without a compiler).
  if (!givesOption(args, "--dll")) {
    step(
      exists(`${root}/${DLL_OUT[arch]}`)
        ? "checking the hook DLL is up to date…"
        : "building the hook DLL…",
    );
    try {
      await buildDll({ arch });
    } catch (e) {
      console.error(
        `error: building the hook DLL failed: ${(e as Error).message}`,
      );
      return 1;
    }
  }
  const sample = SAMPLE_EXE[arch];
  if (!givesOption(args, "--sample") && isStale(sample, [SAMPLE_SRC])) {
    step(`building the sample program (demo/sample.c, ${arch})…`);
    await compile({ sources: [SAMPLE_SRC], out: sample, kind: "exe", arch });
  }
  const cli = [
    "run",
    "-A",
    `${root}/cli.ts`,
    "demo",
    ...demoArgs(args, userCwd()),
  ];
  // Ctrl+C reaches the demo itself (it shares the console, or the
  // terminal's process group): it ends, and this waits for it and cleans up
  // after it (under Wine, the heap log and the prefix's leftovers). A
  // second one leaves at once.
  const texts = {
    note: "[demo] stopping… (Ctrl+C again to leave without cleaning up)",
    gaveUp:
      "interrupted: the demo's Wine prefix and build/ were not cleaned up",
  };
  // A demo stopped with Ctrl+C is no success, whatever its Windows side
  // managed to report as it was ended (under Wine that is sometimes 0).
  let interrupted = false;
  const signals = interrupts();
  const mark = () => interrupted = true;
  for (const s of signals) Deno.addSignalListener(s, mark);
  try {
    const code = await runDemoHeld(cli, root, texts);
    return interrupted && code === 0 ? 130 : code;
  } finally {
    for (const s of signals) Deno.removeSignalListener(s, mark);
  }
}

/** The demo's run, Ctrl+C held by this process until it ends. */
function runDemoHeld(
  cli: string[],
  root: string,
  texts: { note: string; gaveUp: string },
): Promise<number> {
  return holdingInterrupts(async () => {
    if (isWindows) {
      const { code } = await new Deno.Command(Deno.execPath(), {
        args: cli,
        cwd: root,
        stdin: "inherit",
      }).spawn().status;
      return code;
    }
    const prefix = Deno.env.get("HEAPSHIFT_WINE_PREFIX") ?? "demo";
    step("running the demo with the Windows Deno under Wine…");
    return await runHeapChecked(["windeno", ...cli], { cwd: root, prefix });
  }, texts);
}

if (import.meta.main) {
  try {
    Deno.exit(await demoTask(Deno.args));
  } catch (e) {
    console.error(`error: ${(e as Error).message}`);
    Deno.exit(
      e instanceof DemoUsageError ? 2 : e instanceof CliError ? e.exitCode : 1,
    );
  }
}
