/**
 * Which hook DLL a command uses: `--dll PATH`, else the copy embedded in a
 * compiled binary (extracted to a cache file), else the checkout's
 * `build/heapshift.dll`, built on demand.
 *
 * @module
 */

import { embeddedDll, extractDll } from "./embed.ts";
import { c, CliError, progress } from "./output.ts";
import { isWindows, repoPath, repoRoot, underWine } from "./platform.ts";

function isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

/** The checkout's hook DLL path (it may not exist yet). */
export function builtDll(): string {
  return repoPath("build/heapshift.dll");
}

/** Whether the checkout can build the DLL (tasks/build_dll.ts exists). */
export function canBuild(): boolean {
  return isFile(repoPath("tasks/build_dll.ts"));
}

/** Runs `deno task build-dll` (tasks/build_dll.ts) with this Deno. */
export async function buildDll(args: string[] = []): Promise<number> {
  if (!canBuild()) {
    throw new CliError(
      "This checkout has no tasks/build_dll.ts yet: the hook DLL cannot be built",
    );
  }
  if (underWine()) {
    throw new CliError(
      "The hook DLL is built on the Linux side (the mingw-w64 compiler lives in the Wine environment, not inside Wine): run `deno task build-dll` there first",
    );
  }
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", repoPath("tasks/build_dll.ts"), ...args],
    cwd: repoRoot(),
    stdin: "null",
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  return (await child.status).code;
}

/** Options for {@linkcode resolveDll}. */
export interface ResolveOptions {
  /** Build `build/heapshift.dll` when missing (default true). */
  build?: boolean;
}

/** Returns the absolute path of the hook DLL to use. */
export async function resolveDll(
  explicit?: string,
  options: ResolveOptions = {},
): Promise<string> {
  if (explicit) {
    if (!isFile(explicit)) {
      throw new CliError(`No DLL at ${explicit}`);
    }
    return absolute(explicit);
  }
  const emb = embeddedDll();
  if (emb) return (await extractDll(emb)).path;
  const dll = builtDll();
  if (isFile(dll)) return dll;
  if (options.build === false || !canBuild() || underWine()) {
    throw new CliError(
      `The hook DLL is not built (${dll}): run \`deno task build-dll\`${
        isWindows && underWine() ? " on the Linux side" : ""
      }, or pass --dll PATH`,
    );
  }
  progress(`building the hook DLL (${dll})…`);
  const code = await buildDll();
  if (code !== 0 || !isFile(dll)) {
    throw new CliError(
      `Building the hook DLL failed (exit ${code}); see the build output above`,
    );
  }
  progress(c.green(`built ${dll}`));
  return dll;
}

function absolute(path: string): string {
  if (isWindows) {
    if (/^[A-Za-z]:[\\/]/.test(path) || path.startsWith("\\\\")) return path;
    if (path.startsWith("/") || path.startsWith("\\")) {
      return Deno.cwd().slice(0, 2) + path.replaceAll("/", "\\");
    }
    return `${Deno.cwd()}\\${path.replaceAll("/", "\\")}`;
  }
  return path.startsWith("/") ? path : `${Deno.cwd()}/${path}`;
}

export { absolute as absolutePath };
