/**
 * Where the CLI runs and how it reaches Windows programs: natively on
 * Windows, and from Linux through the Windows Deno under Wine — either in
 * the user's Wine/Proton prefix (`--prefix`, default `$WINEPREFIX`) or in
 * the project's own Wine environment (`--wine-env NAME`).
 *
 * @module
 */

import { homedir } from "node:os";
import { wineInfo } from "../ffi/mod.ts";
import { exists, isFile } from "../src/_paths.ts";
import { repoRoot } from "../src/_repo.ts";
import { runTask } from "./run_task.ts";
import { ignoringInterrupts } from "./interrupts.ts";
import { CliError } from "./output.ts";

let wineVersion: string | null | undefined;

/** Wine's version when running under Wine, `null` on real Windows or elsewhere. */
export function underWine(): string | null {
  if (wineVersion === undefined) {
    try {
      wineVersion = wineInfo()?.version ?? null;
    } catch {
      wineVersion = null;
    }
  }
  return wineVersion;
}

/** Converts a Linux path to the Windows path Wine gives it (`Z:\…`). */
export function toWinePath(path: string, prefix?: string): string {
  if (/^[A-Za-z]:[\\/]/.test(path)) return path.replaceAll("/", "\\");
  if (prefix) {
    const driveC = `${prefix.replace(/\/$/, "")}/drive_c/`;
    if (path.startsWith(driveC)) {
      return `C:\\${path.slice(driveC.length).replaceAll("/", "\\")}`;
    }
  }
  return `Z:${path.replaceAll("/", "\\")}`;
}

/**
 * `args` for the CLI inside a prefix: each one before `--` that is an
 * absolute path on this host (also as `--opt=/path`) becomes the Windows
 * path Wine gives it. Inside Wine a bare `/work/x` would be read on the
 * current drive (`C:\work\x` from under drive_c), not as this file.
 */
export function hostPathsForWine(args: string[], prefix: string): string[] {
  const convert = (a: string) =>
    a.startsWith("/") && exists(a) ? toWinePath(a, prefix) : a;
  const end = args.includes("--") ? args.indexOf("--") : args.length;
  return [
    ...args.slice(0, end).map((a) => {
      const eq = /^(--[\w-]+=)(\/.*)$/.exec(a);
      return eq ? eq[1] + convert(eq[2]) : convert(a);
    }),
    ...args.slice(end),
  ];
}

/** The first `cmd` on PATH (Linux). */
export function which(cmd: string): string | undefined {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    if (dir && exists(`${dir}/${cmd}`)) return `${dir}/${cmd}`;
  }
  return undefined;
}

/**
 * The wine to run: `$WINE` (a path, or a command on PATH, as winetricks
 * takes it; empty counts as unset), else `wine` or `wine64` on PATH.
 * A `$WINE` that names nothing is an error saying so.
 */
export function wineCommand(): string | undefined {
  const named = Deno.env.get("WINE");
  if (!named) return which("wine") ?? which("wine64");
  const found = named.includes("/")
    ? (exists(named) ? named : undefined)
    : which(named);
  if (found) return found;
  throw new CliError(
    `$WINE names ${named}, which ${
      named.includes("/") ? "does not exist" : "is not a command on PATH"
    }: point it at Wine 10 or newer, or unset it to use the wine on PATH`,
  );
}

/** Where a new enough wine comes from, as said in errors. */
const GET_WINE =
  "WineHQ's packages, or a distribution's own wine where it is 10 or newer: Debian 12's is 8.0";

/**
 * `wine --version`'s answer (`wine-10.0`), or undefined; a wine that does
 * not answer within 15 s is none (a wrapper that hangs must not hang every
 * command).
 */
export async function hostWineVersion(
  wine: string,
): Promise<string | undefined> {
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(wine, {
      args: ["--version"],
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).spawn();
  } catch {
    return undefined;
  }
  // Stopping the wrapper is not enough: a shell script's child keeps the
  // pipe open, and reading it to its end waits for that child.
  const reader = child.stdout.getReader();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const gaveUp = new Promise<undefined>((done) => {
    timer = setTimeout(() => done(undefined), 15_000);
  });
  const answer = await Promise.race([readAll(reader), gaveUp]);
  clearTimeout(timer);
  if (answer === undefined) {
    try {
      child.kill();
    } catch { /* it ended meanwhile */ }
    await reader.cancel().catch(() => {});
  }
  await child.status;
  return answer?.trim() || undefined;
}

/** A stream's bytes as text, to its end. */
async function readAll(
  reader: ReadableStreamDefaultReader<Uint8Array>,
): Promise<string> {
  const decoder = new TextDecoder();
  let text = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return text + decoder.decode();
    text += decoder.decode(value, { stream: true });
  }
}

/** The major version `wine --version` said (`wine-8.0 (Debian …)`: 8). */
export function wineMajor(version: string | undefined): number | undefined {
  const m = /^wine-(\d+)\./.exec(version ?? "");
  return m ? Number(m[1]) : undefined;
}

/** Where the Windows Deno may be, in order of preference. */
export function windowsDenoCandidates(): string[] {
  const env = Deno.env.get("HEAPSHIFT_WINDENO");
  // Where provisioning puts it (tasks/winenv.ts's cacheDir): a relative
  // XDG_CACHE_HOME is ignored (XDG), and without HOME the home is the
  // user's own.
  const xdg = Deno.env.get("XDG_CACHE_HOME");
  const home = Deno.env.get("HOME") || homedir();
  const cache = `${xdg?.startsWith("/") ? xdg : `${home}/.cache`}/heapshift`;
  // An override replaces the search: a wrong one must not quietly run
  // another Deno.
  if (env) return [env];
  return [
    `${cache}/rootfs/opt/heapshift/deno.exe`,
    `${cache}/deno-win/deno.exe`,
  ];
}

/** How the Linux CLI runs its Windows half. */
export interface WindowsHalf {
  /** `prefix`: the user's Wine prefix with the host's wine; `env`: the project's environment. */
  mode: "prefix" | "env";
  /** Command line, beginning with the program. */
  argv: string[];
  /** Environment for the command. */
  env: Record<string, string>;
  /** Wine prefix directory (mode `prefix`) or environment prefix name (mode `env`). */
  prefix: string;
}

/**
 * The Windows Deno to run in a prefix: `HEAPSHIFT_WINDENO`, else the one
 * provisioning put in place. Throws a {@linkcode CliError} saying what to
 * do when there is none (an override that is not a file is named).
 */
export function windowsDeno(): string {
  const deno = windowsDenoCandidates().find(isFile);
  if (deno) return deno;
  const override = Deno.env.get("HEAPSHIFT_WINDENO");
  if (override) {
    throw new CliError(
      `HEAPSHIFT_WINDENO names ${override}, which is not a file: point it at the Windows build of Deno (deno.exe), or unset it to use the one \`deno task env provision\` fetches`,
    );
  }
  throw new CliError(
    `The Windows build of Deno is needed to run inside the prefix: run \`deno task env provision\`, or \`npm pack @deno/win32-x64\` and extract package/deno.exe to ${
      windowsDenoCandidates().at(-1)
    } (or set HEAPSHIFT_WINDENO)`,
  );
}

/** Options of the Linux-to-Windows bridge. */
export interface BridgeOptions {
  /** The user's Wine prefix (a directory). */
  prefix?: string;
  /** A prefix name in the project's Wine environment. */
  wineEnv?: string;
}

/**
 * Works out the command that runs `cli.ts <args>` with the Windows Deno.
 * Throws a {@linkcode CliError} that says what is missing.
 */
export async function planWindowsHalf(
  args: string[],
  options: BridgeOptions,
): Promise<WindowsHalf> {
  const cli = `${repoRoot()}/cli.ts`;
  if (options.wineEnv !== undefined) {
    return {
      mode: "env",
      argv: ["windeno", "run", "-A", cli, ...args],
      env: {},
      prefix: options.wineEnv,
    };
  }
  const home = Deno.env.get("HOME") ?? "/root";
  const prefix = options.prefix ?? Deno.env.get("WINEPREFIX") ??
    `${home}/.wine`;
  const wine = wineCommand();
  if (!wine) {
    throw new CliError(
      `This command reaches Windows programs, which on Linux run under Wine or Proton: install Wine 10 or newer (${GET_WINE}) and pass the program's prefix with --prefix DIR (default $WINEPREFIX, else ~/.wine), or use the project's Wine environment with --wine-env default`,
    );
  }
  // Older ones are common (Debian 12's is 8.0), and under them the Windows
  // Deno dies at its start with V8's "out of memory", which says nothing.
  const version = await hostWineVersion(wine);
  const major = wineMajor(version);
  if (major !== undefined && major < 10) {
    throw new CliError(
      `${wine} is ${version}: the Windows build of Deno needs Wine 10 or newer (under an older one it stops at its start); install one (${GET_WINE}) or point $WINE at it (for a Proton game, its Proton's own wine), or use the project's Wine environment with --wine-env default`,
    );
  }
  if (!exists(`${prefix}/system.reg`)) {
    throw new CliError(
      `No Wine prefix at ${prefix}: pass the prefix the program runs in with --prefix DIR (for a Proton game: ~/.steam/steam/steamapps/compatdata/<appid>/pfx)`,
    );
  }
  const deno = windowsDeno();
  return {
    mode: "prefix",
    argv: [
      wine,
      deno,
      "run",
      "-A",
      toWinePath(cli, prefix),
      ...hostPathsForWine(args, prefix),
    ],
    env: { WINEPREFIX: prefix, WINEDEBUG: Deno.env.get("WINEDEBUG") ?? "-all" },
    prefix,
  };
}

/** Removes the bridge's own options from an argument list. */
export function stripBridgeOptions(args: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "--") {
      out.push(...args.slice(i));
      break;
    }
    if (a === "--prefix" || a === "--wine-env") {
      i++;
      continue;
    }
    if (a.startsWith("--prefix=") || a.startsWith("--wine-env=")) continue;
    out.push(a);
  }
  return out;
}

/** Runs the Windows half and returns its exit code. */
export async function runWindowsHalf(
  args: string[],
  options: BridgeOptions,
): Promise<number> {
  const plan = await planWindowsHalf(stripBridgeOptions(args), options);
  if (plan.mode === "env") {
    // The project's environment belongs to the task layer: `deno task env
    // run`, from here (relative paths in `args` are ours).
    return await ignoringInterrupts(() =>
      runTask(
        "winenv.ts",
        ["run", `--prefix=${plan.prefix}`, "--", ...plan.argv],
        { cwd: Deno.cwd() },
      )
    );
  }
  const child = new Deno.Command(plan.argv[0], {
    args: plan.argv.slice(1),
    env: plan.env,
    stdin: "inherit",
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  // Ctrl+C reaches the Windows half too (our process group): it decides,
  // and we report what it decided
  return (await ignoringInterrupts(() => child.status)).code;
}
