/**
 * Reading registry values on Windows without binding advapi32: `reg
 * export` writes a key as a .reg file in UTF-16LE, which keeps every
 * character of a path (`reg query` prints in the console's code page,
 * where a name outside it turns into `?`).
 *
 * @module
 */

import { interruptible } from "./interrupts.ts";

/** Undoes a .reg file's quoting of a name or string value. */
function unquote(text: string): string {
  return text.replace(/\\(.)/g, "$1");
}

/** A `hex(2):..` or `hex:..` value's bytes as UTF-16LE text, NULs dropped. */
function hexText(hex: string): string {
  const bytes = hex.split(",").map((b) => b.trim()).filter((b) => b).map((
    b,
  ) => parseInt(b, 16));
  const text = new TextDecoder("utf-16le").decode(new Uint8Array(bytes));
  return text.replace(/\0+$/, "");
}

/**
 * The string values (REG_SZ, and REG_EXPAND_SZ unexpanded) of the key
 * `key` itself in the text of a .reg file; its subkeys' values are not.
 * Names are as written (compare them case-insensitively).
 */
export function regFileValues(
  text: string,
  key: string,
): Record<string, string> {
  // A long hex value goes on over several lines, each ending in `\`.
  const lines = text.replace(/\\\r?\n\s*/g, "").split(/\r?\n/);
  const header = `[${key}]`.toLowerCase();
  const out: Record<string, string> = {};
  let inKey = false;
  for (const line of lines) {
    if (line.startsWith("[")) {
      inKey = line.trim().toLowerCase() === header;
      continue;
    }
    if (!inKey) continue;
    const m = /^"((?:[^"\\]|\\.)*)"=(.*)$/.exec(line);
    if (!m) continue;
    const [, name, value] = m;
    const str = /^"((?:[^"\\]|\\.)*)"\s*$/.exec(value);
    if (str) out[unquote(name)] = unquote(str[1]);
    const exp = /^hex\(2\):(.*)$/.exec(value);
    if (exp) out[unquote(name)] = hexText(exp[1]);
  }
  return out;
}

/** `%NAME%` references replaced by the environment's values (as Windows does). */
export function expandVars(
  text: string,
  env: (name: string) => string | undefined = (k) => Deno.env.get(k),
): string {
  return text.replace(/%([^%]+)%/g, (all, name) => env(name) ?? all);
}

/**
 * The string values of a registry key (e.g.
 * `HKCU\Software\Kaldaien\Special K`), read with `reg export`; none when
 * the key does not exist or cannot be read. Windows only. `program`: reg.exe
 * (tests name one that cannot be started).
 */
export async function regValues(
  key: string,
  options: { program?: string } = {},
): Promise<Record<string, string>> {
  // Ctrl+C would end this process with its folder left behind (in
  // LocalAppData, for good), and a read cut short must not read as no
  // values: the command would go on to edit an ini.
  return await interruptible(async (signal) => {
    const dir = await exportDir(key);
    try {
      const file = `${dir}\\key.reg`;
      // (a program that cannot be started throws at once, not in the promise)
      const r = await (async () =>
        await new Deno.Command(options.program ?? "reg", {
          args: ["export", key, file, "/y"],
          stdout: "null",
          stderr: "null",
          signal,
        }).output())().catch(() =>
          undefined
        );
      signal.throwIfAborted();
      // On Windows Ctrl+C reaches reg.exe too, which may end before this
      // process hears of it.
      if (r && r.code >>> 0 === STATUS_CONTROL_C_EXIT) {
        throw new DOMException("interrupted (Ctrl+C)", "AbortError");
      }
      if (!r?.success) return {};
      const bytes = await Deno.readFile(file);
      const full = key.replace(/^HKCU\\/i, "HKEY_CURRENT_USER\\").replace(
        /^HKLM\\/i,
        "HKEY_LOCAL_MACHINE\\",
      );
      return regFileValues(new TextDecoder("utf-16le").decode(bytes), full);
    } finally {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  }, `Reading the registry key ${key} interrupted: nothing was changed`);
}

/** The exit code of a Windows console program that Ctrl+C ended. */
const STATUS_CONTROL_C_EXIT = 0xC000013A;

/**
 * A new folder for `reg export` to write in: in the temporary folder, or,
 * where TEMP names none the user can write (gone, another user's), in
 * LocalAppData. Throws, saying what to do, when neither can be had.
 */
async function exportDir(key: string): Promise<string> {
  const prefix = EXPORT_PREFIX;
  try {
    return await swept(await Deno.makeTempDir({ prefix }));
  } catch (first) {
    const local = Deno.env.get("LOCALAPPDATA");
    if (local) {
      try {
        return await swept(await Deno.makeTempDir({ dir: local, prefix }));
      } catch { /* the error below */ }
    }
    throw new Error(
      `Cannot read the registry key ${key}: no folder to export it to (${
        (first as Error).message
      }); set TEMP to a folder you can write to`,
    );
  }
}

const EXPORT_PREFIX = "heapshift-reg-";

/** How old an export folder must be to be a killed read's (one takes
 * seconds). */
const ABANDONED_MS = 24 * 3600 * 1000;

/**
 * `own`, after removing the export folders beside it that reads killed
 * outright left (SIGKILL, a closed console window: no handler runs). Only
 * what is surely one: our name, nothing in it but `key.reg`, untouched for
 * a day (a read under way is newer); anything else is left alone.
 */
async function swept(own: string): Promise<string> {
  const cut = Math.max(own.lastIndexOf("/"), own.lastIndexOf("\\"));
  const parent = own.slice(0, cut + 1);
  try {
    for (const e of Deno.readDirSync(parent)) {
      const dir = parent + e.name;
      if (!e.isDirectory || !e.name.startsWith(EXPORT_PREFIX)) continue;
      if (dir === own) continue;
      await removeAbandoned(dir).catch(() => {}); // in use, or not ours
    }
  } catch { /* the folder cannot be listed: nothing swept */ }
  return own;
}

/** Removes the export folder `dir` if a killed read left it (see above). */
async function removeAbandoned(dir: string): Promise<void> {
  const inside = [...Deno.readDirSync(dir)];
  if (!inside.every((f) => f.isFile && f.name === "key.reg")) return;
  const files = inside.map((f) => `${dir}/${f.name}`);
  const newest = Math.max(
    ...[dir, ...files].map((p) =>
      Deno.statSync(p).mtime?.getTime() ?? Infinity
    ),
  );
  if (!(Date.now() - newest > ABANDONED_MS)) return;
  for (const f of files) await Deno.remove(f);
  await Deno.remove(dir); // (not recursive: fails if anything came since)
}

/** The value `name` (any case) of `values`. */
export function valueNamed(
  values: Record<string, string>,
  name: string,
): string | undefined {
  const want = name.toLowerCase();
  return Object.entries(values).find(([k]) => k.toLowerCase() === want)?.[1];
}
