/**
 * Benchmark (not a test) of pe/ on a large real executable, the Windows
 * `deno.exe` (about 97 MB): listing its imports and patching a copy, beside
 * copying the file and `objdump -p` on the same file. Prints a markdown
 * table.
 *
 * Usage:
 *   deno task bench-pe [--runs N] [--json] [FILE]
 *
 * FILE defaults to $HEAPSHIFT_DENO_EXE, then the Wine environment's
 * `opt/heapshift/deno.exe`. objdump is the first of
 * `x86_64-w64-mingw32-objdump` / `x86_64-w64-mingw32ucrt-objdump` on PATH,
 * else the Wine environment's (run through chroot, as root);
 * its row is left out when there is none.
 *
 * @module
 */

import { imports, patchImports, patchImportsBytes } from "../pe/mod.ts";
import { parseTaskArgs, runTask, TaskArgsError } from "../tasks/task_args.ts";

/** One benchmark row: a task and its timings in milliseconds. */
export interface PeBenchRow {
  /** What was timed. */
  task: string;
  /** Median wall time in ms. */
  median: number;
  /** Fastest run in ms. */
  min: number;
  /** Number of runs. */
  runs: number;
}

/** Options for {@linkcode benchPe}. */
export interface PeBenchOptions {
  /** Runs per task (default 5). */
  runs?: number;
  /** objdump to compare with; `null` to skip it. */
  objdump?: string | null;
}

function rootfs(): string {
  const xdg = Deno.env.get("XDG_CACHE_HOME");
  const home = Deno.env.get("HOME") ?? "/root";
  return `${xdg || `${home}/.cache`}/heapshift/rootfs`;
}

function defaultExe(): string {
  return Deno.env.get("HEAPSHIFT_DENO_EXE") ??
    `${rootfs()}/opt/heapshift/deno.exe`;
}

/** How to run objdump: a command line, and the root it sees files under. */
interface Objdump {
  cmd: string[];
  root: string;
}

// On PATH, or else the Wine environment's, through chroot (as root).
function findObjdump(path: string | null | undefined): Objdump | null {
  if (path === null) return null;
  if (path !== undefined) return { cmd: [path], root: "" };
  const host = hostObjdump();
  if (host) return { cmd: [host], root: "" };
  const inRoot = "/usr/bin/x86_64-w64-mingw32ucrt-objdump";
  try {
    if (Deno.uid() === 0 && Deno.statSync(rootfs() + inRoot).isFile) {
      return { cmd: ["chroot", rootfs(), inRoot], root: rootfs() };
    }
  } catch { /* no environment */ }
  return null;
}

function hostObjdump(): string | null {
  for (
    const name of [
      "x86_64-w64-mingw32-objdump",
      "x86_64-w64-mingw32ucrt-objdump",
    ]
  ) {
    for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
      try {
        if (Deno.statSync(`${dir}/${name}`).isFile) return `${dir}/${name}`;
      } catch { /* not here */ }
    }
  }
  return null;
}

async function time(
  task: string,
  runs: number,
  fn: () => Promise<unknown>,
  options: { before?: () => Promise<void> } = {},
): Promise<PeBenchRow> {
  await options.before?.();
  await fn(); // warm up: page cache, JIT
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    await options.before?.(); // untimed
    const t = performance.now();
    await fn();
    ms.push(performance.now() - t);
  }
  ms.sort((a, b) => a - b);
  const mid = ms.length >> 1;
  // an even count: the mean of the middle two
  const median = ms.length % 2 ? ms[mid] : (ms[mid - 1] + ms[mid]) / 2;
  return { task, median, min: ms[0], runs };
}

/**
 * `patch` as a timed task that fails the bench unless every run added the
 * import (a patch that did nothing would be timed as one that wrote).
 */
function added<T extends { action: string }>(
  patch: () => T | Promise<T>,
): () => Promise<T> {
  return async () => {
    const r = await patch();
    if (r.action !== "added") {
      throw new Error(`a timed patch did not add the import: ${r.action}`);
    }
    return r;
  };
}

/** Times pe/ and objdump on `exe`; returns one row per task. */
export async function benchPe(
  exe: string,
  options: PeBenchOptions = {},
): Promise<PeBenchRow[]> {
  const runs = options.runs ?? 5;
  const objdump = findObjdump(options.objdump);
  // Inside the chroot's /tmp when objdump runs there (same file system).
  const dir = await Deno.makeTempDir({
    prefix: "heapshift-pe-bench-",
    dir: objdump?.root ? `${objdump.root}/tmp` : undefined,
  });
  const rows: PeBenchRow[] = [];
  try {
    const copy = `${dir}/target.exe`;
    await Deno.copyFile(exe, copy);
    rows.push(
      await time(
        "pe/ `imports()` (names only)",
        runs,
        () => imports(copy, { symbols: false }),
      ),
    );
    rows.push(
      await time("pe/ `imports()` (with functions)", runs, () => imports(copy)),
    );
    // The yardstick for writing a patched copy: copying the file. Both
    // write a file that does not exist yet.
    const out = `${dir}/out.exe`;
    const fresh = { before: () => Deno.remove(out).catch(() => {}) };
    rows.push(
      await time(
        "copy the file (`Deno.copyFile`)",
        runs,
        () => Deno.copyFile(copy, out),
        fresh,
      ),
    );
    rows.push(
      await time(
        "pe/ `patchImports()` to a new file",
        runs,
        added(() => patchImports(copy, { output: out })),
        fresh,
      ),
    );
    // In place: a backup is written and both files are flushed to disk
    // before the original is replaced.
    const target = `${dir}/inplace.exe`;
    rows.push(
      await time(
        "pe/ `patchImports()` in place (with its backup)",
        runs,
        added(() => patchImports(target, { inPlace: true })),
        {
          before: async () => {
            await Deno.remove(`${target}.bak`).catch(() => {});
            await Deno.copyFile(copy, target);
          },
        },
      ),
    );
    const bytes = await Deno.readFile(copy);
    rows.push(
      await time(
        "pe/ `patchImportsBytes()` in memory",
        runs,
        added(() => patchImportsBytes(bytes)),
      ),
    );
    if (objdump) {
      rows.push(
        await time("`objdump -p` (headers and imports)", runs, async () => {
          const [cmd, ...pre] = objdump.cmd;
          const r = await new Deno.Command(cmd, {
            args: [...pre, "-p", copy.slice(objdump.root.length)],
            stdout: "null",
            stderr: "null",
          }).output();
          if (!r.success) throw new Error(`objdump failed on ${copy}`);
        }),
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  return rows;
}

/**
 * The crafted files of pe/hostile_test.ts (issue: each must end in a clean
 * error within a second): how long patching each takes to refuse it.
 */
export async function benchCrafted(runs: number): Promise<PeBenchRow[]> {
  const { amplifiers, manySections } = await import("../pe/_test_crafted.ts");
  const { PeFormatError } = await import("../pe/errors.ts");
  const rows: PeBenchRow[] = [];
  const refuse = (bytes: Uint8Array) => () => {
    try {
      patchImportsBytes(bytes);
    } catch (e) {
      if (e instanceof PeFormatError) return Promise.resolve();
      throw e;
    }
    return Promise.reject(new Error("a crafted file was patched"));
  };
  for (const shape of amplifiers()) {
    rows.push(await time(`refuse: ${shape.label}`, runs, refuse(shape.bytes)));
  }
  const many = manySections();
  rows.push(
    await time(
      "patch a file of 60,001 sections",
      runs,
      added(() => patchImportsBytes(many)),
    ),
  );
  return rows;
}

/** Renders rows as a markdown table, titled with the file's name and size. */
export function markdown(
  rows: PeBenchRow[],
  file: { exe: string; size: number },
): string {
  const { exe, size } = file;
  const runs = rows[0]?.runs ?? 0;
  const lines = [
    `PE import tooling on \`${exe.split(/[\\/]/).pop()}\` (${
      (size / 2 ** 20).toFixed(1)
    } MiB), ${runs} ${runs === 1 ? "run" : "runs"} after a warm-up:`,
    "",
    "| task | median (ms) | min (ms) |",
    "| --- | ---: | ---: |",
    ...rows.map((r) =>
      `| ${r.task} | ${r.median.toFixed(1)} | ${r.min.toFixed(1)} |`
    ),
  ];
  return lines.join("\n");
}

const USAGE = `usage: deno task bench-pe [--runs N] [--json] [FILE]
  times pe/ listing and patching the imports of FILE (default
  $HEAPSHIFT_DENO_EXE, else the Wine environment's deno.exe) beside copying
  it and objdump -p; N runs after a warm-up (default 5), as a markdown
  table (--json: as JSON)`;

/** The bench's options from `args`; a {@linkcode TaskArgsError} if bad. */
function benchPeArgs(
  args: string[],
): { runs: number; json: boolean; exe?: string } {
  const { values, positionals } = parseTaskArgs(args, {
    options: { runs: { type: "string" }, json: { type: "boolean" } },
    positionals: true,
  });
  const runs = Number(values.runs ?? 5);
  if (!Number.isInteger(runs) || runs < 1) {
    throw new TaskArgsError(
      `--runs must be a whole number of at least 1, not '${values.runs}'`,
    );
  }
  if (positionals.length > 1) {
    throw new TaskArgsError(
      `one FILE at most, not ${positionals.join(" and ")}`,
    );
  }
  return { runs, json: values.json ?? false, exe: positionals[0] };
}

async function main(args: string[]): Promise<number> {
  const { runs, json, exe: given } = benchPeArgs(args);
  const exe = given ?? defaultExe();
  let size: number;
  try {
    size = (await Deno.stat(exe)).size;
  } catch {
    console.error(
      `pe_bench: ${exe} not found (pass a PE file or set HEAPSHIFT_DENO_EXE)`,
    );
    return 2;
  }
  const rows = await benchPe(exe, { runs });
  const crafted = await benchCrafted(runs);
  console.log(
    json
      ? JSON.stringify({ exe, size, rows, crafted }, null, 2)
      : `${
        markdown(rows, { exe, size })
      }\n\nCrafted files (pe/hostile_test.ts), patched from memory:\n\n| task | median (ms) | min (ms) |\n| --- | ---: | ---: |\n${
        crafted.map((r) =>
          `| ${r.task} | ${r.median.toFixed(1)} | ${r.min.toFixed(1)} |`
        ).join("\n")
      }`,
  );
  return 0;
}

if (import.meta.main) await runTask("bench-pe", main, { usage: USAGE });
