/**
 * File-level patching with minject-compatible options, and atomic writes.
 *
 * | minject            | here                                   |
 * | ------------------ | -------------------------------------- |
 * | `-l`, `--list`     | `list: true` (reads only the headers)  |
 * | `-i`, `--inplace`  | `inPlace: true` (backup `<exe>.bak`)   |
 * | `-f`, `--force`    | `force: true` (overwrite output/backup)|
 * | `-p`, `--postfix`  | `postfix: "-debug"`                    |
 * | `-r`, `--remove`   | {@linkcode removeImport}               |
 * | (none)             | `output: path`, `dll`, `symbol`        |
 *
 * @module
 */

import { OutputExistsError } from "./errors.ts";
import {
  type PatchBytesOptions,
  patchImportsBytes,
  type PatchResult,
  resolveDllName,
} from "./patch.ts";
import { type RemoveBytesOptions, removeImportBytes } from "./remove.ts";
import { imports } from "./reader.ts";

/** Options shared by {@linkcode patchImports} and {@linkcode removeImport}. */
export interface FileOptions {
  /** Only report what would be done; write nothing (minject `--list`). */
  list?: boolean;
  /** Patch the file itself, keeping a backup (minject `--inplace`). */
  inPlace?: boolean;
  /**
   * Backup path for `inPlace` (default `<exe>.bak`), or `false` for none.
   */
  backup?: string | false;
  /** Overwrite an existing output or backup (minject `--force`). */
  force?: boolean;
  /**
   * Where to write the result when not `inPlace`; by default next to the
   * input: `game.exe` gives `game.heapshift.exe` (patch) or
   * `game.unpatched.exe` (remove).
   */
  output?: string;
}

/** Options for {@linkcode patchImports}. */
export interface PatchFileOptions extends FileOptions, PatchBytesOptions {}

/** Options for {@linkcode removeImport}. */
export interface RemoveFileOptions extends FileOptions, RemoveBytesOptions {}

/** What a file-level patch did (or would do, with `list`). */
export interface PatchReport {
  /** The input path. */
  input: string;
  /** The file written, if any. */
  output?: string;
  /** The backup written, if any. */
  backup?: string;
  /** What was (or would be) done; see {@linkcode PatchResult.action}. */
  action: PatchResult["action"];
  /** Whether the file was (or would be) changed. */
  changed: boolean;
  /** The DLL acted on. */
  dll: string;
  /** Static imports of the result (of the input with `list`), in load order. */
  imports: string[];
  /** Warnings for the user. */
  warnings: string[];
}

/** Options for {@linkcode writeFileAtomic}. */
export interface WriteAtomicOptions {
  /** Replace an existing file (otherwise OutputExistsError). */
  overwrite?: boolean;
  /** Permission bits for the new file (POSIX only). */
  mode?: number;
}

function splitPath(path: string): { dir: string; base: string } {
  const i = Math.max(path.lastIndexOf("/"), path.lastIndexOf("\\"));
  return i < 0
    ? { dir: ".", base: path }
    : { dir: path.slice(0, i) || "/", base: path.slice(i + 1) };
}

/**
 * The default output path next to `exe`: `game.exe` with tag `heapshift`
 * gives `game.heapshift.exe`.
 */
export function defaultOutputPath(exe: string, tag = "heapshift"): string {
  const { base } = splitPath(exe);
  const dot = base.lastIndexOf(".");
  const head = exe.slice(0, exe.length - base.length);
  return dot > 0
    ? `${head}${base.slice(0, dot)}.${tag}${base.slice(dot)}`
    : `${exe}.${tag}`;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/**
 * Writes `bytes` to `path` so that readers see either the old file or the
 * whole new one: a temporary file in the same directory is written,
 * flushed to disk and then renamed (or hard-linked, when not overwriting,
 * so an existing file is never clobbered).
 */
export async function writeFileAtomic(
  path: string,
  bytes: Uint8Array,
  options: WriteAtomicOptions = {},
): Promise<void> {
  if (!options.overwrite && await exists(path)) {
    throw new OutputExistsError(path);
  }
  const { dir, base } = splitPath(path);
  const tmp = `${dir}/.${base}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  const file = await Deno.open(tmp, {
    write: true,
    createNew: true,
    mode: options.mode,
  });
  try {
    try {
      let done = 0;
      while (done < bytes.length) {
        done += await file.write(bytes.subarray(done));
      }
      await file.sync();
    } finally {
      file.close();
    }
    if (options.overwrite) {
      await Deno.rename(tmp, path);
    } else {
      try {
        await Deno.link(tmp, path);
      } catch (e) {
        if (e instanceof Deno.errors.AlreadyExists) {
          throw new OutputExistsError(path);
        }
        // Hard links unsupported here: fall back to a checked rename.
        if (await exists(path)) throw new OutputExistsError(path);
        await Deno.rename(tmp, path);
      }
    }
  } finally {
    await Deno.remove(tmp).catch(() => {});
  }
  // Persist the rename itself; directories cannot be opened on Windows.
  try {
    using d = await Deno.open(dir);
    await d.sync();
  } catch {
    // best effort
  }
}

async function modeOf(path: string): Promise<number | undefined> {
  if (Deno.build.os === "windows") return undefined;
  const mode = (await Deno.stat(path)).mode;
  return mode === null ? undefined : mode & 0o777;
}

/** A file-level edit: its options, output tag and byte-level change. */
interface FileEdit {
  options: FileOptions;
  /** `heapshift` or `unpatched`, for the default output path. */
  tag: string;
  edit: (bytes: Uint8Array) => PatchResult;
}

async function apply(exe: string, how: FileEdit): Promise<PatchReport> {
  const { options, tag, edit } = how;
  const target = options.inPlace
    ? exe
    : options.output ?? defaultOutputPath(exe, tag);
  const backup = options.inPlace && options.backup !== false
    ? options.backup ?? `${exe}.bak`
    : undefined;
  const input = await Deno.readFile(exe);
  // Parse and patch fully before touching the disk: bad input writes nothing.
  const result = edit(input);
  const report: PatchReport = {
    input: exe,
    action: result.action,
    changed: result.changed,
    dll: result.dll,
    imports: (await imports(result.bytes, { symbols: false }))
      .filter((d) => d.kind === "static").map((d) => d.dll),
    warnings: result.warnings,
  };
  if (!result.changed) return report;
  if (!options.force) {
    for (const p of [options.inPlace ? undefined : target, backup]) {
      if (p !== undefined && await exists(p)) throw new OutputExistsError(p);
    }
  }
  const mode = await modeOf(exe);
  if (backup !== undefined) {
    await writeFileAtomic(backup, input, { overwrite: options.force, mode });
    report.backup = backup;
  }
  await writeFileAtomic(target, result.bytes, {
    overwrite: options.inPlace || options.force,
    mode,
  });
  report.output = target;
  return report;
}

async function listOnly(
  exe: string,
  what: { dll: string; remove: boolean },
): Promise<PatchReport> {
  const { dll, remove } = what;
  const list = (await imports(exe, { symbols: false }))
    .filter((d) => d.kind === "static").map((d) => d.dll);
  const idx = list.findIndex((d) => d.toLowerCase() === dll.toLowerCase());
  const action = remove
    ? idx < 0 ? "unchanged" : "removed"
    : idx === 0
    ? "unchanged"
    : idx > 0
    ? "moved"
    : "added";
  return {
    input: exe,
    action,
    changed: action !== "unchanged",
    dll,
    imports: list,
    warnings: [],
  };
}

/**
 * Makes `exe` load a DLL (default `heapshift.dll`) before all its other
 * imports. Without `inPlace` it writes a new file next to it; with it, the
 * file is replaced atomically after a backup is written. A file that
 * already loads the DLL first is left alone (`changed: false`).
 *
 * Throws `PeFormatError` for a malformed file, `PePatchError` when it
 * cannot be patched and {@linkcode OutputExistsError} when the output or
 * backup exists without `force`; nothing is written then.
 *
 * @example Patch a program in place, keeping a backup
 * ```ts
 * import { patchImports } from "@heapshift/heapshift";
 * const r = await patchImports("game.exe", { inPlace: true });
 * console.log(r.action, r.imports[0], r.backup); // added heapshift.dll game.exe.bak
 * for (const w of r.warnings) console.warn(w);
 * ```
 *
 * @example See what would be done, writing nothing (minject `--list`)
 * ```ts
 * import { patchImports } from "@heapshift/heapshift";
 * const r = await patchImports("game.exe", { list: true, postfix: "-debug" });
 * console.log(`${r.dll}: ${r.action}`); // heapshift-debug.dll: added
 * ```
 */
export function patchImports(
  exe: string,
  options: PatchFileOptions = {},
): Promise<PatchReport> {
  if (options.list) {
    return listOnly(exe, { dll: resolveDllName(options), remove: false });
  }
  return apply(exe, {
    options,
    tag: "heapshift",
    edit: (b) => patchImportsBytes(b, options),
  });
}

/**
 * Undoes {@linkcode patchImports}: removes the DLL from the import table of
 * `exe`, dropping heapshift's section when it is the last one. Without
 * `inPlace` the result goes next to it (`game.exe` gives
 * `game.unpatched.exe`). A file that does not import the DLL is left alone
 * (`changed: false`); removing a DLL heapshift did not add needs
 * `allowForeign`.
 *
 * @example Undo a patch in place
 * ```ts
 * import { removeImport } from "@heapshift/heapshift";
 * const r = await removeImport("game.exe", { inPlace: true, force: true });
 * if (r.changed) console.log(`${r.dll} removed; now ${r.imports.join(", ")}`);
 * ```
 */
export function removeImport(
  exe: string,
  options: RemoveFileOptions = {},
): Promise<PatchReport> {
  if (options.list) {
    return listOnly(exe, { dll: resolveDllName(options), remove: true });
  }
  return apply(exe, {
    options,
    tag: "unpatched",
    edit: (b) => removeImportBytes(b, options),
  });
}
