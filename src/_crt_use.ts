/**
 * Which C runtime a program uses, from the import tables of its files
 * (internal): doctor reports it, inject and launch warn of a program
 * whose code does not use the UCRT. Imports nothing of src/ (cli/ uses
 * it).
 *
 * @module
 */

import { imports as peImports } from "../pe/mod.ts";

/** How a program uses the C runtime, from its imports. */
export interface CrtUse {
  /**
   * `ucrt` (dynamic UCRT: can be taken over), `debug-ucrt` (ucrtbased.dll),
   * `msvcrt`, or `static` (no C runtime DLL: linked in, or none).
   */
  kind: "ucrt" | "debug-ucrt" | "msvcrt" | "static";
  /** The CRT DLLs it imports. */
  dlls: string[];
  /**
   * The module that imports them, when it is not the program itself (whose
   * own kind is then `own`).
   */
  via?: string;
  own?: "debug-ucrt" | "msvcrt" | "static";
  /** The DLLs beside it were not looked into (a program in System32). */
  unfollowed?: boolean;
}

/** Classifies a module's C runtime from the names of the DLLs it imports. */
export function crtUse(dlls: string[]): CrtUse {
  const of = (re: RegExp) => dlls.filter((d) => re.test(d));
  const ucrt = of(/^(ucrtbase\.dll|api-ms-win-crt-heap-.*)$/i);
  if (ucrt.length) return { kind: "ucrt", dlls: ucrt };
  const debug = of(/^ucrtbased\.dll$/i);
  if (debug.length) return { kind: "debug-ucrt", dlls: debug };
  const old = of(/^msvcr(t|\d+)\.dll$/i);
  if (old.length) return { kind: "msvcrt", dlls: old };
  return { kind: "static", dlls: [] };
}

/** Modules read at most when following a program's own DLLs. */
const MAX_MODULES = 64;

/**
 * The C runtime of a program, or of the DLLs it brings: a program whose
 * code lives in DLLs beside it (a stub exe, an engine DLL) uses their
 * runtime. Follows static imports (delay-loaded ones may never load) to
 * DLLs in the program's directory, where the loader looks first, but not
 * from a program in Windows' own directories; the first module found using
 * the UCRT decides, else the program's own kind.
 */
export async function programCrtUse(exe: string): Promise<CrtUse> {
  // With its separator: "" for a bare name, "/" for the root.
  const dir = exe.slice(
    0,
    Math.max(exe.lastIndexOf("\\"), exe.lastIndexOf("/")) + 1,
  );
  const system = /[\\/](system32|syswow64)[\\/]$/i.test(dir);
  let beside: Map<string, string> | undefined;
  const seen = new Set([exe.slice(dir.length).toLowerCase()]);
  const queue = [exe];
  let own: CrtUse | undefined;
  let found: CrtUse | undefined;
  for (let i = 0; i < queue.length && i < MAX_MODULES; i++) {
    let list;
    try {
      list = await peImports(queue[i], { symbols: false });
    } catch (e) {
      if (i === 0) throw e;
      continue; // not a module the loader could map either
    }
    const use = crtUse(list.map((d) => d.dll));
    own ??= use;
    if (i > 0) {
      use.via = queue[i].slice(dir.length); // all beside it
      use.own = own.kind as CrtUse["own"];
    }
    if (use.kind === "ucrt") return use;
    if (use.kind !== "static") found ??= use;
    if (system) break;
    beside ??= filesIn(dir || ".");
    for (const d of list) {
      const file = d.kind === "static" && beside.get(d.dll.toLowerCase());
      if (file && !seen.has(file.toLowerCase())) {
        seen.add(file.toLowerCase());
        queue.push(`${dir}${file}`);
      }
    }
  }
  const use = found ?? own!;
  if (system) use.unfollowed = true;
  return use;
}

/** The files in `dir` by their lower-case names (none if unreadable). */
function filesIn(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  try {
    for (const e of Deno.readDirSync(dir)) {
      if (e.isFile || e.isSymlink) out.set(e.name.toLowerCase(), e.name);
    }
  } catch { /* the program's own imports decide */ }
  return out;
}
