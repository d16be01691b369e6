/**
 * Where a 32-bit (WOW64) process's file accesses go (internal): its file
 * system redirector sends `%SystemRoot%\System32` and what lies under it,
 * but for a few exempt folders, to `SysWOW64`, where the 32-bit DLLs are.
 * A 64-bit process (Deno) sees the real System32, full of 64-bit DLLs
 * (learn.microsoft.com, "File System Redirector").
 *
 * @module
 */

/** Subfolders of System32 that a 32-bit process reaches unredirected. */
const EXEMPT = [
  "catroot",
  "catroot2",
  "driverstore",
  "drivers\\etc",
  "logfiles",
  "spool",
];

/**
 * `dir` as a 32-bit process reaching it sees it, for `root`
 * (`%SystemRoot%`): under System32, the same place in SysWOW64; anything
 * else as it is. Any case, `/` or `\`, a trailing separator, a `\\?\` or
 * `\\.\` prefix (kept): the redirector works on the NT path those only
 * skip the Win32 rewriting of, so it redirects them too.
 */
export function wow64Path(dir: string, root: string): string {
  const norm = (p: string) => p.replaceAll("/", "\\").replace(/\\+$/, "");
  const system32 = `${norm(root)}\\system32`.toLowerCase();
  const prefix = /^[\\/]{2}[?.][\\/]/.exec(dir)?.[0] ?? "";
  const d = norm(dir.slice(prefix.length));
  const lower = d.toLowerCase();
  if (lower !== system32 && !lower.startsWith(`${system32}\\`)) return dir;
  const rest = lower.slice(system32.length + 1);
  if (EXEMPT.some((e) => rest === e || rest.startsWith(`${e}\\`))) return dir;
  return `${prefix}${d.slice(0, system32.length - "system32".length)}SysWOW64${
    d.slice(system32.length)
  }`;
}
