/**
 * Builds the hook DLL, `build/heapshift.dll` (x64), from `dll/*.c` and
 * mimalloc's source.
 *
 * Usage:
 *   deno task build-dll [--toolchain msvc|mingw] [--mimalloc DIR]
 *                       [--msize exact|usable] [--force]
 *
 * - `mingw` (the default off Windows): x86_64-w64-mingw32ucrt-gcc in the Wine
 *   environment, statically linked, custom entry point, no CRT start files.
 * - `msvc` (the default on Windows when vswhere finds Visual Studio): cl.exe
 *   from the x64 developer environment, `/O2 /MT`, `/ENTRY:heapshift_entry`.
 * - `--mimalloc DIR`: a mimalloc source tree (include/ and src/static.c,
 *   v2.x or v3.x). Default: the Wine environment's copy (v2.1.2).
 * - `--msize`: what `_msize` reports for mimalloc blocks. `exact` (the
 *   default) is the size asked for, as UCRT's HeapSize, kept in mimalloc's
 *   8-byte padding (`MI_PADDING=1`); `usable` is the block's usable size,
 *   no padding (what mimalloc-redirect does). See dll/README.md.
 *
 * Each step is printed; the output path is printed last. The build is
 * skipped when the DLL is newer than every input (same toolchain and
 * mimalloc), unless `--force`. The result is checked to import nothing but
 * system DLLs.
 *
 * @module
 */

import $ from "dax";
import { imports as peImports } from "../pe/mod.ts";
import { compile, isStale } from "./toolchain.ts";
import { copyNotice } from "./notice.ts";
import {
  exists,
  isWindows,
  mimallocDir,
  repoRoot,
  rootfsDir,
} from "./winenv.ts";

/** Where the DLL goes, relative to the checkout. */
export const DLL_OUT = "build/heapshift.dll";

/** What `_msize` reports for mimalloc blocks (dll/README.md). */
export type MsizeMode = "exact" | "usable";

/** Flags every toolchain gets (as `-D`/`/D` defines). */
function defines(msize: MsizeMode): string[] {
  return [
    "NDEBUG", // mimalloc: MI_DEBUG=0
    // exact: every block records its requested size in mimalloc's padding
    msize === "exact" ? "MI_PADDING=1" : "MI_PADDING=0",
    // mimalloc >= 2.1.3: no process constructor / TLS callback of its own;
    // the entry point initialises it (ignored by 2.1.2).
    "MI_PRIM_HAS_PROCESS_ATTACH=1",
    // random seeds from advapi32's RtlGenRandom (imported anyway), not
    // bcrypt.dll: under Wine bcrypt brings up gnutls, ~3 MB resident
    "MI_USE_RTLGENRANDOM=1",
  ];
}

/** DLLs the result may import (lower case; api-ms-win-crt-* is the UCRT). */
const SYSTEM_DLLS =
  /^(kernel32|ntdll|advapi32|psapi|user32|api-ms-win-[a-z0-9-]+)\.dll$/;

/** Options of {@linkcode buildDll}. */
export interface BuildDllOptions {
  toolchain?: "msvc" | "mingw";
  /** mimalloc source tree (host path). */
  mimalloc?: string;
  /** What `_msize` reports: `exact` (default) or `usable`. */
  msize?: MsizeMode;
  force?: boolean;
}

/**
 * Sources `#include`d by `dll/mimalloc_unit.c` (one translation unit with
 * mimalloc, so its fast paths inline into the hooks): not compiled on
 * their own.
 */
const INCLUDED_SOURCES = new Set(["hooks.c", "migrate.c"]);

function dllSources(root: string): { c: string[]; all: string[] } {
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

/** A host path the mingw compiler inside the environment can read. */
async function mimallocForEnv(dir: string, root: string): Promise<string> {
  const rootfs = rootfsDir();
  if (dir.startsWith(`${rootfs}/`)) return dir.slice(rootfs.length);
  if (dir.startsWith(`${root}/`)) return dir;
  // Anywhere else: copy it into the checkout's build directory.
  const copy = `${root}/build/mimalloc-src`;
  $.logStep("Copying", `${dir} → ${copy}`);
  await Deno.remove(copy, { recursive: true }).catch(() => {});
  await $`cp -r ${dir} ${copy}`;
  return copy;
}

async function mimallocVersion(dir: string): Promise<string> {
  const h = await Deno.readTextFile(`${dir}/include/mimalloc.h`);
  return h.match(/#define\s+MI_MALLOC_VERSION\s+(\d+)/)?.[1] ?? "unknown";
}

async function buildMingw(
  root: string,
  mi: string,
  sources: string[],
  out: string,
  defs: string[],
): Promise<void> {
  const miEnv = isWindows ? mi : await mimallocForEnv(mi, root);
  const flags = [
    `-I${root}/dll`,
    `-I${miEnv}/include`,
    `-I${miEnv}/src`,
    ...defs.map((d) => `-D${d}`),
    "-fno-stack-protector",
    "-Wno-unknown-pragmas", // mimalloc's MSVC #pragma comment(lib, …)
    "-Wno-array-bounds", // NtCurrentTeb() reads gs:[0x30]
    "-nostartfiles",
    "-Wl,-e,heapshift_entry",
    "-Wl,--no-insert-timestamp",
    "-lpsapi",
    "-ladvapi32",
    "-lkernel32",
  ];
  $.logStep("Compiling", `${sources.length} sources with mingw-w64 (UCRT)`);
  await compile({ sources, out, kind: "dll", flags });
}

async function findVcvars(): Promise<string> {
  const pf = Deno.env.get("ProgramFiles(x86)") ?? "C:\\Program Files (x86)";
  const vswhere = `${pf}\\Microsoft Visual Studio\\Installer\\vswhere.exe`;
  if (!exists(vswhere)) {
    throw new Error(
      `vswhere.exe not found at ${vswhere}: install Visual Studio (Build Tools) with the C++ x64 tools, or use --toolchain mingw`,
    );
  }
  const install =
    (await $`${vswhere} -latest -products * -requires Microsoft.VisualStudio.Component.VC.Tools.x86.x64 -property installationPath`
      .text()).trim();
  const vcvars = `${install}\\VC\\Auxiliary\\Build\\vcvars64.bat`;
  if (!install || !exists(vcvars)) {
    throw new Error(
      "Visual Studio has no x64 C++ tools (vcvars64.bat): add the 'MSVC x64/x86 build tools' component, or use --toolchain mingw",
    );
  }
  return vcvars;
}

async function buildMsvc(
  root: string,
  mi: string,
  sources: string[],
  out: string,
  defs: string[],
): Promise<void> {
  $.logStep("Locating", "Visual Studio with vswhere");
  const vcvars = await findVcvars();
  $.logLight(`  ${vcvars}`);
  const win = (p: string) => p.replaceAll("/", "\\");
  const objDir = win(`${root}/build/obj-msvc`);
  await Deno.mkdir(objDir, { recursive: true });
  const cl = [
    "cl",
    "/nologo",
    "/O2",
    "/MT",
    "/LD",
    "/W3",
    "/GS-",
    ...defs.map((d) => `/D${d}`),
    `/I"${win(`${root}/dll`)}"`,
    `/I"${win(`${mi}/include`)}"`,
    `/I"${win(`${mi}/src`)}"`,
    `/Fo"${objDir}\\\\"`,
    ...sources.map((s) => `"${win(s)}"`),
    `/Fe"${win(out)}"`,
    "/link",
    "/DLL",
    "/ENTRY:heapshift_entry",
    "psapi.lib",
    "advapi32.lib",
    "kernel32.lib",
  ].join(" ");
  $.logStep("Compiling", `${sources.length} sources with MSVC (x64, /O2 /MT)`);
  const script = `${objDir}\\build.cmd`;
  await Deno.writeTextFile(
    script,
    `@echo off\r\ncall "${vcvars}" >nul || exit /b 1\r\n${cl}\r\n`,
  );
  const res = await new Deno.Command("cmd.exe", { args: ["/c", script] })
    .spawn().status;
  if (!res.success) throw new Error(`cl.exe failed (exit ${res.code})`);
}

/** Builds build/heapshift.dll; returns its path. */
export async function buildDll(options: BuildDllOptions = {}): Promise<string> {
  const root = repoRoot();
  const toolchain = options.toolchain ?? (isWindows ? "msvc" : "mingw");
  const mi = options.mimalloc ?? mimallocDir();
  if (!mi || !exists(`${mi}/src/static.c`)) {
    throw new Error(
      `No mimalloc source at '${mi}' (expected include/ and src/static.c): pass --mimalloc DIR or set HEAPSHIFT_MIMALLOC${
        isWindows ? "" : " or run `deno task env provision`"
      }`,
    );
  }
  if (toolchain === "msvc" && !isWindows) {
    throw new Error(
      "--toolchain msvc needs Windows with Visual Studio; here use --toolchain mingw (the default)",
    );
  }
  const out = `${root}/${DLL_OUT}`;
  await copyNotice(`${root}/build`); // mimalloc's license ships with the DLL
  const { c, all } = dllSources(root);
  const stampFile = `${root}/build/.heapshift-dll.stamp`;
  const msize = options.msize ?? "exact";
  const stamp = `${toolchain}\n${mi}\n${await mimallocVersion(
    mi,
  )}\n${msize}\n`;
  const oldStamp = await Deno.readTextFile(stampFile).catch(() => "");
  $.logStep(
    "Building",
    `heapshift.dll (${toolchain}, mimalloc ${await mimallocVersion(
      mi,
    )} from ${mi}, _msize ${msize})`,
  );
  if (
    !options.force && oldStamp === stamp &&
    !isStale(out, [...all, new URL(import.meta.url).pathname])
  ) {
    $.logLight("  up to date");
    console.log(out);
    return out;
  }
  await Deno.mkdir(`${root}/build`, { recursive: true });
  if (toolchain === "msvc") await buildMsvc(root, mi, c, out, defines(msize));
  else await buildMingw(root, mi, c, out, defines(msize));

  $.logStep("Checking", "imports");
  const imports = (await peImports(out)).map((d) => d.dll);
  const bad = imports.filter((d) => !SYSTEM_DLLS.test(d.toLowerCase()));
  $.logLight(`  ${imports.join(", ")}`);
  if (bad.length > 0) {
    await Deno.remove(out).catch(() => {});
    throw new Error(
      `heapshift.dll would need non-system DLLs at run time: ${bad.join(", ")}`,
    );
  }
  await Deno.writeTextFile(stampFile, stamp);
  $.logStep("Built", out);
  console.log(out);
  return out;
}

function parseArgs(args: string[]): BuildDllOptions {
  const o: BuildDllOptions = {};
  for (let i = 0; i < args.length; i++) {
    const [flag, inline] = args[i].split("=", 2);
    const value = () => inline ?? args[++i];
    switch (flag) {
      case "--toolchain": {
        const v = value();
        if (v !== "msvc" && v !== "mingw") {
          throw new Error(`--toolchain must be msvc or mingw, not '${v}'`);
        }
        o.toolchain = v;
        break;
      }
      case "--mimalloc":
        o.mimalloc = value()?.replace(/\/$/, "");
        break;
      case "--msize": {
        const v = value();
        if (v !== "exact" && v !== "usable") {
          throw new Error(`--msize must be exact or usable, not '${v}'`);
        }
        o.msize = v;
        break;
      }
      case "--force":
        o.force = true;
        break;
      case "-h":
      case "--help":
        console.log(
          "usage: deno task build-dll [--toolchain msvc|mingw] [--mimalloc DIR] [--msize exact|usable] [--force]",
        );
        Deno.exit(0);
        break;
      default:
        throw new Error(`unknown argument '${args[i]}'`);
    }
  }
  return o;
}

if (import.meta.main) {
  try {
    await buildDll(parseArgs(Deno.args));
  } catch (e) {
    $.logError("error:", (e as Error).message);
    Deno.exit(1);
  }
}
