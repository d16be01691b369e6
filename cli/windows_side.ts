/**
 * The commands that act on Windows programs (`inject`, `launch`, `ps`,
 * `modules`, `eject`, `stats`, and `doctor` and `demo` when asked): on
 * Windows they run here; on Linux they take `--prefix` / `--wine-env` and
 * run this same command line with the Windows Deno under Wine
 * (cli/wine_bridge.ts).
 *
 * @module
 */

import {
  type Command,
  Option,
  type OptionValues,
} from "@commander-js/extra-typings";
import { isWindows } from "../ffi/mod.ts";
import { currentArgs, parsePath, parseWineEnv } from "./args.ts";
import { runWindowsHalf } from "./wine_bridge.ts";
import { CliError, UsageError } from "./output.ts";
import { isFile } from "../src/_paths.ts";
import { repoRoot } from "../src/_repo.ts";
import {
  type Arch,
  buildMissingDlls,
  canBuild,
  fileArch,
  warnStaleDlls,
} from "./dll.ts";

/** Help of `--prefix` (the Linux bridge to the user's Wine prefix). */
export const PREFIX_HELP =
  "on Linux: the Wine/Proton prefix the program runs in (default $WINEPREFIX, else ~/.wine)";
/** Help of `--wine-env` (the Linux bridge to the project's environment). */
export const WINE_ENV_HELP =
  "on Linux: run in the project's Wine environment, prefix NAME";

/** The bridge options (used on Linux only). */
export interface BridgeOpts {
  prefix?: string;
  wineEnv?: string;
  /**
   * A command's `--cwd` (launch): the directory the program runs in, which
   * the project's Wine environment must see too.
   */
  cwd?: string;
}

/**
 * Adds the bridge options, `--prefix DIR` and `--wine-env NAME`, one or
 * the other (both at once is a usage error, as is a name the environment
 * cannot have). `options.prefixHelp`: the help of `--prefix` for a command
 * that does something else on Linux without either (`doctor`, `demo`).
 */
export function bridgeOptions<
  A extends unknown[],
  O extends OptionValues,
  G extends OptionValues,
>(command: Command<A, O, G>, options: { prefixHelp?: string } = {}) {
  return command
    .addOption(
      new Option("--prefix <dir>", options.prefixHelp ?? PREFIX_HELP)
        .argParser(parsePath)
        .conflicts("wineEnv"),
    )
    .addOption(
      new Option("--wine-env <name>", WINE_ENV_HELP).argParser(parseWineEnv),
    );
}

/**
 * The architectures whose default hook DLL a command acting on `exe` may
 * take: the program's own when `exe` is a file it can read, else both.
 */
export function archesFor(exe: string | undefined): Arch[] {
  const arch = exe !== undefined ? fileArch(exe) : undefined;
  return arch ? [arch] : ["x64", "x86"];
}

/**
 * On Linux, runs this same command line with the Windows Deno under Wine
 * and returns its exit code; on Windows returns undefined (run it here).
 */
export async function forward(opts: BridgeOpts): Promise<number | undefined> {
  if (isWindows) return undefined;
  return await runWindowsHalf(currentArgs(), {
    prefix: opts.prefix,
    wineEnv: opts.wineEnv,
  });
}

/**
 * Runs `run` here on Windows, the forwarded command line on Linux.
 * `options.files`: paths the Windows half will open; in the project's Wine
 * environment, which sees only the checkout, one outside it is refused
 * here with what to do. `options.defaultDlls`: the command takes the
 * checkout's hook DLL (no `--dll`) for these architectures; in the
 * project's Wine environment (`--wine-env`) a missing one is built here
 * first (buildMissingDlls), since the Windows half cannot build it under
 * Wine. (Not for a prefix of the user's: building needs that
 * environment, which a first build would set up, as root, ~5 GB; the
 * Windows half says to run `deno task build-dll`.)
 */
export async function onWindows(
  opts: BridgeOpts,
  run: () => Promise<number>,
  options: {
    files?: (string | undefined)[];
    defaultDlls?: readonly Arch[];
  } = {},
): Promise<number> {
  if (!isWindows && opts.wineEnv !== undefined) {
    checkCwdSeenByEnv(Deno.cwd());
    for (const f of options.files ?? []) if (f) checkSeenByEnv(f);
    if (opts.cwd) checkSeenByEnv(opts.cwd, "directory");
  }
  const arches = options.defaultDlls ?? [];
  if (!isWindows && opts.wineEnv !== undefined && arches.length && canBuild()) {
    await buildMissingDlls(arches);
  } else if (!isWindows && opts.prefix !== undefined && canBuild()) {
    await warnStaleDlls(arches);
  }
  return (await forward(opts)) ?? await run();
}

/** Why nothing outlives a command in the project's Wine environment. */
const ENV_EPHEMERAL =
  "In the project's Wine environment (--wine-env) a program is stopped when the command that started it ends (its wineserver is stopped with it), and no other command reaches the prefix meanwhile";

/**
 * Refuses, before anything runs, what the project's Wine environment
 * (`--wine-env`) cannot do: keep a program running after the command
 * (`launch` without `--wait-exit`, `inject` of an executable that it would
 * launch) or see one started by someone else (`inject --wait`). The
 * command would report a launch or a wait, while the program is stopped as
 * it returns, or never comes.
 */
export function refuseEnvDetached(
  opts: BridgeOpts,
  what:
    | { launch: string; waitExit?: boolean }
    | { inject: string; wait?: unknown },
): void {
  if (isWindows || opts.wineEnv === undefined) return;
  if ("launch" in what) {
    if (what.waitExit) return;
    throw new UsageError(
      `${ENV_EPHEMERAL}: add --wait-exit to run ${what.launch} to its end, or use a Wine prefix of your own (--prefix DIR)`,
    );
  }
  if (what.wait !== undefined && what.wait !== false) {
    throw new UsageError(
      `${ENV_EPHEMERAL}: --wait would wait for nothing; use a Wine prefix of your own (--prefix DIR)`,
    );
  }
  // (no program of the user's runs there, so a file is launched)
  if (isFile(what.inject)) {
    throw new UsageError(
      `${ENV_EPHEMERAL}: \`inject\` would launch ${what.inject} and stop it; use \`launch ${what.inject} --wait-exit\`, or a Wine prefix of your own (--prefix DIR)`,
    );
  }
}

/**
 * The checkout's real path when the host path `real` (resolved) lies
 * outside it, where the project's Wine environment cannot see it;
 * `undefined` inside.
 */
function outsideCheckout(real: string): string | undefined {
  const root = Deno.realPathSync(repoRoot());
  return real === root || real.startsWith(`${root}/`) ? undefined : root;
}

/**
 * Throws unless the project's Wine environment sees the directory `cwd`,
 * where the command runs there (relative paths are read from it).
 */
export function checkCwdSeenByEnv(cwd: string): void {
  const root = outsideCheckout(Deno.realPathSync(cwd));
  if (root === undefined) return;
  throw new CliError(
    `Cannot run in the project's Wine environment from ${cwd}: it sees only the checkout, ${root}; run the command from inside it, or use your own Wine prefix (--prefix DIR)`,
  );
}

/**
 * Throws unless the project's Wine environment sees the host file `path`
 * (or, `kind` "directory", the directory: launch --cwd).
 */
export function checkSeenByEnv(
  path: string,
  kind: "file" | "directory" = "file",
): void {
  let real: string;
  try {
    real = Deno.realPathSync(path);
  } catch {
    return; // not a host path: the Windows half says what it is
  }
  const root = outsideCheckout(real);
  if (root === undefined) return;
  const [what, next] = kind === "file"
    ? [path, "copy the file under it"]
    : [`the directory ${path}`, "use one under it"];
  throw new CliError(
    `Cannot use ${what} in the project's Wine environment: it sees only the checkout, ${root}; ${next}, or use your own Wine prefix (--prefix DIR)`,
  );
}
