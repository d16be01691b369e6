/**
 * What is at a path, and its file name: small helpers every layer above
 * ffi/ and pe/ shares (internal; no imports, so cli/ may use it).
 *
 * @module
 */

/** Whether anything is at `path` (following links). */
export function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Whether anything is at `path`, even a dangling link. */
export function linkExists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Whether `path` is a regular file (or a link to one). */
export function isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

/** Whether `path` is a directory (or a link to one). */
export function isDir(path: string): boolean {
  try {
    return Deno.statSync(path).isDirectory;
  } catch {
    return false;
  }
}

/** The file name of a Windows or POSIX `path` (either separator). */
export function baseName(path: string): string {
  return path.slice(
    Math.max(path.lastIndexOf("\\"), path.lastIndexOf("/")) + 1,
  );
}

/**
 * The file name `path` names when it is a path rather than a bare file
 * name: one with a directory (`build/x.dll`, `C:\x.dll`) or a drive
 * (`C:x.dll`, on Windows the file x.dll in drive C:'s current directory);
 * `undefined` for a bare file name. It is the name Windows opens: a
 * stream's file (`x.dll` of `dir\x.dll:s`), its trailing dots and spaces
 * dropped but in a `\\?\` path, and `""` for a directory (`C:`, `C:.`,
 * `dir\..`, `\\?\C:`), which has none.
 */
export function fileNameOfPath(path: string): string | undefined {
  // a device path's \\?\ or \\.\ and a drive are no part of the name
  const device = /^[\\/]{2}[?.][\\/]/.test(path) ? 4 : 0;
  const drive = /^[A-Za-z]:/.test(path.slice(device)) ? device + 2 : 0;
  if (drive === 0 && !/[\\/]/.test(path)) return undefined;
  const file = baseName(path.slice(drive)).split(":")[0];
  // Windows normalises all but \\?\ paths: . and .. are directories
  const name = path.startsWith("\\\\?\\") ? file : file.replace(/[. ]+$/, "");
  return name === "." || name === ".." ? "" : name;
}

/**
 * Where the user started a `deno task`: the task runs in the checkout's
 * root and says where it was in `INIT_CWD` (unset, or empty, when the
 * script was run directly: then the current directory).
 */
export function userCwd(): string {
  return Deno.env.get("INIT_CWD") || Deno.cwd();
}

/** Whether `path` is absolute on Windows or POSIX (`C:\…`, `\\server\…`, `/…`). */
export function isAbsolute(path: string): boolean {
  return /^([A-Za-z]:[\\/]|[\\/])/.test(path);
}

/**
 * `args` with the values of the options `names` (e.g. `--sample`, as
 * `--sample x` or `--sample=x`) made absolute against `base`: for a command
 * that runs them from another directory.
 */
export function absoluteOptionPaths(
  args: string[],
  options: { names: string[]; base: string },
): string[] {
  const sep = options.base.includes("\\") ? "\\" : "/";
  const base = options.base.replace(/[\\/]+$/, "");
  const drive = /^[A-Za-z]:/.exec(base)?.[0];
  const abs = (p: string) => {
    if (p === "") return p;
    // C:x is relative to drive C's current directory: the base's, when the
    // base is on C (another drive's is not known here: left as given).
    const relDrive = /^([A-Za-z]:)(?![\\/])/.exec(p)?.[1];
    if (relDrive) {
      return drive && relDrive.toUpperCase() === drive.toUpperCase()
        ? `${base}${sep}${p.slice(2)}`
        : p;
    }
    // \x and /x on Windows: the root of the current drive, the base's.
    if (drive && /^[\\/](?![\\/])/.test(p)) return `${drive}${p}`;
    return isAbsolute(p) ? p : `${base}${sep}${p}`;
  };
  return args.map((a, i) => {
    const eq = a.indexOf("=");
    if (eq > 0 && options.names.includes(a.slice(0, eq))) {
      return `${a.slice(0, eq + 1)}${abs(a.slice(eq + 1))}`;
    }
    return i > 0 && options.names.includes(args[i - 1]) && !a.startsWith("-")
      ? abs(a)
      : a;
  });
}
