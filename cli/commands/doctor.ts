/**
 * `heapshift doctor [exe]`: what this machine, the hook DLL and a program
 * need for a takeover, checked one by one.
 *
 * @module
 */

import type { Command } from "@commander-js/extra-typings";
import { archName, archOf } from "../../src/arch.ts";
import {
  DEFAULT_SYMBOL,
  FileSource,
  isHeapshiftDll,
  PeFileError,
  readHeaders,
} from "../../pe/mod.ts";
import { type CrtUse, programCrtUse } from "../../src/_crt_use.ts";
import { example, parsePath, type SetCode } from "../args.ts";
import {
  buildArgs,
  builtDll,
  canBuild,
  dllFormat,
  fileArch,
  HOOK_DLL,
  unreadablePe,
} from "../dll.ts";
import { embeddedDll, extractDll } from "../embed.ts";
import { launch } from "../api.ts";
import { c, printJson, shown } from "../output.ts";
import { bridgeOptions, onWindows } from "../windows_side.ts";
import {
  isWindows,
  MACHINE,
  openProcess,
  PROCESS,
  processMachine,
} from "../../ffi/mod.ts";
import {
  hostWineVersion,
  underWine,
  windowsDeno,
  wineCommand,
  wineMajor,
} from "../wine_bridge.ts";

/** One line of the report: `ok` is null for information only. */
export interface Check {
  check: string;
  ok: boolean | null;
  detail: string;
}

/** What the program's own code uses, when a DLL of its uses the UCRT. */
const OWN = {
  "debug-ucrt": "uses the debug UCRT",
  msvcrt: "uses the old C runtime",
  static: "imports no C runtime DLL",
};

/**
 * What heapshift does for a program on another C runtime DLL, which
 * inject and launch do not refuse: a plugin it loads may use the UCRT.
 */
const PLUGIN_ONLY =
  "so it cannot take over this program's own allocations, only those of a module it loads that uses the UCRT (a plugin); inject and launch go ahead with a warning";

/**
 * Whether the C runtime check of a {@linkcode CrtUse} passes: only for
 * the UCRT; another C runtime DLL is said (inject and launch warn, a
 * plugin may use the UCRT), no C runtime DLL at all fails.
 */
function crtOk(use: CrtUse): boolean | null {
  return use.kind === "ucrt" ? true : use.kind === "static" ? false : null;
}

/** What the C runtime check says of a {@linkcode CrtUse}. */
function crtDetail(use: CrtUse): string {
  const through = use.via ? ` through ${use.via}` : "";
  const dlls = use.dlls.join(", ");
  switch (use.kind) {
    case "ucrt":
      return use.via
        ? `uses the UCRT dynamically only through ${use.via} (${dlls}): heapshift can take over the allocations made there, not those of the program's own code, which ${
          OWN[use.own ?? "static"]
        }`
        : `uses the UCRT dynamically (${dlls}): heapshift can take over its allocator`;
    case "debug-ucrt":
      return `uses the debug UCRT${through} (${dlls}), a debug build's runtime: heapshift hooks only the release UCRT (ucrtbase.dll), ${PLUGIN_ONLY}`;
    case "msvcrt":
      return `uses the old C runtime${through} (${dlls}), not the UCRT: heapshift hooks only the UCRT, ${PLUGIN_ONLY}`;
    case "static":
      return `imports no C runtime DLL (${
        use.unfollowed
          ? "it does not import ucrtbase.dll or api-ms-win-crt-heap, and the DLLs beside a program in Windows' own directories are not looked into"
          : "neither it nor the DLLs it imports at start from beside it import ucrtbase.dll or api-ms-win-crt-heap; delay-loaded ones are not looked into"
      }): it links its C runtime statically, or uses none, so heapshift has no allocator to take over`;
  }
}

/** Checks an executable: x64 or x86, and which C runtime it uses. */
export async function checkExe(exe: string): Promise<Check[]> {
  const out: Check[] = [];
  let machine = 0;
  let format = "";
  try {
    using src = FileSource.open(exe);
    const h = readHeaders(src);
    machine = h.machine;
    format = h.format;
  } catch (e) {
    return [{ check: "program", ok: false, detail: unreadablePe(exe, e) }];
  }
  const arch = archOf(machine);
  const ok = arch !== undefined &&
    format === (arch === "x64" ? "PE32+" : "PE32");
  out.push({
    check: "program",
    ok,
    detail: ok
      ? `${exe}: ${archName(arch)}, takes ${HOOK_DLL[arch]}`
      : `${exe}: ${format} for machine 0x${
        machine.toString(16)
      } — heapshift supports only x64 and x86 programs`,
  });
  let use: CrtUse;
  try {
    use = await programCrtUse(exe);
  } catch (e) {
    // Its headers read, its imports not: a failed check in the report,
    // not the end of the report.
    const why = (e as Error).message;
    out.push({
      check: "C runtime",
      ok: false,
      detail: `${
        why.includes(exe) ? why : unreadablePe(exe, e)
      }: its imports cannot be read, so which C runtime it uses cannot be told`,
    });
    return out;
  }
  out.push({
    check: "C runtime",
    ok: crtOk(use),
    detail: crtDetail(use),
  });
  return out;
}

/**
 * Why the user's `--dll` path, which is no regular file, is not checked:
 * nothing there, or something else (a directory, a FIFO).
 */
function noDllAt(path: string): string {
  try {
    FileSource.open(path).close();
    return `${path} changed while it was checked: run doctor again`;
  } catch (e) {
    if (!(e instanceof PeFileError)) throw e;
    return e.cause instanceof Deno.errors.NotFound
      ? `there is no DLL at ${path}: check the --dll path`
      : `${e.message} (--dll takes the DLL file)`;
  }
}

function fileInfo(path: string): string | undefined {
  try {
    const st = Deno.statSync(path);
    return st.isFile ? `${path} (${st.size} bytes)` : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Starts this very program (`deno.exe`, or the compiled CLI) with the DLL
 * loaded before its own code and HEAPSHIFT_DISABLE=1 (it loads, patches
 * nothing), asking only for `--version`: the loader's verdict on the DLL in
 * a real process, which works the same from a compiled binary.
 */
async function loadsInProcess(dll: string): Promise<Check> {
  const loads = (ok: boolean, detail: string) => ({
    check: "DLL loads",
    ok,
    detail,
  });
  try {
    using proc = await launch(Deno.execPath(), {
      args: ["--version"],
      env: { HEAPSHIFT_DISABLE: "1" },
      dlls: [dll],
      stdio: "none",
      // a DLL that fails to load must give the loader's error, not wait
      // on Windows' box until the 30 s below run out
      errorDialogs: false,
    });
    let code: number;
    try {
      code = await proc.wait({ timeout: 30_000 });
    } catch (e) {
      try {
        proc.kill();
      } catch { /* ended meanwhile */ }
      return loads(
        false,
        `it loaded, but the program started with it (deno --version) did not end within 30 s and was stopped: ${
          (e as Error).message
        }`,
      );
    }
    // `deno --version` ends with 0: anything else is the DLL's doing.
    return code === 0
      ? loads(
        true,
        "a program started with it loaded and ran (HEAPSHIFT_DISABLE=1)",
      )
      : loads(
        false,
        `a program started with it (deno --version) ended with code ${code} (0x${
          (code >>> 0).toString(16).toUpperCase()
        }) instead of 0`,
      );
  } catch (e) {
    return loads(false, `it does not load: ${(e as Error).message}`);
  }
}

/**
 * The check of the Windows Deno the commands would run in a prefix (a
 * `HEAPSHIFT_WINDENO` that is not a file fails with their error).
 */
function windowsDenoCheck(): Check {
  try {
    return { check: "windows deno", ok: true, detail: windowsDeno() };
  } catch (e) {
    const override = Deno.env.get("HEAPSHIFT_WINDENO");
    return {
      check: "windows deno",
      ok: false,
      detail: override
        ? (e as Error).message
        : "missing: `deno task env provision` fetches it (needed to reach Windows programs under Wine)",
    };
  }
}

/**
 * The check of the wine the commands would run (`$WINE` as they take it:
 * one that names nothing fails, as they would).
 */
async function hostWineCheck(): Promise<Check> {
  let wine: string | undefined;
  try {
    wine = wineCommand();
  } catch (e) {
    return { check: "wine", ok: false, detail: (e as Error).message };
  }
  return wineCheck(wine, wine ? await hostWineVersion(wine) : undefined);
}

/**
 * The host's Wine, for `--prefix` (informational: `--wine-env` brings its
 * own): Deno for Windows needs Wine 10 or newer, so an older one is said to
 * be of no use (Debian 12's own is Wine 8).
 */
export function wineCheck(
  wine: string | undefined,
  version: string | undefined,
): Check {
  if (!wine) {
    return {
      check: "wine",
      ok: null,
      detail:
        "not installed on this system: --prefix needs Wine 10+; --wine-env uses the project's own Wine environment",
    };
  }
  const major = wineMajor(version);
  if (major !== undefined && major < 10) {
    return {
      check: "wine",
      ok: null,
      detail:
        `${wine} is ${version}, too old for --prefix (Deno for Windows needs Wine 10 or newer); --wine-env uses the project's own Wine environment`,
    };
  }
  return {
    check: "wine",
    ok: null,
    detail: `${wine}${
      version ? ` (${version})` : ""
    } (for programs in your prefixes: --prefix DIR, default $WINEPREFIX, else ~/.wine)`,
  };
}

/** The "DLL loads" check of a DLL of the right format, for `arch`. */
async function loadCheck(dll: string, arch: "x64" | "x86"): Promise<Check> {
  if (arch === "x86") {
    return {
      check: "DLL loads",
      ok: null,
      detail:
        "a 32-bit DLL cannot be loaded by the 64-bit Deno: it is checked when injected",
    };
  }
  if (isWindows) return await loadsInProcess(dll);
  return {
    check: "DLL loads",
    ok: null,
    detail:
      "checked on Windows only (run doctor with --wine-env default to check it under Wine)",
  };
}

/**
 * The check of Windows' own machine, on ARM64 Windows only: it runs x64
 * programs emulated, which inject refuses (src/_target.ts).
 */
export function nativeCheck(native: number): Check | undefined {
  // The 64-bit Deno runs on x64 and ARM64 Windows only.
  if (native !== MACHINE.ARM64) return undefined;
  return {
    check: "windows",
    ok: false,
    detail:
      "ARM64 Windows: heapshift refuses x64 programs here (they run emulated, and their ucrtbase.dll is ARM64X code it cannot patch), and it was never run here for x86 ones; it supports x64 and x86 programs on x64 Windows",
  };
}

/** Windows' own machine (IMAGE_FILE_MACHINE_*), as this process sees it. */
function nativeMachine(): number | undefined {
  try {
    using self = openProcess(Deno.pid, PROCESS.QUERY_LIMITED_INFORMATION);
    return processMachine(self).native;
  } catch {
    return undefined; // the other checks still run
  }
}

/** Runs every check. */
export async function doctor(
  exe: string | undefined,
  dllOpt?: string,
): Promise<Check[]> {
  const checks: Check[] = [];
  const wine = underWine();
  checks.push({
    check: "system",
    ok: null,
    detail: `${Deno.build.os} ${Deno.build.arch}${
      wine ? ` (Wine ${wine})` : ""
    }, ${Deno.osRelease()}`,
  });
  checks.push({
    check: "deno",
    ok: true,
    detail: `${Deno.version.deno} (${Deno.build.target})`,
  });
  const native = isWindows ? nativeMachine() : undefined;
  const arm = native === undefined ? undefined : nativeCheck(native);
  if (arm) checks.push(arm);
  if (!isWindows) {
    checks.push(windowsDenoCheck());
    checks.push(await hostWineCheck());
  }
  // The program's bitness picks the DLL; without a program, the --dll's
  // own (else x64).
  const arch = (exe && fileArch(exe)) || (dllOpt && fileArch(dllOpt)) ||
    "x64";
  let dll = dllOpt;
  const emb = embeddedDll(arch);
  if (!dll && emb) dll = (await extractDll(emb)).path;
  dll ??= builtDll(arch);
  const info = fileInfo(dll);
  checks.push({
    check: "hook DLL",
    ok: info !== undefined,
    detail: info ??
      (dllOpt
        ? noDllAt(dllOpt)
        : `${dll} is missing: ${
          canBuild()
            ? `run \`${["deno task build-dll", ...buildArgs(arch)].join(" ")}\``
            : "it is built from a checkout of heapshift (tasks/build_dll.ts), and there is none here"
        }`),
  });
  if (info) {
    const format = dllFormat(dll, arch);
    checks.push({
      check: "DLL format",
      ok: format === undefined,
      detail: format ?? `${arch} DLL`,
    });
    // Any DLL injects; only heapshift's takes over (inject and launch then
    // report no takeover, nor its absence).
    if (format === undefined) {
      const ours = isHeapshiftDll(dll);
      checks.push({
        check: "heapshift DLL",
        ok: ours,
        detail: ours
          ? `exports ${DEFAULT_SYMBOL}`
          : `${dll} is not heapshift's hook DLL (it does not export ${DEFAULT_SYMBOL}): injected or launched with, it would load and take nothing over`,
      });
    }
    // Nothing is said of the loading of a file whose format check failed.
    if (format === undefined) checks.push(await loadCheck(dll, arch));
  }
  if (exe) checks.push(...await checkExe(exe));
  return checks;
}

/** Registers `doctor`. */
export function doctorCommand(program: Command, setCode: SetCode): void {
  const command = program.command("doctor")
    .description(
      "Check this system, the hook DLL, and (given an exe) whether a program can be taken over.",
    )
    .argument("[exe]", "a program to check", parsePath)
    .option(
      "--dll <path>",
      "the DLL to check (default build/heapshift.dll, or build/heapshift32.dll for a 32-bit program)",
      parsePath,
    )
    .option("--json", "machine-readable output");
  bridgeOptions(command, {
    prefixHelp:
      "on Linux: check under Wine, in this Wine/Proton prefix (without it or --wine-env: this Linux system)",
  }).addHelpText(
    "after",
    example(
      "deno run -A cli.ts doctor",
      "deno run -A cli.ts doctor game.exe --json",
    ),
  ).action(async (exe, opts) => {
    // Natively on Linux unless a prefix is named: it checks this system.
    const bridged = opts.prefix !== undefined || opts.wineEnv !== undefined;
    const run = () => report(exe, opts);
    setCode(
      bridged
        ? await onWindows(opts, run, { files: [exe, opts.dll] })
        : await run(),
    );
  });
}

/** Runs every check and prints them; returns the exit code. */
async function report(
  exe: string | undefined,
  opts: { dll?: string; json?: boolean },
): Promise<number> {
  const checks = await doctor(exe, opts.dll);
  const failed = checks.some((x) => x.ok === false);
  if (opts.json) {
    printJson({ ok: !failed, checks });
  } else {
    for (const x of checks) {
      const mark = x.ok === null
        ? c.dim("·")
        : x.ok
        ? c.green("✓")
        : c.red("✗");
      // (names the program's DLLs and files)
      console.log(`${mark} ${x.check.padEnd(13)} ${shown(x.detail)}`);
    }
  }
  return failed ? 1 : 0;
}
