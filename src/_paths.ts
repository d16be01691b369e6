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
