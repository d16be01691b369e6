/**
 * `deno task bench`: builds the allocation workloads (bench/workload.c, as
 * a plain UCRT program and with mimalloc linked in), builds the hook DLL,
 * then runs bench/harness.ts on Windows — natively, or with the Windows
 * Deno under Wine in the provisioned environment on Linux — which writes
 * `bench/results/bench.{md,json,svg}` and prints the markdown table. Under
 * Wine the timed runs use Wine's ordinary heap and a second, untimed pass
 * (one rep) runs with Wine's heap reports on.
 *
 * Usage:
 *   deno task bench [--no-build-dll] [--mimalloc DIR] [harness options…]
 *
 * Harness options (see bench/harness.ts): `--reps N` (default 11),
 * `--metric wall|cpu` (default wall), `--start auto|import-table|loadlibrary`,
 * `--scale F`, `--threads N`, `--thread-counts 1,4,16|none`,
 * `--workloads a,b`, `--variants 1,2,3,4,5`,
 * `--budget SECONDS` (default 900: fewer reps run when a rep is slow),
 * `--quick` (2 reps at half scale), `--self-load`,
 * `--no-migrate-env NAME=VALUE`, `--dll PATH`, `--out DIR`.
 *
 * Timings are never asserted: a run fails only when a workload's own
 * checks fail, a process crashes, or the DLL's hooks are not live.
 *
 * @module
 */

import {
  benchPrograms,
  heapCheckedPass,
  type MimallocTree,
  mimallocTreeAt,
} from "./bench_programs.ts";
import { buildDll, mimallocSource, type MimallocVersion } from "./build_dll.ts";
import { compile, isStale } from "./toolchain.ts";
import {
  type ProgramRun,
  programs as programNamesOf,
} from "../bench/programs.ts";
import type { BenchReport } from "../bench/report.ts";
import { readmeUpdate } from "./bench_readme.ts";
import { basename, resolve } from "node:path";
import { absoluteOptionPaths, userCwd } from "../src/_paths.ts";
import { parseArgs as parseHarnessArgs } from "../bench/harness.ts";
import {
  runTask,
  splitTaskArgs,
  TaskArgsError,
  type TaskOptions,
} from "./task_args.ts";
import {
  exists,
  insideCheckout,
  isWindows,
  provision,
  realPathOf,
  repoRoot,
  runInEnv,
} from "./winenv.ts";

const OUT_DIR = "build/bench";
/** Wine prefix of the bench's runs, unless HEAPSHIFT_WINE_PREFIX names one. */
const PREFIX = "bench";

function log(msg: string): void {
  console.error(`[bench] ${msg}`);
}

/** A mimalloc tree (host and compiler paths) and its major version. */
interface MiTree extends MimallocTree {
  major: MimallocVersion;
}

async function majorOf(dir: string): Promise<MimallocVersion> {
  const h = await Deno.readTextFile(`${dir}/include/mimalloc.h`);
  const v = Number(/#define\s+MI_MALLOC_VERSION\s+(\d+)/.exec(h)?.[1] ?? 0);
  return v >= 300 ? 3 : 2;
}

/**
 * The main mimalloc (what build-dll builds by default, or `--mimalloc DIR`
 * / HEAPSHIFT_MIMALLOC) and the other major version in third_party/
 * (variants 7–9).
 */
async function mimallocTrees(
  explicit: string | undefined,
): Promise<{ main: MiTree | null; other: MiTree | null }> {
  const tree = async (host: string) => {
    const t = mimallocTreeAt(host);
    return t ? { ...t, major: await majorOf(t.host) } : null;
  };
  const main = await tree(explicit ?? mimallocSource());
  if (!main) return { main, other: null };
  const v: MimallocVersion = main.major === 3 ? 2 : 3;
  // an explicit tree of the default's major keeps the checkout's other
  return { main, other: await tree(mimallocSource({ mimallocVersion: v })) };
}

/** Builds a program linked with mimalloc (variants 4 and 9) when stale. */
async function buildLinked(mi: MiTree | null, exe: string): Promise<void> {
  const root = repoRoot();
  if (!mi) {
    await Deno.remove(exe).catch(() => {});
    return;
  }
  const src = `${root}/bench/workload.c`;
  const tls = `${root}/bench/fast_tls.c`;
  const stamp = `${exe}.src`;
  const inputs = [
    src,
    tls,
    `${root}/bench/mi_direct.h`,
    `${mi.host}/src/static.c`,
  ];
  const same = await Deno.readTextFile(stamp).catch(() => "") === mi.host;
  if (same && !isStale(exe, inputs)) return;
  log(
    `building ${
      exe.slice(exe.lastIndexOf("/") + 1)
    } (mimalloc ${mi.major} linked in, ~20 s)`,
  );
  await compile({
    // fast_tls.c: mingw has no native TLS; without it every mi_malloc
    // pays libgcc's emulated TLS, which the hook DLL avoids (dll/tls.c)
    sources: [src, tls, `${mi.cc}/src/static.c`],
    out: exe,
    flags: [
      "-DBENCH_MIMALLOC",
      "-DNDEBUG", // mimalloc's release mode (MI_DEBUG=0)
      `-I${mi.cc}/include`,
      `-I${root}/bench`,
      "-Wno-array-bounds", // mingw's NtCurrentTeb inlined into mimalloc
      "-lpsapi",
      "-ladvapi32",
    ],
  });
  await Deno.writeTextFile(stamp, mi.host);
}

/** Builds the workload executables when stale. */
async function buildWorkloads(
  trees: { main: MiTree | null; other: MiTree | null },
): Promise<void> {
  const root = repoRoot();
  const src = `${root}/bench/workload.c`;
  const ucrt = `${root}/${OUT_DIR}/workload-ucrt.exe`;
  if (isStale(ucrt, [src])) {
    log("building workload-ucrt.exe (plain UCRT heap)");
    await compile({ sources: [src], out: ucrt, flags: ["-lpsapi"] });
  }
  const ucrt32 = `${root}/${OUT_DIR}/workload-ucrt32.exe`;
  if (isStale(ucrt32, [src])) {
    log("building workload-ucrt32.exe (x86, plain UCRT heap)");
    await compile({
      sources: [src],
      out: ucrt32,
      arch: "x86",
      flags: ["-lpsapi"],
    })
      .catch((e) =>
        log(
          `no x86 workload (${
            (e as Error).message
          }): variants 10-12 are skipped`,
        )
      );
  }
  if (!trees.main) {
    log(
      "no mimalloc source (--mimalloc DIR or HEAPSHIFT_MIMALLOC): variant 4 is skipped",
    );
  }
  await buildLinked(trees.main, `${root}/${OUT_DIR}/workload-mimalloc.exe`);
  await buildLinked(
    trees.other,
    `${root}/${OUT_DIR}/workload-mimalloc-other.exe`,
  );
}

/**
 * Builds the hook DLLs (incremental): the main one (build/heapshift.dll),
 * the same with `_msize` usable (variant 6) and with the other mimalloc
 * (variants 7, 8) under build/bench/. A failed build skips its variants.
 */
async function buildHookDlls(
  trees: { main: MiTree | null; other: MiTree | null },
  explicit: string | undefined,
): Promise<void> {
  const root = repoRoot();
  const builds = [
    { what: "the hook DLL (deno task build-dll)", o: { mimalloc: explicit } },
    {
      what: "the hook DLL with _msize usable",
      o: {
        arch: "x64" as const,
        mimalloc: explicit,
        msize: "usable" as const,
        outDir: `${root}/${OUT_DIR}/dll-usable`,
      },
    },
    ...(trees.other
      ? [{
        what: `the hook DLL with mimalloc ${trees.other.major}`,
        o: {
          arch: "x64" as const,
          mimalloc: trees.other.host,
          outDir: `${root}/${OUT_DIR}/dll-other`,
        },
      }]
      : []),
  ];
  for (const b of builds) {
    log(`building ${b.what}`);
    try {
      await buildDll(b.o);
    } catch (e) {
      log(
        `that build failed (${
          (e as Error).message
        }): its variants use an older build if one exists`,
      );
    }
  }
}

/**
 * Variant 2's program (and 6's, 7's): a copy of workload-ucrt.exe whose
 * import table lists heapshift.dll first (pe/ `patchImportsBytes`, the
 * minject method), next to a copy of the DLL, so the loader maps the DLL
 * before the CRT starts. Removed (the variant then uses LoadLibrary at the
 * top of `main`) when there is no DLL or pe/ cannot patch.
 */
async function patchImportsCopy(dll: string, dir: string): Promise<void> {
  const root = repoRoot();
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  if (!exists(dll)) return;
  try {
    // Computed specifier: pe/ is developed alongside; the bench only needs
    // this one function and must keep working if it moves.
    const pe = await import(new URL("../pe/mod.ts", import.meta.url).href);
    const patch = pe.patchImportsBytes as (
      b: Uint8Array,
      o?: { dll?: string },
    ) => { bytes: Uint8Array; action: string };
    const res = patch(
      await Deno.readFile(`${root}/${OUT_DIR}/workload-ucrt.exe`),
      { dll: "heapshift.dll" },
    );
    await Deno.mkdir(dir, { recursive: true });
    await Deno.writeFile(`${dir}/workload-ucrt.exe`, res.bytes);
    await Deno.copyFile(dll, `${dir}/heapshift.dll`);
    log(
      `${
        dir.slice(root.length + 1)
      }: heapshift.dll ${res.action} first in the import table`,
    );
  } catch (e) {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    log(
      `cannot patch the workload's imports (${
        (e as Error).message
      }): the at-start variants load the DLL with LoadLibrary in main`,
    );
  }
}

/**
 * Writes a complete run's reports into README.md between their markers:
 * the harness's (bench/results/bench.md) and the real programs'
 * (bench/results/programs.md); a partial one leaves its part alone.
 */
async function updateReadme(): Promise<void> {
  const root = repoRoot();
  const results = `${root}/bench/results`;
  const read = (file: string) =>
    Deno.readTextFile(`${results}/${file}`).catch(() => null);
  const readJson = async <T>(file: string): Promise<T | null> =>
    JSON.parse(await read(file) ?? "null");
  const readme = await Deno.readTextFile(`${root}/README.md`);
  const update = readmeUpdate(readme, {
    report: await readJson<BenchReport>("bench.json"),
    reportMd: await read("bench.md"),
    programs: await readJson<{ runs: ProgramRun[] }>("programs.json"),
    programsMd: await read("programs.md"),
    programNames: programNamesOf().map((p) => p.name),
  });
  for (const note of update.kept) log(note);
  if (update.updated === null) return;
  await Deno.writeTextFile(`${root}/README.md.tmp`, update.readme);
  await Deno.rename(`${root}/README.md.tmp`, `${root}/README.md`);
  // As `deno fmt` lays it out, so the checkout stays `deno fmt --check` clean.
  await new Deno.Command(Deno.execPath(), {
    args: ["fmt", "README.md"],
    cwd: root,
    stdout: "null",
    stderr: "null",
  }).output();
  log(update.updated);
}

/**
 * Under Wine the bench's Windows side sees the host only through the
 * checkout: a `--dll` outside it is copied in, and an `--out` outside it
 * is written inside (a directory of this run's own under build/bench) and
 * copied out by `finish`. Inside the checkout, and on Windows, the
 * arguments pass as given.
 */
export async function hostPathArgs(
  args: string[],
  root: string,
): Promise<{ args: string[]; finish: () => Promise<void> }> {
  const out = [...args];
  let staging: string | null = null;
  let outTo: string | null = null;
  const removeStaging = async () => {
    if (staging !== null) await Deno.remove(staging, { recursive: true });
    staging = null;
  };
  const stage = async () => {
    if (staging === null) {
      await Deno.mkdir(`${root}/${OUT_DIR}`, { recursive: true });
      staging = await Deno.makeTempDir({
        dir: `${root}/${OUT_DIR}`,
        prefix: ".args-",
      });
    }
    return staging;
  };
  const extra: string[] = [];
  for (let i = 0; i < out.length; i++) {
    const [flag, inline] = out[i].split(/=(.*)/s, 2);
    if (flag !== "--out" && flag !== "--dll") continue;
    const at = inline === undefined ? ++i : i;
    const given = inline ?? out[at];
    if (given === undefined) continue; // the harness says it needs a value
    if (given === "") {
      await removeStaging();
      throw new Error(`${flag} needs a path`);
    }
    // The Windows side runs in the checkout: a relative path is this
    // directory's, not the checkout's.
    const abs = resolve(given);
    const inside = flag === "--out" ? `${abs}/bench.json` : abs;
    if (isWindows || insideCheckout(inside, root)) {
      // as the environment sees it: the checkout at its real path
      const real = isWindows ? abs : realPathOf(abs);
      out[at] = inline === undefined ? real : `${flag}=${real}`;
      continue;
    }
    let mapped: string;
    if (flag === "--out") {
      outTo = abs;
      mapped = `${await stage()}/out`;
    } else {
      mapped = `${await stage()}/${basename(abs)}`;
      await Deno.copyFile(abs, mapped).catch(async (e) => {
        await removeStaging();
        throw new Error(`Cannot read --dll ${given}: ${(e as Error).message}`);
      });
      // the copy is gone after the run: the results name the original
      extra.push(`--dll-as=${abs}`);
    }
    out[at] = inline === undefined ? mapped : `${flag}=${mapped}`;
  }
  return {
    args: [...out, ...extra],
    finish: async () => {
      if (staging === null) return;
      if (outTo !== null && exists(`${staging}/out`)) {
        try {
          await Deno.mkdir(outTo, { recursive: true });
          for await (const e of Deno.readDir(`${staging}/out`)) {
            if (e.isFile) {
              await Deno.copyFile(
                `${staging}/out/${e.name}`,
                `${outTo}/${e.name}`,
              );
            }
          }
        } catch (e) {
          // the results stay where they are, and the message says where
          throw new Error(
            `Cannot copy the results to ${outTo}: ${
              (e as Error).message
            }; they are in ${staging}/out`,
          );
        }
      }
      await removeStaging();
    },
  };
}

/**
 * `args` with the paths of `--out`, `--dll` and `--mimalloc` made absolute
 * against `cwd`, where the user started the bench (`deno task` runs it from
 * the checkout's root).
 */
export function benchArgs(args: string[], cwd: string): string[] {
  return absoluteOptionPaths(args, {
    names: ["--out", "--dll", "--mimalloc"],
    base: cwd,
  });
}

const USAGE =
  "usage: deno task bench [--no-build-dll] [--no-readme] [--mimalloc DIR] [--reps N] [--scale F] [--threads N] [--thread-counts 1,4,16|none] [--workloads a,b] [--variants 1,2,3,4,5] [--budget S] [--quick] [--metric wall|cpu] [--start auto|import-table|loadlibrary] [--self-load] [--no-migrate-env NAME=VALUE] [--dll PATH] [--out DIR]";

/** The task's own options; the rest are the harness's. */
const OPTIONS = {
  "no-build-dll": { type: "boolean" },
  "no-readme": { type: "boolean" },
  mimalloc: { type: "string" },
} as const satisfies TaskOptions;

async function main(raw: string[]): Promise<number> {
  const args = benchArgs(raw, userCwd());
  const t0 = performance.now();
  const own = splitTaskArgs(args, { options: OPTIONS });
  const pass = own.rest;
  try {
    // The harness's own: refused now, not after the provisioning and the
    // builds
    parseHarnessArgs(pass);
  } catch (e) {
    throw new TaskArgsError((e as Error).message);
  }
  const mimalloc = own.values.mimalloc;
  const dll = !own.values["no-build-dll"];
  const readme = !own.values["no-readme"];
  let given;
  try {
    given = await hostPathArgs(pass, repoRoot());
  } catch (e) {
    log(`error: ${(e as Error).message}`);
    return 1;
  }
  let code = 1;
  try {
    code = await run(given.args, { mimalloc, dll, readme, t0 });
  } finally {
    await given.finish().catch((e) => {
      log(`error: ${(e as Error).message}`);
      code = 1;
    });
  }
  return code;
}

async function run(
  pass: string[],
  options: {
    mimalloc: string | undefined;
    dll: boolean;
    readme: boolean;
    t0: number;
  },
): Promise<number> {
  const { mimalloc, dll, t0 } = options;
  let { readme } = options;
  // The README quotes bench/results/: results written elsewhere stay there.
  if (pass.some((a) => a === "--out" || a.startsWith("--out="))) readme = false;
  if (!isWindows) await provision();
  const trees = await mimallocTrees(mimalloc);
  try {
    await buildWorkloads(trees);
  } catch (e) {
    log(`error: ${(e as Error).message}`);
    return 1;
  }
  if (dll) await buildHookDlls(trees, mimalloc);
  const root = repoRoot();
  for (
    const [from, to] of [
      ["build/heapshift.dll", "imports"],
      [`${OUT_DIR}/dll-usable/heapshift.dll`, "imports-usable"],
      [`${OUT_DIR}/dll-other/heapshift.dll`, "imports-other"],
    ]
  ) {
    await patchImportsCopy(`${root}/${from}`, `${root}/${OUT_DIR}/${to}`);
  }
  log(
    `built in ${((performance.now() - t0) / 1000).toFixed(0)} s; running ${
      isWindows ? "natively" : "under Wine"
    }`,
  );
  const harness = ["run", "-A", "bench/harness.ts", ...pass];
  const prefix = Deno.env.get("HEAPSHIFT_WINE_PREFIX") || PREFIX;
  let code: number;
  if (isWindows) {
    code = (await new Deno.Command(Deno.execPath(), {
      args: harness,
      cwd: repoRoot(),
      stdout: "inherit",
      stderr: "inherit",
    }).output()).code;
  } else {
    // Timed on Wine's ordinary heap, the reports in a pass of their own
    // (heapCheckedPass says why).
    code = await runInEnv(["windeno", ...harness], {
      cwd: repoRoot(),
      prefix,
    });
    const checked = await heapCheckedPass("bench/harness.ts", pass, {
      prefix,
    });
    if (code === 0) code = checked;
  }
  const programs = await benchPrograms(pass, prefix, {
    mimalloc: trees.main,
  });
  if (code === 0) code = programs;
  if (code === 0 && readme) await updateReadme();
  log(
    `deno task bench: ${code === 0 ? "done" : `failed (exit ${code})`} in ${
      ((performance.now() - t0) / 1000).toFixed(0)
    } s`,
  );
  return code;
}

if (import.meta.main) await runTask("bench", main, { usage: USAGE });
