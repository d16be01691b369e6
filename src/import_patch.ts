/**
 * The import-table patcher of pe/ (mimalloc's minject, in TypeScript) with
 * the API's errors: what pe/ throws comes out as a {@linkcode
 * HeapshiftError} whose `cause` is pe/'s typed error.
 *
 * @module
 */

import {
  checkOptions,
  checkOptionTypes,
  checkPath,
  type OptionType,
} from "./_arguments.ts";
import {
  type FileOptions,
  type PatchFileOptions,
  patchImports as pePatchImports,
  type PatchReport,
  type RemoveFileOptions,
  removeImport as peRemoveImport,
} from "../pe/mod.ts";
import { keepFileAttributes } from "../ffi/mod.ts";
import { guardAsync } from "./_error_kinds.ts";
import { HeapshiftError } from "./heapshift_error.ts";
import {
  outputNameProblem,
  writtenFailure,
  writtenNameProblem,
} from "./_output_name.ts";
import { fileNameOfPath } from "./_paths.ts";

/**
 * Throws unless `dll` is a file name: inject and launch take a DLL's path,
 * and a script may well pass the same here, where it is the name the
 * program is to import (Windows looks for it beside the program).
 */
function checkDllName(dll: string | undefined, doing: string): void {
  const file = dll === undefined ? undefined : fileNameOfPath(dll);
  if (file === undefined) return;
  const name = file || "heapshift.dll";
  throw new HeapshiftError(
    "bad-argument",
    `Cannot ${doing}: dll is the file name the program is to import, not a path (${
      JSON.stringify(dll)
    }): Windows looks for it beside the program, so pass { dll: ${
      JSON.stringify(name)
    } } and copy the DLL there`,
  );
}

/**
 * Throws a `bad-path` error for an `output` Windows would not give the
 * name asked for (a trailing '.', a device's name, a stream): with `force`
 * "keep.exe." would replace keep.exe.
 */
function checkOutputName(output: string | undefined, doing: string): void {
  const problem = output === undefined ? undefined : outputNameProblem(output);
  if (problem === undefined) return;
  throw new HeapshiftError(
    "bad-path",
    `Cannot ${doing}: output ${output}: ${problem.why}: ${problem.advice}`,
  );
}

/**
 * Throws a `bad-path` error for a path given for a file to write (`output`;
 * in place, `backup`) whose name is too long for the temporary file pe/
 * writes it through: the write would fail in the system's words, which
 * say nothing of why (Linux "file name too long", Wine "not found").
 */
function checkWrittenNames(options: FileOptions, doing: string): void {
  const given: [string, string | false | undefined][] = [
    ["output", options.output],
    ["backup", options.inPlace ? options.backup : undefined],
  ];
  for (const [option, path] of given) {
    if (typeof path !== "string") continue;
    const problem = writtenNameProblem(path);
    if (problem === undefined) continue;
    throw new HeapshiftError(
      "bad-path",
      `Cannot ${doing}: ${option} ${path}: ${problem.why}: ${problem.advice}`,
    );
  }
}

/**
 * `e`, or when it is pe/'s failure to write a file named from the
 * program's (the copy beside it, its backup, the program itself in place)
 * whose name is too long for its temporary file, a `bad-path` error that
 * names that file and says what to do. Found as the write fails, not
 * before: an edit that has nothing to write (a program patched already)
 * is not refused.
 */
function writtenNameError(
  e: unknown,
  edit: { options: FileOptions; doing: string },
): unknown {
  const failed = writtenFailure(e);
  if (failed === undefined) return e;
  const { path, problem, more } = failed;
  const { options, doing } = edit;
  const what = !options.inPlace
    ? `the copy ${path}`
    : options.backup !== false && /\.bak(\.\d+)?$/.test(path)
    ? `the backup ${path}`
    : `${path}, written in place`;
  const advice = options.inPlace
    ? `write to a copy with output instead, ${problem.limit}`
    : `name it with output, ${problem.limit}`;
  return new HeapshiftError(
    "bad-path",
    `Cannot ${doing}: ${what}: ${problem.why}: ${advice}${more}`,
    { cause: e },
  );
}

/** Runs pe/'s edit `run`, with the API's error for a name too long. */
async function edited(
  run: () => Promise<PatchReport>,
  edit: { options: FileOptions; doing: string },
): Promise<PatchReport> {
  try {
    return await run();
  } catch (e) {
    throw writtenNameError(e, edit);
  }
}

/** The types of the options both edits take. */
const FILE_OPTIONS: Record<string, OptionType> = {
  list: "boolean",
  inPlace: "boolean",
  backup: "string-or-false",
  force: "boolean",
  output: "string",
  signal: "AbortSignal",
  dll: "string",
  postfix: "string",
  keepAttributes: "function",
};

/**
 * `options` with, on Windows, the program's hidden and system attributes
 * kept by default ({@linkcode FileOptions.keepAttributes}): the rename that
 * puts a new file in its place would lose them.
 */
function keeping<T extends FileOptions>(options: T): T {
  if (Deno.build.os !== "windows" || options.keepAttributes) return options;
  return { ...options, keepAttributes: keepFileAttributes };
}

/**
 * Makes `exe` load a DLL (default `heapshift.dll`) before all its other
 * imports. Without `inPlace` it writes a new file next to it; with it, the
 * file is replaced atomically after a backup is written. A file that
 * already loads the DLL first is left alone (`changed: false`). The file
 * is read once, in pieces, and never held whole in memory.
 *
 * In place, on Windows, the new file and the backup keep the program's
 * hidden and system attributes (`keepAttributes` replaces how), but not
 * what else Windows keeps beside a file's bytes: they get the access
 * rules (ACL) and owner a new file in that folder gets, and no alternate
 * data streams (a downloaded program's "mark of the web" is dropped).
 *
 * The file only names the DLL: Windows looks for it beside the program
 * (the file written) when it starts, so copy `build/heapshift.dll` there
 * under that name; a 32-bit program (`machine` `0x14c` in the report)
 * needs `build/heapshift32.dll`, copied there as `heapshift.dll`. Without
 * it the program does not start (0xC0000135, a DLL was not found).
 *
 * Nothing is written when it fails, with a {@linkcode HeapshiftError} of
 * kind `bad-pe` (a malformed file), `cannot-patch`, `exists` (the output
 * exists without `force`), `not-found`, `access-denied` or `bad-path`
 * (also, on Windows, an `output` Windows would name otherwise: ending in
 * '.' or ' ', a device's name such as `NUL`, a ':' naming a stream; and a
 * file to write, given or named from the program's, whose name is over
 * 241 characters, 241 bytes off Windows: each is written through a
 * temporary file whose name is 14 longer, and a name may have 255).
 *
 * @example Patch a program in place, keeping a backup
 * ```ts
 * import { patchImports } from "@heapshift/heapshift";
 * const r = await patchImports("game.exe", { inPlace: true });
 * console.log(r.action, r.imports[0], r.backup); // added heapshift.dll game.exe.bak
 * for (const w of r.warnings) console.warn(w);
 * ```
 *
 * @example Ask before overwriting an output file
 * ```ts
 * import { HeapshiftError, patchImports } from "@heapshift/heapshift";
 * try {
 *   await patchImports("game.exe", { output: "game.patched.exe" });
 * } catch (e) {
 *   if (!(e instanceof HeapshiftError && e.kind === "exists")) throw e;
 *   if (confirm("game.patched.exe exists. Overwrite?")) {
 *     await patchImports("game.exe", { output: "game.patched.exe", force: true });
 *   }
 * }
 * ```
 */
export function patchImports(
  exe: string,
  options: PatchFileOptions = {},
): Promise<PatchReport> {
  return guardAsync(() => {
    checkPath(exe, "patch");
    checkOptions(options, `patch ${exe}`);
    checkOptionTypes(options, {
      types: {
        ...FILE_OPTIONS,
        symbol: "string-or-number",
        sectionName: "string",
        allowSecond: "boolean",
        allowOverlay: "boolean",
      },
      doing: `patch ${exe}`,
    });
    checkDllName(options.dll, `patch ${exe}`);
    checkOutputName(options.output, `patch ${exe}`);
    checkWrittenNames(options, `patch ${exe}`);
    return edited(() => pePatchImports(exe, keeping(options)), {
      options,
      doing: `patch ${exe}`,
    });
  });
}

/**
 * Undoes {@linkcode patchImports}: removes the DLL from the import table of
 * `exe`, dropping heapshift's section when it is the last one (which gives
 * back the original bytes). Without `inPlace` the result goes next to it
 * (`game.exe` gives `game.unpatched.exe`). A file that does not import the
 * DLL is left alone (`changed: false`); removing a DLL heapshift did not
 * add needs `allowForeign` (else a `cannot-patch` {@linkcode
 * HeapshiftError}).
 *
 * @example Undo a patch in place
 * ```ts
 * import { removeImport } from "@heapshift/heapshift";
 * const r = await removeImport("game.exe", { inPlace: true });
 * if (r.changed) console.log(`${r.dll} removed; now ${r.imports.join(", ")}`);
 * ```
 */
export function removeImport(
  exe: string,
  options: RemoveFileOptions = {},
): Promise<PatchReport> {
  return guardAsync(() => {
    checkPath(exe, "remove an import");
    checkOptions(options, `remove an import from ${exe}`);
    checkOptionTypes(options, {
      types: { ...FILE_OPTIONS, allowForeign: "boolean" },
      doing: `remove an import from ${exe}`,
    });
    checkDllName(options.dll, `remove an import from ${exe}`);
    checkOutputName(options.output, `remove an import from ${exe}`);
    checkWrittenNames(options, `remove an import from ${exe}`);
    return edited(() => peRemoveImport(exe, keeping(options)), {
      options,
      doing: `remove an import from ${exe}`,
    });
  });
}
