/**
 * Whether a module is one of Windows' own DLLs (internal): `eject` refuses
 * those, which Windows and programs load for each other through API sets
 * and forwarders that no import table shows.
 *
 * @module
 */

/**
 * Whether `path` is a DLL in Windows' system directories under `root`
 * (`%SystemRoot%`): directly in System32 or SysWOW64, or anywhere in WinSxS.
 * Deeper in System32 lie user profiles (the SYSTEM account's, where a
 * service's programs keep their files), which are not Windows' own.
 */
export function isSystemDll(path: string, root: string): boolean {
  const norm = (p: string) =>
    p.replace(/^\\\\\?\\/, "").replaceAll("/", "\\").toLowerCase();
  const base = norm(root).replace(/\\+$/, "");
  const p = norm(path);
  const dir = p.slice(0, p.lastIndexOf("\\"));
  return dir === `${base}\\system32` || dir === `${base}\\syswow64` ||
    p.startsWith(`${base}\\winsxs\\`);
}

/** `%SystemRoot%`, where Windows' own DLLs are (`C:\Windows` when unset,
 * or with no permission to read the environment). */
export function systemRoot(): string {
  try {
    return Deno.env.get("SystemRoot") ?? "C:\\Windows";
  } catch {
    return "C:\\Windows";
  }
}
