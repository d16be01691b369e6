/**
 * The real programs of `deno task bench` (the host half): fetches their
 * sources into the cache (verified by SHA-256), builds them with the
 * mingw-w64 UCRT compiler — as they are, with mimalloc linked in, and as a
 * copy with heapshift.dll first in the import table — and runs
 * bench/programs.ts on Windows (under Wine on Linux).
 *
 * - Lua 5.4.7: `lua5.4_5.4.7.orig.tar.gz` from Debian's source pool (its
 *   .dsc gives the hash); `lua.exe` is every file of src/ but luac.c.
 * - SQLite 3.44.2: `sqlite-autoconf-3440200.tar.gz` (the amalgamation and
 *   the shell, `shell.c`) inside the npm package `sqlite3@5.1.7`, fetched
 *   with `npm pack`; `sqlite3.exe` is sqlite3.c + shell.c.
 *
 * Nothing of theirs enters the checkout: the archives stay in
 * `<cache>/downloads`, the sources in `<cache>/rootfs/opt/heapshift/sources`
 * (where the environment's compiler sees them as /opt/heapshift/sources;
 * `<cache>/sources` on Windows), the builds in build/programs.
 *
 * @module
 */

import $ from "dax";
import { patchImportsBytes } from "../pe/mod.ts";
import { DLL_OUT, mimallocSource } from "./build_dll.ts";
import { programsOut } from "../bench/programs.ts";
import type { Arch } from "../src/arch.ts";
import { compile, isStale, removeAbandoned } from "./toolchain.ts";
import {
  cacheDir,
  envPath,
  exists,
  isWindows,
  repoRoot,
  rootfsDir,
  runHeapChecked,
  runInEnv,
} from "./winenv.ts";

/** An archive the programs are built from. */
interface Archive {
  /** File name in the download cache. */
  file: string;
  sha256: string;
  /** Fetches it to `dest`. */
  fetch(dest: string): Promise<void>;
}

const LUA_ARCHIVE: Archive = {
  file: "lua5.4_5.4.7.orig.tar.gz",
  sha256: "9fbf5e28ef86c69858f6d3d34eccc32e911c1a28b4120ff3e84aaa70cfbf1e30",
  async fetch(dest) {
    const url =
      "http://deb.debian.org/debian/pool/main/l/lua5.4/lua5.4_5.4.7.orig.tar.gz";
    const res = await fetch(url);
    if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
    await Deno.writeFile(dest, new Uint8Array(await res.arrayBuffer()));
  },
};

const SQLITE_PACKAGE: Archive = {
  file: "sqlite3-5.1.7.tgz",
  sha256: "44cc9bdee02705a7b636f76968d745e21c1d0b2f1c62810c678bc3b0ececab1b",
  async fetch(dest) {
    // npm names it as `file` does, in dest's directory
    const dir = dest.slice(0, dest.lastIndexOf("/"));
    await $`npm pack sqlite3@5.1.7 --pack-destination ${dir}`.quiet();
  },
};

/** The amalgamation's tarball inside the npm package. */
const SQLITE_INNER = {
  path: "package/deps/sqlite-autoconf-3440200.tar.gz",
  sha256: "1c6719a148bc41cf0f2bbbe3926d7ce3f5ca09d878f1246fcc20767b175bb407",
};

const LUA_DIR = "lua-5.4.7";
const SQLITE_DIR = "sqlite-autoconf-3440200";
const BENCH_DIR = "build/bench";

function log(msg: string): void {
  console.error(`[programs] ${msg}`);
}

async function sha256File(path: string): Promise<string> {
  const d = await crypto.subtle.digest("SHA-256", await Deno.readFile(path));
  return [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, "0"))
    .join("");
}

/** Host path of the sources, and where the compiler sees it. */
function sourcesDir(): { host: string; cc: string } {
  return isWindows
    ? { host: `${cacheDir()}/sources`, cc: `${cacheDir()}/sources` }
    : {
      host: `${rootfsDir()}/opt/heapshift/sources`,
      cc: "/opt/heapshift/sources",
    };
}

/**
 * The archive in the download cache, fetched if missing, hash checked; a
 * fetch that fails or a hash that does not match is a
 * {@linkcode ProgramSourcesError}.
 */
async function cached(a: Archive): Promise<string> {
  const dir = `${cacheDir()}/downloads`;
  const path = `${dir}/${a.file}`;
  if (exists(path)) {
    const hash = await sha256File(path);
    if (hash === a.sha256) return path;
    await Deno.remove(path); // damaged since: fetched again next time
    throw new ProgramSourcesError(
      `${a.file} has SHA-256 ${hash}, expected ${a.sha256}: removed, not used`,
    );
  }
  await Deno.mkdir(dir, { recursive: true });
  log(`fetching ${a.file}`);
  // Fetched into a directory of its own, put in place once checked: a
  // killed fetch, or another run's still under way, is never taken whole.
  await removeAbandoned(dir, PART);
  const part = await Deno.makeTempDir({ dir, prefix: PART });
  try {
    const got = `${part}/${a.file}`;
    try {
      await a.fetch(got);
    } catch (e) {
      throw new ProgramSourcesError((e as Error).message, { cause: e });
    }
    const hash = await sha256File(got);
    if (hash !== a.sha256) {
      throw new ProgramSourcesError(
        `${a.file} has SHA-256 ${hash}, expected ${a.sha256}: not used`,
      );
    }
    await Deno.rename(got, path).catch((e) => {
      // Another run put its copy there first (checked as this one was):
      // Windows refuses to replace it while that run's tar reads it.
      if (!exists(path)) throw e;
    });
  } finally {
    await Deno.remove(part, { recursive: true }).catch(() => {});
  }
  return path;
}

/** A source archive could not be fetched, or its hash did not match. */
export class ProgramSourcesError extends Error {
  override name = "ProgramSourcesError";
}

/**
 * Both source trees, extracted once. Only a fetch's failure is a
 * {@linkcode ProgramSourcesError} (the test task says to check the
 * network): a tree that cannot be written (a full disk) is itself.
 */
async function ensureSources(): Promise<void> {
  const src = sourcesDir().host;
  await Deno.mkdir(src, { recursive: true });
  await extractOnce(`${src}/${LUA_DIR}`, async (into) => {
    await untar(await cached(LUA_ARCHIVE), into);
  });
  await extractOnce(`${src}/${SQLITE_DIR}`, async (into) => {
    await untar(await cached(SQLITE_PACKAGE), into, [SQLITE_INNER.path]);
    const inner = `${into}/${SQLITE_INNER.path}`;
    if ((await sha256File(inner)) !== SQLITE_INNER.sha256) {
      throw new ProgramSourcesError(
        `${SQLITE_INNER.path}: unexpected SHA-256`,
      );
    }
    await untar(
      inner,
      into,
      ["sqlite3.c", "sqlite3.h", "sqlite3ext.h", "shell.c"].map((f) =>
        `${SQLITE_DIR}/${f}`
      ),
    );
  });
}

/**
 * Extracts `members` (default: all) of the gzipped tarball `archive` into
 * `into`. The archive comes on stdin, not as `-f PATH`: GNU tar (Git for
 * Windows' usr/bin/tar.exe, ahead of Windows' own bsdtar on Git Bash's
 * PATH) takes a `C:\…` archive name for a remote host's file, `host:file`.
 */
async function untar(
  archive: string,
  into: string,
  members: string[] = [],
): Promise<void> {
  await $`tar -xzf - -C ${into} ${members}`.stdin($.path(archive));
}

/** The prefix of a fetch's or an extraction's own directory (a killed
 * run's is removed a day later). */
const PART = ".programs-part-";

/** Written into a source tree once all of it is there. */
const COMPLETE = ".heapshift-complete";

/**
 * The source tree `tree`, made by `extract` (which puts it, under its
 * name, into the directory it is given) unless it is complete already.
 * Extracted beside it and moved into place whole: a killed extraction
 * (tar writes lua.c before most of Lua, shell.c before sqlite3.h) left a
 * tree that looked complete and failed every build after. A tree without
 * the mark (cut short, or an earlier version's) is replaced. Another run
 * extracting the same tree is waited for (a lock file beside it).
 */
export async function extractOnce(
  tree: string,
  extract: (into: string) => Promise<void>,
): Promise<void> {
  if (exists(`${tree}/${COMPLETE}`)) return;
  const parent = tree.slice(0, tree.lastIndexOf("/"));
  const name = tree.slice(tree.lastIndexOf("/") + 1);
  // One extraction at a time (checkouts share the trees): a second one,
  // finding none complete as the first was about to put its tree in
  // place, removed that tree while the first's build read it. (The lock
  // file stays: removing it would let a waiter and a newcomer hold two.)
  using lock = await Deno.open(`${parent}/.${name}.lock`, {
    create: true,
    write: true,
  });
  if (!(await lock.tryLock(true))) {
    log(`waiting for another run's extraction of ${name}…`);
    await lock.lock(true);
  }
  if (exists(`${tree}/${COMPLETE}`)) return; // that run's
  await removeAbandoned(parent, PART);
  const part = await Deno.makeTempDir({ dir: parent, prefix: PART });
  try {
    await extract(part);
    await Deno.writeTextFile(`${part}/${name}/${COMPLETE}`, "");
    await Deno.remove(tree, { recursive: true }).catch(() => {});
    await Deno.rename(`${part}/${name}`, tree).catch((e) => {
      // a checkout of before the lock may have put its tree there
      if (!exists(`${tree}/${COMPLETE}`)) throw e;
    });
  } finally {
    await Deno.remove(part, { recursive: true }).catch(() => {});
  }
}

/** A build: its sources (compiler paths) and extra flags. */
interface Build {
  exe: string;
  sources: string[];
  flags: string[];
}

function builds(mimalloc: { host: string; cc: string } | null): Build[] {
  const src = sourcesDir();
  const lua = [...Deno.readDirSync(`${src.host}/${LUA_DIR}/src`)]
    .map((e) => e.name)
    .filter((n) => n.endsWith(".c") && n !== "luac.c")
    .sort()
    .map((n) => `${src.cc}/${LUA_DIR}/src/${n}`);
  const sqlite = [
    `${src.cc}/${SQLITE_DIR}/sqlite3.c`,
    `${src.cc}/${SQLITE_DIR}/shell.c`,
  ];
  // (-w: their warnings are theirs, and would bury the test run's log)
  const sqliteFlags = ["-w", `-I${src.cc}/${SQLITE_DIR}`];
  const plain: Build[] = [
    { exe: "lua.exe", sources: lua, flags: ["-w"] },
    { exe: "sqlite3.exe", sources: sqlite, flags: sqliteFlags },
  ];
  if (!mimalloc) return plain;
  // As bench/workload.c's variant 4: the program's own malloc family
  // redirected to mimalloc at compile time, its TLS on a fast path.
  const root = repoRoot();
  const mi = [
    `${mimalloc.cc}/src/static.c`,
    `${root}/bench/fast_tls.c`,
    `${root}/bench/programs/mi_init.c`,
  ];
  const miFlags = [
    "-DNDEBUG",
    `-I${mimalloc.cc}/include`,
    "-include",
    `${root}/bench/mi_direct.h`,
    "-Wno-array-bounds",
    "-ladvapi32",
  ];
  return [
    ...plain,
    ...plain.map((b) => ({
      exe: b.exe.replace(/\.exe$/, "-mimalloc.exe"),
      sources: [...b.sources, ...mi],
      flags: [...b.flags, ...miFlags],
    })),
  ];
}

/**
 * Linked into the x86 builds (the tests run them; the bench does not): a
 * 64-bit Deno's spawn hands a 32-bit child 8-byte handles, which
 * Microsoft's 32-bit CRT misreads, and the child's stdout went nowhere
 * (the file says more; the fixtures link it too).
 */
const X86_STD_FDS = `${repoRoot()}/tests/fixtures/support/std_fds.c`;

/** Host path of a compiler path (sources live in the rootfs on Linux). */
function hostPath(cc: string): string {
  return !isWindows && cc.startsWith("/opt/heapshift/")
    ? `${rootfsDir()}${cc}`
    : cc;
}

/** The copy with heapshift.dll first in its import table (pe/), beside the
 * hook DLL of its architecture under that name. */
async function importTableCopy(exe: string, arch: Arch): Promise<void> {
  const root = repoRoot();
  const dir = `${root}/${programsOut(arch)}/start`;
  const dll = `${root}/${DLL_OUT[arch]}`;
  const name = exe.slice(exe.lastIndexOf("/") + 1);
  if (!exists(dll)) return;
  await Deno.mkdir(dir, { recursive: true });
  const res = patchImportsBytes(await Deno.readFile(exe), {
    dll: "heapshift.dll",
  });
  await Deno.writeFile(`${dir}/${name}`, res.bytes);
  await Deno.copyFile(dll, `${dir}/heapshift.dll`);
}

/** A mimalloc tree: its host path and the compiler's path to it. */
export interface MimallocTree {
  host: string;
  cc: string;
}

/**
 * The mimalloc tree at `host`, or null when there is none. The compiler
 * runs in the environment: it sees the rootfs's trees at their in-chroot
 * paths (any other tree: where it is).
 */
export function mimallocTreeAt(host: string): MimallocTree | null {
  host = host.replace(/\/+$/, "");
  if (!exists(`${host}/src/static.c`)) return null;
  return { host, cc: (!isWindows && envPath(host)) || host };
}

/**
 * Fetches, extracts and builds what is missing or stale; `mimalloc` is the
 * tree the "mimalloc linked" builds use (the hook DLL's).
 */
export async function buildPrograms(
  options: { mimalloc?: MimallocTree | null; arches?: Arch[] } = {},
): Promise<void> {
  await ensureSources();
  // by default the tree the hook DLL embeds (build-dll's choice)
  const mimalloc = options.mimalloc === undefined
    ? mimallocTreeAt(mimallocSource())
    : options.mimalloc;
  // one compiler per CPU: each build is one compiler run
  const jobs = (options.arches ?? ["x64"]).flatMap((arch) =>
    builds(arch === "x64" ? mimalloc : null).map((b) => ({
      b: arch === "x64" ? b : { ...b, sources: [...b.sources, X86_STD_FDS] },
      arch,
    }))
  );
  const workers = Math.max(1, Math.min(navigator.hardwareConcurrency, 4));
  await Promise.all(
    Array.from({ length: workers }, async () => {
      for (let job = jobs.shift(); job; job = jobs.shift()) {
        await buildOne(job.b, { arch: job.arch, mimalloc });
      }
    }),
  );
  for (const arch of options.arches ?? ["x64"]) {
    for (const exe of ["lua.exe", "sqlite3.exe"]) {
      await importTableCopy(`${repoRoot()}/${programsOut(arch)}/${exe}`, arch);
    }
  }
}

/** Builds `b` unless its output is up to date. */
async function buildOne(
  b: Build,
  options: { arch: Arch; mimalloc: MimallocTree | null },
): Promise<void> {
  const { arch, mimalloc } = options;
  const root = repoRoot();
  const out = `${root}/${programsOut(arch)}/${b.exe}`;
  const inputs = [
    ...b.sources.map(hostPath),
    ...(mimalloc && b.exe.includes("-mimalloc")
      ? [`${root}/bench/mi_direct.h`, `${mimalloc.host}/include/mimalloc.h`]
      : []),
  ].filter((f) => exists(f));
  // The stamp catches another mimalloc tree (older files, same names).
  const stamp = `${out}.src`;
  const recipe = [...b.sources, ...b.flags].join("\n");
  const same = await Deno.readTextFile(stamp).catch(() => "") === recipe;
  if (same && !isStale(out, inputs)) return;
  log(`building ${b.exe} (${arch})`);
  await compile({ sources: b.sources, out, flags: b.flags, arch });
  await Deno.writeTextFile(stamp, recipe);
}

/**
 * Builds the programs and runs bench/programs.ts: timed on Wine's ordinary
 * heap, then (under Wine) one untimed rep with Wine's heap reports on.
 * `args`: the bench's own options; `--reps N`, `--quick` and `--out DIR`
 * are used. Returns the exit code.
 */
export async function benchPrograms(
  args: string[],
  prefix: string,
  options: { mimalloc?: MimallocTree | null } = {},
): Promise<number> {
  try {
    await buildPrograms(options);
  } catch (e) {
    log(`error: cannot build the programs: ${(e as Error).message}`);
    return 1;
  }
  const pass: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const [flag, inline] = args[i].split(/=(.*)/s, 2);
    if (flag === "--reps" || flag === "--out") {
      pass.push(flag, inline ?? args[++i]);
    } else if (flag === "--quick") pass.push("--quick");
  }
  const run = ["run", "-A", "bench/programs.ts", ...pass];
  // (natively on Windows runInEnv runs this Deno, its output on ours)
  const code = await runInEnv(["windeno", ...run], { cwd: repoRoot(), prefix });
  if (isWindows) return code;
  const checked = await heapCheckedPass("bench/programs.ts", [], { prefix });
  return code || checked;
}

/**
 * Under Wine: one untimed rep of a Windows-side bench script
 * (bench/harness.ts, bench/programs.ts) with Wine's heap reports on, its
 * tables written to build/bench/checked instead of the console. A report
 * fails it: on Windows the program would have died there. The timed runs
 * go without them: the channel also makes every heap a checking debug heap
 * (fill patterns on free and alloc, tail checks, delayed frees), which
 * slowed the UCRT heap down up to 2.5× and which heapshift's trimmer
 * leaves alone.
 */
export async function heapCheckedPass(
  script: string,
  args: string[],
  options: { prefix: string },
): Promise<number> {
  console.error(
    `[bench] heap-checked pass of ${script}: one rep, Wine's heap reports on`,
  );
  const code = await runHeapChecked([
    "sh",
    "-c",
    `exec windeno run -A ${script} "$@" >/dev/null`,
    "sh",
    ...args,
    "--reps",
    "1",
    "--out",
    `${BENCH_DIR}/checked`,
  ], { cwd: repoRoot(), prefix: options.prefix });
  console.error(
    `[bench] heap-checked pass of ${script}: ${
      code === 0 ? "no reports" : "FAILED"
    }`,
  );
  return code;
}

if (import.meta.main) {
  const prefix = Deno.env.get("HEAPSHIFT_WINE_PREFIX") || "bench";
  Deno.exit(await benchPrograms(Deno.args, prefix));
}
