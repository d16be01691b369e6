/**
 * Where the checkout is: the CLI, the tasks, the bench and the Windows
 * suite find `build/`, `tasks/` and `cli.ts` from here (internal).
 *
 * @module
 */

import { isWindows } from "../ffi/mod.ts";

/**
 * The checkout's root (the directory holding deno.json), with the
 * platform's separators; the current directory when this module is not a
 * file (a compiled binary).
 */
export function repoRoot(): string {
  const u = new URL("..", import.meta.url);
  if (u.protocol !== "file:") return Deno.cwd();
  let p = decodeURIComponent(u.pathname);
  if (isWindows) p = p.replace(/^\/([A-Za-z]:)/, "$1").replaceAll("/", "\\");
  return p.replace(/[\\/]$/, "");
}

/** A path under the checkout (`rel` with `/`), with the platform's separators. */
export function repoPath(rel: string): string {
  const sep = isWindows ? "\\" : "/";
  return `${repoRoot()}${sep}${rel.replaceAll("/", sep)}`;
}
