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
 * `--scale F`, `--threads N`, `--workloads a,b`, `--variants 1,2,3,4,5`,
 * `--budget SECONDS` (default 420: fewer reps run when a rep is slow),
 * `--quick` (2 reps at half scale), `--self-load`,
 * `--no-migrate-env NAME=VALUE`, `--dll PATH`, `--out DIR`.
 *
 * Timings are never asserted: a run fails only when a workload's own
 * checks fail, a process crashes, or the DLL's hooks are not live.
 *
 * @module
 */

import { benchPrograms, heapCheckedPass } from "./bench_programs.ts";
import { buildDll } from "./build_dll.ts";
import { compile, isStale } from "./toolchain.ts";
import {
  exists,
  IN_ENV,
  isWindows,
  mimallocDir,
  provision,
  repoRoot,
  runInEnv,
} from "./winenv.ts";

const OUT_DIR = "build/bench";
const PREFIX = "bench";

function log(msg: string): void {
  console.error(`[bench] ${msg}`);
}

/** Host and compiler-side paths of mimalloc's source, or null. */
function mimallocPaths(
  explicit: string | undefined,
): { host: string; cc: string } | null {
  const dir = explicit ?? Deno.env.get("HEAPSHIFT_MIMALLOC");
  if (dir) return exists(`${dir}/src/static.c`) ? { host: dir, cc: dir } : null;
  if (isWindows) return null;
  const host = mimallocDir();
  return exists(`${host}/src/static.c`) ? { host, cc: IN_ENV.mimalloc } : null;
}

/** Builds the two workload executables when stale. */
async function buildWorkloads(mimalloc: string | undefined): Promise<void> {
  const root = repoRoot();
  const src = `${root}/bench/workload.c`;
  const ucrt = `${root}/${OUT_DIR}/workload-ucrt.exe`;
  const common = ["-lpsapi"];
  if (isStale(ucrt, [src])) {
    log("building workload-ucrt.exe (plain UCRT heap)");
    await compile({ sources: [src], out: ucrt, flags: common });
  }
  const mi = mimallocPaths(mimalloc);
  const miExe = `${root}/${OUT_DIR}/workload-mimalloc.exe`;
  if (!mi) {
    log(
      "no mimalloc source (--mimalloc DIR or HEAPSHIFT_MIMALLOC): variant 4 is skipped",
    );
    await Deno.remove(miExe).catch(() => {});
    return;
  }
  const tls = `${root}/bench/fast_tls.c`;
  const inputs = [
    src,
    tls,
    `${root}/bench/mi_direct.h`,
    `${mi.host}/src/static.c`,
  ];
  if (isStale(miExe, inputs)) {
    log("building workload-mimalloc.exe (mimalloc linked in, ~20 s)");
    await compile({
      // fast_tls.c: mingw has no native TLS; without it every mi_malloc
      // pays libgcc's emulated TLS, which the hook DLL avoids (dll/tls.c)
      sources: [src, tls, `${mi.cc}/src/static.c`],
      out: miExe,
      flags: [
        "-DBENCH_MIMALLOC",
        "-DNDEBUG", // mimalloc's release mode (MI_DEBUG=0)
        `-I${mi.cc}/include`,
        `-I${root}/bench`,
        "-Wno-array-bounds", // mingw's NtCurrentTeb inlined into mimalloc
        ...common,
        "-ladvapi32",
      ],
    });
  }
}

/** Builds the hook DLL (incremental); false when it fails. */
async function buildHookDll(): Promise<boolean> {
  log("building the hook DLL (deno task build-dll)");
  try {
    await buildDll();
    return true;
  } catch (e) {
    log(
      `build-dll failed (${
        (e as Error).message
      }): variants 2, 3 and 5 use build/heapshift.dll only if an older build exists`,
    );
    return false;
  }
}

/**
 * Variant 2's program: a copy of workload-ucrt.exe whose import table lists
 * heapshift.dll first (pe/ `patchImportsBytes`, the minject method), next
 * to a copy of the DLL, so the loader maps the DLL before the CRT starts.
 * Removed (variant 2 then uses LoadLibrary at the top of `main`) when
 * there is no DLL or pe/ cannot patch.
 */
async function patchImportsCopy(): Promise<void> {
  const root = repoRoot();
  const dir = `${root}/${OUT_DIR}/imports`;
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  const dll = `${root}/build/heapshift.dll`;
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
    log(`variant 2: heapshift.dll ${res.action} first in the import table`);
  } catch (e) {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    log(
      `cannot patch the workload's imports (${
        (e as Error).message
      }): variant 2 loads the DLL with LoadLibrary in main`,
    );
  }
}

async function main(args: string[]): Promise<number> {
  const t0 = performance.now();
  let mimalloc: string | undefined;
  let dll = true;
  const pass: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "--no-build-dll") dll = false;
    else if (a === "--mimalloc") mimalloc = args[++i];
    else if (a.startsWith("--mimalloc=")) mimalloc = a.slice(11);
    else if (a === "--help" || a === "-h") {
      console.log(
        "usage: deno task bench [--no-build-dll] [--mimalloc DIR] [--reps N] [--scale F] [--threads N] [--workloads a,b] [--variants 1,2,3,4,5] [--budget S] [--quick] [--metric wall|cpu] [--start auto|import-table|loadlibrary] [--self-load] [--no-migrate-env NAME=VALUE] [--dll PATH] [--out DIR]",
      );
      return 0;
    } else pass.push(a);
  }
  if (!isWindows) await provision();
  try {
    await buildWorkloads(mimalloc);
  } catch (e) {
    log(`error: ${(e as Error).message}`);
    return 1;
  }
  if (dll) await buildHookDll();
  await patchImportsCopy();
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
  const programs = await benchPrograms(pass, prefix);
  if (code === 0) code = programs;
  log(
    `deno task bench: ${code === 0 ? "done" : `failed (exit ${code})`} in ${
      ((performance.now() - t0) / 1000).toFixed(0)
    } s`,
  );
  return code;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
