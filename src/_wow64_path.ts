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
 * (`%SystemRoot%`): under System32, the same place in SysWOW64; under
 * Sysnative (the alias by which a 32-bit process names the real System32,
 * which no 64-bit process has), the same place in System32; anything
 * else as it is. Any case, `/` or `\`, a trailing separator, a `\\?\` or
 * `\\.\` prefix (kept): the redirector works on the NT path those only
 * skip the Win32 rewriting of, so it redirects them too.
 */
export function wow64Path(dir: string, root: string): string {
  const prefix = DEVICE.exec(dir)?.[0] ?? "";
  const d = norm(dir.slice(prefix.length));
  const lower = d.toLowerCase();
  const sysnative = folder(root, "sysnative");
  if (under(lower, sysnative)) {
    return `${prefix}${d.slice(0, sysnative.length - 9)}System32${
      d.slice(sysnative.length)
    }`;
  }
  const system32 = folder(root, "system32");
  if (!under(lower, system32)) return dir;
  const rest = lower.slice(system32.length + 1);
  if (EXEMPT.some((e) => rest === e || rest.startsWith(`${e}\\`))) return dir;
  return `${prefix}${d.slice(0, system32.length - 8)}SysWOW64${
    d.slice(system32.length)
  }`;
}

/**
 * Whether `dir` is under Sysnative for `root` (`%SystemRoot%`): a name
 * only a 32-bit process has, for the 64-bit System32.
 */
export function underSysnative(dir: string, root: string): boolean {
  const d = norm(dir.replace(DEVICE, "")).toLowerCase();
  return under(d, folder(root, "sysnative"));
}

const DEVICE = /^[\\/]{2}[?.][\\/]/;

/** `p` with `\` separators and no trailing one. */
function norm(p: string): string {
  return p.replaceAll("/", "\\").replace(/\\+$/, "");
}

/** `root\name`, lower case. */
function folder(root: string, name: string): string {
  return `${norm(root)}\\${name}`.toLowerCase();
}

/** Whether the lower-case `path` is `dir` or lies under it. */
function under(path: string, dir: string): boolean {
  return path === dir || path.startsWith(`${dir}\\`);
}
