/**
 * The files the hook DLL is built from, and a digest of their contents:
 * `deno task build-dll` decides with them whether a build is up to date,
 * and records the digest beside the DLL, so that the CLI can tell a
 * checkout's DLL built from older sources (after a `git pull`) and have it
 * rebuilt (internal; no imports, so cli/ may use it).
 *
 * @module
 */

/** The mimalloc major versions heapshift builds with (third_party/). */
export type MimallocVersion = 2 | 3;

/** The checkout's source tree of each version (third_party/README.md). */
export const MIMALLOC_TREES: Readonly<Record<MimallocVersion, string>> = {
  2: "third_party/mimalloc-2.1.2",
  3: "third_party/mimalloc-3.4.1",
};

/**
 * Sources `#include`d by `dll/mimalloc_unit.c` (one translation unit with
 * mimalloc, so its fast paths inline into the hooks): not compiled on
 * their own.
 */
const INCLUDED_SOURCES = new Set(["hooks.c"]);

/** The DLL's C files to compile, and all its `.c` and `.h` files. */
export function dllSources(root: string): { c: string[]; all: string[] } {
  const c: string[] = [];
  const all: string[] = [];
  for (const e of Deno.readDirSync(`${root}/dll`)) {
    if (!e.isFile) continue;
    const p = `${root}/dll/${e.name}`;
    if (e.name.endsWith(".c") && !INCLUDED_SOURCES.has(e.name)) c.push(p);
    if (/\.(c|h)$/.test(e.name)) all.push(p);
  }
  return { c: c.sort(), all: all.sort() };
}

/** The regular files under `dir`, recursively, sorted (none if absent). */
function filesUnder(dir: string): string[] {
  const found: string[] = [];
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(dir)];
  } catch {
    return found;
  }
  for (const e of entries) {
    const p = `${dir}/${e.name}`;
    if (e.isDirectory) found.push(...filesUnder(p));
    else if (e.isFile) found.push(p);
  }
  return found.sort();
}

/**
 * Every file a DLL build reads, whose contents decide whether it is up to
 * date: the DLL's sources and headers, the mimalloc tree `mi`'s `include/`
 * and `src/` (static.c includes the rest of src/), and the task code that
 * holds the flags (tasks/build_dll.ts, tasks/toolchain.ts), named under
 * `root` as the rest are (a module URL's path is no file path: it is
 * percent-encoded, and on Windows it is `/C:/…`, which the file functions
 * refuse).
 */
export function dllInputFiles(root: string, mi: string): string[] {
  return [
    ...dllSources(root).all,
    ...filesUnder(`${mi}/include`),
    ...filesUnder(`${mi}/src`),
    `${root}/tasks/build_dll.ts`,
    `${root}/tasks/toolchain.ts`,
  ];
}

async function sha256(bytes: Uint8Array): Promise<string> {
  const d = await crypto.subtle.digest("SHA-256", bytes as BufferSource);
  return [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, "0"))
    .join("");
}

/**
 * A digest of the contents of {@linkcode dllInputFiles}, each named
 * relative to `root` or to `mi`: the same for a checkout wherever it is.
 * Throws when a file cannot be read.
 */
export async function dllSourcesDigest(
  root: string,
  mi: string,
): Promise<string> {
  const parts: string[] = [];
  for (const f of dllInputFiles(root, mi)) {
    const name = f.startsWith(`${mi}/`)
      ? `mimalloc${f.slice(mi.length)}`
      : f.slice(root.length);
    parts.push(`${name}\0${await sha256(await Deno.readFile(f))}`);
  }
  return await sha256(new TextEncoder().encode(parts.join("\n")));
}
