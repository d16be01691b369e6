/**
 * `heapshift specialk`: registers the hook DLL as a Special K plug-in.
 *
 * @module
 */

import { type Command, Option } from "@commander-js/extra-typings";
import { join } from "node:path";
import { example, parsePath, type SetCode } from "../args.ts";
import {
  type Arch,
  checkDllFor,
  fileArch,
  resolveDll,
  type ResolveOptions,
} from "../dll.ts";
import { c, cErr, CliError, printJson, shown, UsageError } from "../output.ts";
import { isWindows } from "../../ffi/mod.ts";
import { checkOutputPath } from "../output_path.ts";
import { writtenNameTooLong } from "../../pe/mod.ts";
import { isDir, linkExists } from "../../src/_paths.ts";
import { toWinePath } from "../wine_bridge.ts";
import { applyToFile, profilesWith } from "../specialk_file.ts";
import {
  type SpecialKGame,
  specialKWriters,
  writerDlls,
} from "../specialk_running.ts";
import {
  checkEntry,
  findSpecialK,
  globalIni,
  isSpecialKDir,
  profileIni,
  profiles,
  SPECIALK_MARKS,
  specialKDirs,
  specialKDirsInPrefix,
  type SpecialKRegistry,
  specialKRegistry,
} from "../specialk_ini.ts";

// A UsageError rather than commander's InvalidArgumentError, whose message
// would quote the raw value, line breaks and all.
function parseName(value: string): string {
  try {
    checkEntry({ name: value, filename: "" });
  } catch (e) {
    throw new UsageError(`--name: ${(e as Error).message}`);
  }
  return value;
}

/**
 * The DLL `specialk` registers: `explicit` (`--dll`), else the default
 * for `arch`, as a copy no prune removes (the ini names it for later).
 * A missing one is built on Windows only: on Linux the game runs in a
 * prefix of the user's, and building would set up the project's Wine
 * environment (as root, ~5 GB), so the error says to run `deno task
 * build-dll` (as for `--prefix`, cli/windows_side.ts). `options`: where
 * the built DLLs are and how to build one (tests).
 */
export async function specialkDll(
  explicit: string | undefined,
  arch: Arch,
  options: Pick<ResolveOptions, "dir" | "builder"> = {},
): Promise<string> {
  return await resolveDll(explicit, {
    ...options,
    arch,
    lasting: true,
    build: isWindows,
  });
}

/**
 * Refuses an `--ini` whose name is over the 255 a file name may have: no
 * file has it (looking one up fails in the system's words), and none can
 * be created.
 */
function checkNameMax(ini: string): void {
  const tooLong = writtenNameTooLong(ini);
  if (tooLong === undefined || tooLong.length <= tooLong.nameMax) return;
  throw new UsageError(
    `--ini ${ini}: ${tooLong.why}: choose a name of at most ${tooLong.max} ${tooLong.unit}`,
  );
}

/** Whether this Linux is WSL's, whose Windows is the real one (not Wine). */
function underWsl(): boolean {
  return !!(Deno.env.get("WSL_DISTRO_NAME") || Deno.env.get("WSL_INTEROP"));
}

/**
 * Refuses an edit that a running game's Special K would undo: as it exits
 * it writes the ini it loaded back over the changed file.
 */
function refuseWhileRunning(ini: string, games: SpecialKGame[]): void {
  if (!games.length) return;
  // On Linux the game is a Wine process, named by its Linux pid (kill's).
  const pid = isWindows ? "pid" : "Linux pid";
  const which = games.map((g) => `${shown(g.name)} (${pid} ${g.pid})`).join(
    ", ",
  );
  throw new CliError(
    `Cannot edit ${ini} while Special K runs in ${which}: as the game exits, Special K writes the ini it loaded back over the file, and the edit would be lost; close the game, then run this again (--force edits it anyway)`,
  );
}

/** The registry, after a warning when reg.exe could not read it. */
function warnUnreadable(registry: SpecialKRegistry): SpecialKRegistry {
  if (registry.unreadable) {
    console.error(cErr.yellow(
      "warning: Cannot read the registry with reg.exe (missing, or refused: a policy that disables the registry tools stops it reading too): Special K is looked for in the default folders only; pass --sk-dir DIR if it is installed elsewhere",
    ));
  }
  return registry;
}

/**
 * Under WSL a game runs on Windows, whose processes heapshift cannot list
 * from Linux: the running-game check saw none.
 */
function warnUnseenUnderWsl(ini: string): void {
  if (!writerDlls(ini).length) return;
  console.error(
    cErr.yellow(
      "warning: from WSL heapshift cannot see the programs running on Windows: a game running there with this Special K writes the ini it loaded back over this edit as it exits; if one runs, close the game, then run this again (heapshift run on Windows checks this itself)",
    ),
  );
}

/** Registers `specialk`. */
export function specialkCommand(program: Command, setCode: SetCode): void {
  program.command("specialk")
    .description(
      "Add (or update, or remove) heapshift as a Special K plug-in: an [Import.heapshift] entry, in the global defaults or a game's profile.",
    )
    .option("--ini <path>", "the Special K ini to edit", parsePath)
    .option("--game <name>", "a game's profile (Profiles/<name>/SpecialK.ini)")
    .option(
      "--global",
      "the defaults new game profiles start from (Global/default_SpecialK.ini; the default)",
    )
    .option(
      "--sk-dir <dir>",
      "Special K's install folder (found automatically)",
      parsePath,
    )
    .option(
      "--dll <path>",
      "the DLL to register (default build/heapshift.dll, or build/heapshift32.dll with --arch x86)",
      parsePath,
    )
    .addOption(
      new Option(
        "--arch <arch>",
        "the game's bitness: x86 registers the 32-bit DLL as Architecture=Win32 (default: the --dll's, else x64)",
      ).choices(["x64", "x86"] as const),
    )
    .option(
      "--name <name>",
      "the plug-in's name: [Import.<name>] (default heapshift, heapshift32 for --arch x86, so that both can be registered)",
      parseName,
    )
    .addOption(
      new Option(
        "--when <when>",
        "when Special K loads it: Early (as the game starts Direct3D or OpenGL; never in a Vulkan game), Lazy (from Special K's start-up thread, any game) or PlugIn (once it has hooked Direct3D or OpenGL)",
      ).choices(
        ["Early", "PlugIn", "Lazy"] as const,
      ).default("Early" as const),
    )
    .option("--remove", "remove the entry instead")
    .option("--create", "create the ini if it does not exist")
    .option(
      "--force",
      "edit a game's profile even while a game with that Special K runs (which writes its ini back as it exits, the edit lost)",
    )
    .option(
      "--prefix <dir>",
      "on Linux: the Wine/Proton prefix Special K is installed in",
      parsePath,
    )
    .option("--json", "machine-readable output")
    .addHelpText(
      "after",
      example(
        'deno run -A cli.ts specialk --game "Elden Ring"',
        "deno run -A cli.ts specialk --global",
        "deno run -A cli.ts specialk --ini ./SpecialK.ini --dll C:\\tools\\heapshift.dll",
        'deno run -A cli.ts specialk --game "Elden Ring" --remove',
      ),
    )
    .action(async (opts) => {
      const picked = [opts.ini, opts.game, opts.global].filter((x) =>
        x !== undefined
      );
      if (picked.length > 1) {
        throw new UsageError("choose one of --ini, --game and --global");
      }
      if (opts.game === "") throw new UsageError("--game needs a profile name");
      if (opts.ini !== undefined) {
        checkOutputPath(opts.ini, "--ini");
        checkNameMax(opts.ini);
      }
      if (isWindows && opts.prefix !== undefined) {
        throw new UsageError(
          "--prefix is for Linux (the Wine or Proton prefix a game runs in); on Windows Special K is found from its install: leave --prefix out, or pass --sk-dir DIR or --ini PATH",
        );
      }
      let ini = opts.ini;
      let create = !!opts.create;
      // The prefix the game runs in (Linux), where a DLL in its drive_c is
      // named by its C: path.
      const prefix = opts.prefix ??
        (isWindows ? undefined : Deno.env.get("WINEPREFIX"));
      // Special K's Global folder, made for the defaults file if missing.
      let globalDir: string | undefined;
      // The install whose defaults are edited (--global).
      let globalOf: string | undefined;
      if (!ini) {
        const candidates = opts.skDir
          ? [opts.skDir]
          : isWindows
          ? specialKDirs(warnUnreadable(await specialKRegistry()))
          : prefix
          ? specialKDirsInPrefix(prefix)
          : [];
        if (opts.skDir && !isSpecialKDir(opts.skDir)) {
          throw new CliError(
            isDir(opts.skDir)
              ? `${opts.skDir} is not Special K's folder (it has none of ${
                SPECIALK_MARKS.join(", ")
              }): pass --sk-dir the folder Special K is installed in, or --ini PATH`
              : `No folder at ${opts.skDir} (--sk-dir): pass the folder Special K is installed in, or --ini PATH`,
          );
        }
        const sk = findSpecialK(candidates);
        if (!sk) {
          throw new CliError(
            candidates.length
              ? `Special K is not installed in any of: ${
                candidates.join("; ")
              } (pass --sk-dir DIR or --ini PATH)`
              : "Cannot find Special K from Linux without a Wine prefix: pass --prefix DIR, --sk-dir DIR or --ini PATH",
          );
        }
        if (opts.game !== undefined) {
          // Several installs (SKIF's, an older one in Documents whose
          // profiles a local copy uses): the first with that profile.
          const installs = opts.skDir ? [sk] : [
            sk,
            ...candidates.filter((d) => d !== sk && isDir(join(d, "Profiles"))),
          ];
          const each = installs.map((d) => profileIni(d, opts.game!));
          const found = each.find((f) => f.path) ??
            each.find((f) => f.ambiguous) ?? {};
          if (found.ambiguous) {
            throw new CliError(
              `Several Special K profiles match ${opts.game}: ${
                found.ambiguous.join(", ")
              } (give the whole name)`,
            );
          }
          ini = found.path;
          if (!ini) {
            const all = [...new Set(installs.flatMap(profiles))];
            throw new CliError(
              `Special K has no profile for ${opts.game} in ${
                installs.map((d) => join(d, "Profiles")).join(" or ")
              } (start the game once with Special K)${
                all.length ? `; profiles: ${all.join(", ")}` : ""
              }`,
            );
          }
        } else {
          ini = globalIni(sk);
          // the global defaults file is optional, and so is its folder
          create = true;
          globalDir = join(sk, "Global");
          globalOf = sk;
        }
      }
      // Anything there, even a dangling link: applyToFile says what it is.
      if (!linkExists(ini) && !create) {
        throw new CliError(
          `No ini file at ${ini} (pass --create to create it)`,
        );
      }
      if (!opts.force) refuseWhileRunning(ini, await specialKWriters(ini));
      const arch = opts.arch ??
        (opts.dll ? fileArch(opts.dll) : undefined) ?? "x64";
      // One entry per bitness: the defaults serve 32- and 64-bit games.
      const name = opts.name ?? (arch === "x86" ? "heapshift32" : "heapshift");
      let edit;
      if (opts.remove) {
        // (adding is refused there, below)
        if (!opts.force && !isWindows && !prefix && underWsl()) {
          warnUnseenUnderWsl(ini);
        }
        // no file where one may be missing: nothing to remove
        edit = await applyToFile(ini, { remove: name }, { create });
      } else {
        if (!isWindows && !prefix && underWsl()) {
          throw new CliError(
            "Under WSL, a game with Special K runs on Windows, which cannot load the DLL by the Z: path Wine would give it: run heapshift on Windows (deno run -A cli.ts specialk … in a Windows shell, or heapshift.exe); for a game under Wine here, pass --prefix DIR",
          );
        }
        const dll = await specialkDll(opts.dll, arch);
        checkDllFor(dll, arch, `the game (--arch ${arch})`);
        const filename = isWindows ? dll : toWinePath(dll, prefix);
        if (globalDir) await Deno.mkdir(globalDir, { recursive: true });
        edit = await applyToFile(ini, {
          upsert: {
            name,
            filename,
            when: opts.when,
            architecture: arch === "x86" ? "Win32" : "x64",
          },
        }, { create });
      }
      // A profile made from the defaults while they held the entry keeps it.
      const left = opts.remove && globalOf
        ? await profilesWith(globalOf, name)
        : [];
      if (opts.json) {
        printJson(
          globalOf && opts.remove ? { ...edit, profilesWithEntry: left } : edit,
        );
        return setCode(0);
      }
      // Paths and profile names from the file system, escaped.
      const section = `[Import.${shown(name)}]`;
      const path = shown(edit.path);
      const msg = {
        added: `${c.green("added")} ${section} to ${path}`,
        updated: `${c.green("updated")} ${section} in ${path}`,
        unchanged: `${section} in ${path} is already up to date`,
        removed: `${c.green("removed")} ${section} from ${path}`,
        absent: `${section} is not in ${path}: nothing to remove`,
      }[edit.action];
      console.log(msg);
      if (edit.target) {
        console.log(`  edited  ${shown(edit.target)} (the link's target)`);
      }
      if (edit.backup) console.log(`  backup  ${shown(edit.backup)}`);
      if (left.length) {
        console.log(
          `  ${section} is still in the profiles of ${
            left.map(shown).join(", ")
          } (Special K made them from the defaults): take it out of each with --game NAME --remove`,
        );
      }
      setCode(0);
    });
}
