/**
 * `heapshift patch`: puts the hook DLL first in an executable's import table, as
 * mimalloc's minject does, or takes it out again. Pure TypeScript (pe/).
 *
 * @module
 */

import type { Command } from "@commander-js/extra-typings";
import { basename } from "node:path";
import {
  defaultOutputPath,
  patchImports,
  PeError,
  removeImport,
  resolveDllName,
  writtenFile,
} from "../../pe/mod.ts";
import { example, parsePath, type SetCode } from "../args.ts";
import {
  type Arch,
  buildArgs,
  builtDll,
  fileArch,
  HOOK_DLL,
  isDllFile,
} from "../dll.ts";
import { repoRoot } from "../../src/_repo.ts";
import { embeddedDll, extractDll } from "../embed.ts";
import { baseName, fileNameOfPath } from "../../src/_paths.ts";
import { otherRuntimeWarning } from "../crt_warning.ts";
import { interruptible } from "../interrupts.ts";
import { keepAttributes } from "../kept_attributes.ts";
import { checkOutputPath, checkWrittenName } from "../output_path.ts";
import { writtenFailure } from "../../src/_output_name.ts";
import { c, printJson, shown, UsageError } from "../output.ts";

/**
 * Checks `patch`'s `--dll NAME` and `--postfix TEXT` before any file is
 * read: a name the import table cannot hold is a usage error.
 */
export function checkDllName(
  opts: { dll?: string; postfix?: string; remove?: boolean },
): void {
  try {
    resolveDllName({ dll: opts.dll, postfix: opts.postfix }, {
      loadable: !opts.remove,
    });
  } catch (e) {
    if (!(e instanceof PeError)) throw e;
    // inject's and launch's --dll is a path (C:x.dll one too): patch's is
    // not. That is what to fix, said instead of pe/'s advice (another name)
    const file = opts.dll === undefined ? undefined : fileNameOfPath(opts.dll);
    if (file !== undefined) {
      throw new UsageError(
        `--dll: invalid DLL name ${
          JSON.stringify(opts.dll)
        }: patch's --dll is the file name the program is to import, not a path (Windows looks for it next to the program): --dll ${
          file || HOOK_DLL.x64
        }, then copy the DLL there`,
      );
    }
    throw new UsageError(
      `${
        opts.postfix !== undefined ? "--dll/--postfix" : "--dll"
      }: ${e.message}`,
    );
  }
}

/**
 * Refuses an option of `patch` that does not apply to what it was asked to
 * do (adding the DLL, or removing it; listing, which writes nothing),
 * rather than ignore it.
 */
function checkApplies(
  opts: {
    remove?: boolean;
    allowForeign?: boolean;
    allowOverlay?: boolean;
    list?: boolean;
    inplace?: boolean;
    out?: string;
    force?: boolean;
  },
): void {
  if (opts.list) {
    const writing = [
      ["--inplace", opts.inplace],
      ["--out", opts.out !== undefined],
      ["--force", opts.force],
    ].find(([, given]) => given);
    if (writing) {
      throw new UsageError(
        `${
          writing[0]
        } does not apply with --list, which writes nothing: leave one out`,
      );
    }
  }
  if (opts.allowForeign && !opts.remove) {
    throw new UsageError(
      "--allow-foreign applies with --remove: add --remove, or leave it out",
    );
  }
  if (opts.allowOverlay && opts.remove) {
    throw new UsageError(
      "--allow-overlay applies to adding the DLL, not with --remove: leave it out",
    );
  }
}

/** Whether the user is at the checkout's root, where `build/…` names it. */
function atCheckoutRoot(): boolean {
  try {
    return Deno.realPathSync(Deno.cwd()) === Deno.realPathSync(repoRoot());
  } catch {
    return false;
  }
}

/**
 * What to copy beside the patched program `exe` (for `arch`) for the
 * loader to find the imported `dll`: the checkout's build/ DLL, or in a
 * compiled binary (which has no build/) its embedded one, extracted. A
 * patched DLL's imports are looked for beside the program that loads it
 * (the application's directory), not beside the DLL.
 */
export async function copyHint(
  dll: string,
  arch: Arch,
  exe: string,
): Promise<string> {
  const emb = embeddedDll(arch);
  const compiled = emb ?? embeddedDll("x64") ?? embeddedDll("x86");
  const source = emb
    ? (await extractDll(emb)).path
    : compiled
    ? HOOK_DLL[arch]
    : atCheckoutRoot()
    ? `build/${HOOK_DLL[arch]}`
    : builtDll(arch);
  const notes = [
    ...(arch === "x86" ? ["the program is 32-bit"] : []),
    ...(compiled && !emb
      ? [
        `this binary embeds no ${
          arch === "x86" ? "32" : "64"
        }-bit DLL: build it from a checkout of heapshift with \`${
          ["deno task build-dll", ...buildArgs(arch)].join(" ")
        }\``,
      ]
      : []),
  ];
  // a name without an extension is looked for with .dll added
  const file = dll.includes(".") ? dll : `${dll}.dll`;
  const copy = baseName(source).toLowerCase() === file.toLowerCase()
    ? "there"
    : `there as ${file}`;
  const where = isDllFile(exe)
    ? `beside the program that loads ${
      basename(exe)
    } (the application's directory), not beside ${basename(exe)}`
    : `next to ${basename(exe)}`;
  return `the loader looks for ${file} ${where}: copy ${source} ${copy}${
    notes.length ? ` (${notes.join("; ")})` : ""
  }`;
}

/** Registers `patch`. */
export function patchCommand(program: Command, setCode: SetCode): void {
  program.command("patch")
    .description(
      "Make an executable load the hook DLL first, by patching its import table (as minject).",
    )
    .argument("<exe>", "the executable", parsePath)
    .option("-l, --list", "only show the imports and what would change")
    .option(
      "-i, --inplace",
      "patch the file itself (keeps <exe>.bak, or .bak.1, … if taken)",
    )
    .option("-f, --force", "overwrite an existing output file")
    .option("--postfix <text>", "DLL name postfix: heapshift<postfix>.dll")
    .option(
      "-o, --out <path>",
      "output file (default <name>.heapshift.exe)",
      parsePath,
    )
    .option("--remove", "remove the DLL from the import table instead")
    .option(
      "--allow-foreign",
      "with --remove: remove it even if heapshift did not add it",
    )
    .option("--dll <name>", "DLL file name to import (default heapshift.dll)")
    .option(
      "--allow-overlay",
      "without --remove: patch even when data appended after the sections (an installer's payload, a .NET bundle) has to move",
    )
    .option("--json", "machine-readable output")
    .addHelpText(
      "after",
      example(
        "deno run -A cli.ts patch game.exe            # writes game.heapshift.exe",
        "deno run -A cli.ts patch game.exe --inplace",
        "deno run -A cli.ts patch game.exe --remove --inplace",
      ),
    )
    .action(async (exe, opts) => {
      checkDllName(opts);
      checkApplies(opts);
      if (opts.inplace && opts.out) {
        throw new UsageError("--inplace and --out cannot be used together");
      }
      if (opts.out !== undefined) {
        checkOutputPath(opts.out, "--out");
        checkReplaced(opts.out, { what: "--out", force: opts.force });
      } else if (!opts.list) {
        // written as itself, or as <name>.heapshift.exe beside it
        checkOutputPath(exe, "patch", {
          advice:
            "copy the program to a file of its own and patch that (--out PATH names where the patched copy goes)",
        });
      }
      const name = basename(exe);
      // Ctrl+C while a file is written removes it; the program stays as it was.
      const rep = await interruptible(
        (signal) => {
          const common = {
            list: opts.list,
            inPlace: opts.inplace,
            force: opts.force,
            output: opts.out,
            postfix: opts.postfix,
            dll: opts.dll,
            signal,
            keepAttributes,
          };
          return opts.remove
            ? removeImport(exe, { ...common, allowForeign: opts.allowForeign })
            : patchImports(exe, { ...common, allowOverlay: opts.allowOverlay });
        },
        `${
          opts.remove ? "Removal" : "Patch"
        } of ${name} interrupted: nothing was changed`,
      ).catch((e) => {
        throw derivedNameError(e, opts.out === undefined ? exe : undefined, {
          inplace: opts.inplace,
          remove: opts.remove,
        });
      });
      if (rep.action === "added") {
        const warning = await otherRuntimeWarning(exe, rep.dll);
        if (warning) rep.warnings.push(warning);
      }
      if (opts.json) {
        printJson(rep);
        return setCode(0);
      }
      const what = opts.list ? "would be" : "";
      // The names an import table holds, and the user's paths, escaped
      // (a crafted import may hold a byte a terminal acts on).
      const dll = shown(rep.dll);
      const verb = {
        added: `${dll} ${what || ""} added first`,
        moved: `${dll} ${what || ""} moved first`,
        removed: `${dll} ${what || ""} removed`,
        unchanged: opts.remove
          ? `${dll} is not imported: nothing to do`
          : `${dll} is already first: nothing to do`,
      }[rep.action].replace(/\s+/g, " ");
      console.log(
        `${c.bold(shown(name))}: ${rep.changed ? c.green(verb) : verb}`,
      );
      if (rep.output) console.log(`  written  ${shown(rep.output)}`);
      if (rep.backup) console.log(`  backup   ${shown(rep.backup)}`);
      const first = rep.imports.slice(0, 3).map(shown).join(", ");
      console.log(
        `  imports  ${first}${
          rep.imports.length > 3 ? `, … (${rep.imports.length} DLLs)` : ""
        }`,
      );
      for (const w of rep.warnings) {
        console.log(c.yellow(`  warning  ${shown(w)}`));
      }
      // Only an added DLL needs its file: a moved one is the program's own.
      if (rep.action === "added" && !opts.list) {
        // The DLL must match the program's bitness, whatever its import name.
        const arch = fileArch(exe) ?? "x64";
        console.log(
          c.dim(`  ${shown(await copyHint(rep.dll, arch, rep.output ?? exe))}`),
        );
      }
      setCode(0);
    });
}

/**
 * {@linkcode checkWrittenName} of the output `path`, or with `force`, of
 * the file overwriting it writes (a symbolic link's target, beside which
 * pe/ makes its temporary file).
 */
function checkReplaced(
  path: string,
  options: {
    what: string;
    force?: boolean;
    advice?: (limit: string) => string;
  },
): void {
  const file = options.force ? writtenFile(path) : path;
  const what = file === path
    ? options.what
    : `${options.what} ${path}: the file it leads to,`;
  checkWrittenName(file, what, { advice: options.advice });
}

/**
 * `e`, or when it is pe/'s failure to write a file it named from the
 * program `exe`'s name (`undefined`: --out named the file, checked before)
 * because that name is too long for its temporary file, a usage error
 * naming that file (the copy, the backup, the program itself in place)
 * and the option to use instead. Found as the write fails, which writes
 * nothing: a program with nothing to write (patched already) is not
 * refused for names never written.
 */
function derivedNameError(
  e: unknown,
  exe: string | undefined,
  opts: { inplace?: boolean; remove?: boolean },
): unknown {
  const failed = exe === undefined ? undefined : writtenFailure(e);
  if (exe === undefined || failed === undefined) return e;
  const { path, problem, more } = failed;
  let what: string;
  let advice: string;
  if (opts.inplace) {
    // the file written in place (a symbolic link's target), or its backup
    what = path === writtenFile(exe)
      ? "patch --inplace:"
      : "patch --inplace: the backup";
    advice = `patch a copy with --out PATH instead, ${problem.limit}`;
  } else {
    // with --force, the file an existing copy leads to
    const copy = defaultOutputPath(
      exe,
      opts.remove ? "unpatched" : "heapshift",
    );
    what = path === copy
      ? "patch: the copy"
      : `patch: the copy ${copy}: the file it leads to,`;
    advice = `name it with --out PATH, ${problem.limit}`;
  }
  return new UsageError(`${what} ${path}: ${problem.why}: ${advice}${more}`);
}
