/**
 * Builds the hook DLL from `dll/*.c` and mimalloc's source:
 * `build/heapshift.dll` (x64) and `build/heapshift32.dll` (x86, for 32-bit
 * programs), the same sources for both.
 *
 * Usage:
 *   deno task build-dll [--arch x64|x86|all] [--toolchain msvc|mingw]
 *                       [--mimalloc-version 2|3] [--mimalloc DIR]
 *                       [--msize exact|usable] [--out-dir DIR] [--force]
 *
 * - `--arch`: which DLL(s) to build; `all` (the default) builds both.
 * - `mingw` (the default off Windows, and on Windows without Visual
 *   Studio's C++ tools): x86_64-w64-mingw32ucrt-gcc (x64) or
 *   i686-w64-mingw32-gcc (x86) in the Wine environment (on Windows: on
 *   PATH), statically linked, custom entry point, no CRT start files.
 * - `msvc` (the default on Windows when the Visual Studio Installer's
 *   vswhere.exe finds an installation with the C++ tools): cl.exe from the x64 or x86 developer
 *   environment (the newest installation with the C++ tools, Build Tools
 *   included), `/std:c17 /O2 /MT`, `/ENTRY:heapshift_entry` (Visual
 *   Studio 2019 16.8 or later with a Windows SDK from 10.0.20348 on).
 * - `--mimalloc-version 2|3`: mimalloc v2.1.2 or v3.4.1, the copies in
 *   `third_party/` (third_party/README.md);
 *   default `$HEAPSHIFT_MIMALLOC_VERSION`, else {@linkcode MIMALLOC_DEFAULT}
 *   (so `HEAPSHIFT_MIMALLOC_VERSION=3 deno task test` tests the v3 build).
 * - `--mimalloc DIR` (or `$HEAPSHIFT_MIMALLOC`): a mimalloc source tree
 *   (include/ and src/static.c, v2.x or v3.x) instead; it must be of the
 *   major version `--mimalloc-version` names, if given.
 * - `--out-dir DIR`: where the DLLs go (default `build/`), e.g. the bench's
 *   other builds.
 * - `--msize`: what `_msize` reports for mimalloc blocks. `exact` (the
 *   default) is the size asked for, as UCRT's HeapSize, kept in mimalloc's
 *   8-byte padding (`MI_PADDING=1`); `usable` is the block's usable size,
 *   no padding (what mimalloc-redirect does). See dll/README.md.
 *
 * Each step is printed; the output paths are printed last, one a line. A
 * build is skipped, unless `--force`, when the DLL is the one a build
 * recorded (`.NAME.stamp` beside it) from the same inputs: the contents of
 * `dll/*.c|h`, of the mimalloc tree's `include/` and `src/`, and of this
 * task's code, the options, and the compiler's identity (the environment's
 * mingw-w64 package versions; MSVC's installation and tools version). Each
 * result is checked to be of its architecture and to import nothing but
 * system DLLs before it replaces the old one (a rename: a build that fails
 * or is killed leaves the previous DLL, never a part of one).
 *
 * @module
 */

import { checkOutputPath } from "../cli/output_path.ts";
import $ from "dax";
import { resolve } from "node:path";
import { ARCH_MACHINE } from "../src/arch.ts";
import { FileSource, imports as peImports, readHeaders } from "../pe/mod.ts";
import {
  type Arch,
  ARCHES,
  compile,
  CompileError,
  type FileFacts,
  fileFacts,
  inputsDigest,
  isCurrent,
  mingwIdentity,
  removeAbandoned,
  writeStamp,
} from "./toolchain.ts";
import { copyNotice } from "./notice.ts";
import { absoluteOptionPaths, userCwd } from "../src/_paths.ts";
import {
  parseTaskArgs,
  runTask,
  TaskArgsError,
  type TaskOptions,
} from "./task_args.ts";
import {
  dllSources,
  dllSourcesDigest,
  MIMALLOC_TREES,
  type MimallocVersion,
} from "../src/_dll_sources.ts";
import {
  envPath,
  exists,
  insideCheckout,
  isWindows,
  repoRoot,
} from "./winenv.ts";

/*
 * dax's log lines (colours, and cursor codes that clear its progress area)
 * on a terminal; plain lines into a pipe or a file, or with NO_COLOR, where
 * dax would write those codes too.
 */
const plainLog = () => Deno.noColor || !Deno.stderr.isTerminal();
const log = {
  step(title: string, text: string): void {
    if (plainLog()) console.error(`${title} ${text}`);
    else $.logStep(title, text);
  },
  light(text: string): void {
    if (plainLog()) console.error(text);
    else $.logLight(text);
  },
  error(title: string, text: string): void {
    if (plainLog()) console.error(`${title} ${text}`);
    else $.logError(title, text);
  },
};

/** Where each architecture's DLL goes, relative to the checkout. */
export const DLL_OUT: Readonly<Record<Arch, string>> = {
  x64: "build/heapshift.dll",
  x86: "build/heapshift32.dll",
};

/**
 * The DLL's entry point as the linker knows it: `heapshift_entry` is
 * `WINAPI` (`__stdcall`), which x86 decorates with its argument bytes.
 */
const ENTRY: Readonly<Record<Arch, string>> = {
  x64: "heapshift_entry",
  x86: "_heapshift_entry@12",
};

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
    // random seeds through RtlGenRandom, which dll/advapi.c provides
    // without importing advapi32, not bcrypt.dll: under Wine bcrypt brings
    // up gnutls, ~3 MB resident
    "MI_USE_RTLGENRANDOM=1",
  ];
}

/**
 * DLLs the result may import (lower case; api-ms-win-crt-* is the UCRT).
 * Not advapi32 (dll/advapi.c), nor bcrypt: each costs a program that does
 * not load it already about a megabyte under Wine.
 */
const SYSTEM_DLLS = /^(kernel32|ntdll|api-ms-win-[a-z0-9-]+)\.dll$/;

/** The version built when nothing else is asked for (dll/README.md: why). */
export const MIMALLOC_DEFAULT: MimallocVersion = 3;

export { MIMALLOC_TREES, type MimallocVersion };

/** `2` or `3`, or an error naming the choices. */
export function parseMimallocVersion(v: string | undefined): MimallocVersion {
  if (v === "2" || v === "3") return Number(v) as MimallocVersion;
  throw new Error(`the mimalloc version must be 2 or 3, not '${v}'`);
}

/**
 * The mimalloc source tree a build uses (host path): `options.mimalloc`,
 * else `$HEAPSHIFT_MIMALLOC`, else the checkout's copy of
 * `options.mimallocVersion` (else `$HEAPSHIFT_MIMALLOC_VERSION`, else the
 * default).
 */
export function mimallocSource(
  options: Pick<BuildDllOptions, "mimalloc" | "mimallocVersion"> = {},
): string {
  const dir = options.mimalloc ?? (Deno.env.get("HEAPSHIFT_MIMALLOC") || "");
  if (dir) return dir;
  const env = Deno.env.get("HEAPSHIFT_MIMALLOC_VERSION");
  const v = options.mimallocVersion ??
    (env ? parseMimallocVersion(env) : MIMALLOC_DEFAULT);
  return `${repoRoot()}/${MIMALLOC_TREES[v]}`;
}

/** Options of {@linkcode staticLayoutMismatch}. */
export interface StaticLayoutOptions {
  /** The block of `dll/mimalloc_unit.c` to compare: `hs-static` (v2, the
   * default) or `hs-static3` (v3.4). */
  block?: "hs-static" | "hs-static3";
}

/**
 * Why `dll/mimalloc_unit.c` cannot compile this mimalloc, or null.
 * For v2 and v3.4 it includes static.c's sources one by one (its
 * "hs-static" and "hs-static3" blocks, so that some of mimalloc's calls
 * reach heapshift first): they must be exactly the ones static.c lists, in
 * its order. `staticC` and `unit` are the two files' text.
 */
export function staticLayoutMismatch(
  staticC: string,
  unit: string,
  options: StaticLayoutOptions = {},
): string | null {
  const name = options.block ?? "hs-static";
  const includes = (text: string) =>
    [...text.matchAll(/^\s*#\s*include\s+"([^"]+)"/gm)].map((m) =>
      m[1].replace(/^src\//, "")
    );
  const block = new RegExp(`${name} begin[^\\n]*\\n([\\s\\S]*?)${name} end`)
    .exec(unit);
  if (!block) return `dll/mimalloc_unit.c has no ${name} block`;
  const want = includes(block[1]).join(", ");
  const have = includes(staticC).join(", ");
  return want === have ? null : `its src/static.c includes ${have}; ` +
    `dll/mimalloc_unit.c (${name}) includes ${want}`;
}

/** Options of {@linkcode buildDll}. */
export interface BuildDllOptions {
  /** The environment's mimalloc v2 or v3 (see {@linkcode mimallocSource}). */
  mimallocVersion?: MimallocVersion;
  /** Where the DLLs go (host path; default the checkout's `build/`). */
  outDir?: string;
  /** Which DLL(s): `x64`, `x86` or `all` (the default). */
  arch?: Arch | "all";
  toolchain?: "msvc" | "mingw";
  /** mimalloc source tree (host path). */
  mimalloc?: string;
  /** What `_msize` reports: `exact` (default) or `usable`. */
  msize?: MsizeMode;
  force?: boolean;
}

/**
 * A host path the mingw compiler inside the environment can read: `dir`
 * itself, or a copy in `scratch` (this build's own directory, inside the
 * checkout: builds from other trees may run at once).
 */
async function mimallocForEnv(
  dir: string,
  root: string,
  scratch: string,
): Promise<string> {
  const inEnv = envPath(dir);
  if (inEnv) return inEnv;
  if (dir.startsWith(`${root}/`)) return dir;
  const copy = `${scratch}/mimalloc-src`;
  log.step("Copying", `${dir} → ${copy}`);
  await $`cp -r ${dir} ${copy}`;
  return copy;
}

async function mimallocVersion(dir: string): Promise<string> {
  const h = await Deno.readTextFile(`${dir}/include/mimalloc.h`);
  return h.match(/#define\s+MI_MALLOC_VERSION\s+(\d+)/)?.[1] ?? "unknown";
}

/** What one DLL build needs. */
export interface Job {
  arch: Arch;
  root: string;
  mi: string;
  sources: string[];
  out: string;
  defs: string[];
  /** This build's own directory, inside the checkout off Windows. */
  scratch: string;
}

async function buildMingw(job: Job): Promise<void> {
  const { arch, root, mi, sources, out, defs, scratch } = job;
  const miEnv = isWindows ? mi : await mimallocForEnv(mi, root, scratch);
  const flags = [
    `-I${root}/dll`,
    `-I${miEnv}/include`,
    `-I${miEnv}/src`,
    `-I${miEnv}`, // mimalloc_unit.c names v2's sources as src/*.c
    ...defs.map((d) => `-D${d}`),
    "-fno-stack-protector",
    // x86: SSE2, which MSVC assumes too (/arch:SSE2 is its default) and
    // every CPU WOW64 runs on has: a counter's 8-byte store is one movq,
    // not x87 fild/fistp through the stack
    ...(arch === "x86" ? ["-msse2"] : []),
    "-Wno-unknown-pragmas", // mimalloc's MSVC #pragma comment(lib, …)
    "-Wno-array-bounds", // NtCurrentTeb() reads gs:[0x30] (x86: fs:[0x18])
    "-nostartfiles",
    `-Wl,-e,${ENTRY[arch]}`,
    "-Wl,--no-insert-timestamp",
    "-lkernel32",
  ];
  log.step(
    "Compiling",
    `${sources.length} sources with mingw-w64 (UCRT, ${arch})`,
  );
  await compile({ sources, out, kind: "dll", arch, flags });
}

/** The developer environment script of each architecture. */
const VCVARS: Readonly<Record<Arch, string>> = {
  x64: "vcvars64.bat",
  x86: "vcvars32.bat",
};

/**
 * vswhere's arguments: the newest installation of any product (Build Tools
 * too) with the x86/x64 C++ tools. Passed as an array so that dax, whose
 * shell expands globs, hands `*` to vswhere as it is (written into the
 * command text it became the names of the files in the current directory).
 */
export const VSWHERE_ARGS: readonly string[] = [
  "-latest",
  "-products",
  "*",
  "-requires",
  "Microsoft.VisualStudio.Component.VC.Tools.x86.x64",
  "-property",
  "installationPath",
  "-utf8",
];

/** The Visual Studio installation (its developer environment script). */
interface Msvc {
  vcvars: string;
  /** What identifies the compiler: installation and tools version. */
  identity: string;
}

/** No Visual Studio with the C++ tools (the message says what to do). */
export class MsvcNotFoundError extends Error {
  override name = "MsvcNotFoundError";
}

/** Where the Visual Studio Installer keeps vswhere.exe (any edition). */
function vswherePath(): string {
  const pf = Deno.env.get("ProgramFiles(x86)") ?? "C:\\Program Files (x86)";
  return `${pf}\\Microsoft Visual Studio\\Installer\\vswhere.exe`;
}

/**
 * The toolchain used when none is asked for: off Windows mingw; on
 * Windows MSVC when the Visual Studio Installer is there, else mingw.
 */
export function defaultToolchain(
  windows = isWindows,
  hasVswhere = () => exists(vswherePath()),
): "msvc" | "mingw" {
  return windows && hasVswhere() ? "msvc" : "mingw";
}

async function findMsvc(arch: Arch): Promise<Msvc> {
  const vswhere = vswherePath();
  if (!exists(vswhere)) {
    throw new MsvcNotFoundError(
      `vswhere.exe not found at ${vswhere}: install Visual Studio (Build Tools) with the C++ x64 tools, or use --toolchain mingw`,
    );
  }
  const install = (await $`${vswhere} ${VSWHERE_ARGS}`.text()).trim()
    .split(/\r?\n/)[0] ?? "";
  const vcvars = `${install}\\VC\\Auxiliary\\Build\\${VCVARS[arch]}`;
  if (!install || !exists(vcvars)) {
    throw new MsvcNotFoundError(
      `Visual Studio has no ${arch} C++ tools (${
        VCVARS[arch]
      }): add the 'MSVC x64/x86 build tools' component, or use --toolchain mingw`,
    );
  }
  // the MSVC version vcvars selects (VS 2017 and later)
  const tools = await Deno.readTextFile(
    `${install}\\VC\\Auxiliary\\Build\\Microsoft.VCToolsVersion.default.txt`,
  ).catch(() => "");
  return { vcvars, identity: `${install}\n${tools.trim()}` };
}

/**
 * The `cmd` script that builds one DLL with MSVC (the developer
 * environment, then cl, its objects in `objDir`, the build's own directory:
 * builds of other variants may run at once), and the environment it runs
 * with. The paths are in the environment, not in the script: cmd reads a
 * script in the console's OEM code page, so a path that is not ASCII (a
 * checkout under a user profile named Jürgen) written into it reaches cl
 * garbled, and a `%` in one would be taken for a variable's; a
 * variable's value is Unicode, and what it expands to is not expanded
 * again (but on the `call` line, as `call` expands twice: a `%` in the
 * Visual Studio installation's path, which is not to be expected).
 */
export function msvcScript(
  job: Job,
  vcvars: string,
  objDir: string,
): { script: string; env: Record<string, string> } {
  const { root, mi, sources, out, defs } = job;
  const win = (p: string) => p.replaceAll("/", "\\");
  const cl = [
    "cl",
    "/nologo",
    // C17: dll/heapshift_stats.h's _Static_assert needs /std:c11 or later
    // in cl's C mode (Microsoft's "_Static_assert keyword and static_assert
    // macro (C11)"; VS 2019 16.8+, Windows SDK 10.0.20348+); the default
    // C89/C99 hybrid rejects it
    "/std:c17",
    "/O2",
    "/MT",
    "/LD",
    "/W3",
    "/GS-",
    ...defs.map((d) => `/D${d}`),
    `/I"${win(`${root}/dll`)}"`,
    `/I"${win(`${mi}/include`)}"`,
    `/I"${win(`${mi}/src`)}"`,
    `/I"${win(mi)}"`,
    // the directory, ending in a backslash: doubled before the quote, or
    // the quote would be taken for a literal one
    `/Fo"${win(objDir)}\\\\"`,
    ...sources.map((s) => `"${win(s)}"`),
    `/Fe"${win(out)}"`,
    "/link",
    "/DLL",
    `/ENTRY:${ENTRY.x64}`, // link.exe finds x86's _heapshift_entry@12 itself
    "kernel32.lib",
  ].join(" ");
  const script = [
    "@echo off",
    // exit 1: the environment failed (buildMsvc says which), 2: cl did
    'call "%HEAPSHIFT_VCVARS%" >nul || exit /b 1',
    "%HEAPSHIFT_CL% || exit /b 2",
    "",
  ].join("\r\n");
  return { script, env: { HEAPSHIFT_VCVARS: vcvars, HEAPSHIFT_CL: cl } };
}

async function buildMsvc(job: Job, msvc: Msvc, objDir: string): Promise<void> {
  const { arch, sources, out } = job;
  log.light(`  ${msvc.vcvars}`);
  log.step(
    "Compiling",
    `${sources.length} sources with MSVC (${arch}, /std:c17 /O2 /MT)`,
  );
  const script = `${objDir}/build.cmd`.replaceAll("/", "\\");
  const { script: text, env } = msvcScript(job, msvc.vcvars, objDir);
  await Deno.writeTextFile(script, text);
  // cmd /s /c ""script"": cmd strips the outer pair and runs the quoted
  // path as it is, spaces and parentheses and all (`cmd /?`)
  const res = await new Deno.Command("cmd.exe", {
    args: ["/d", "/s", "/c", `""${script}""`],
    windowsRawArguments: true,
    env,
  }).spawn().status;
  if (!res.success) {
    throw new CompileError(
      out,
      res.code,
      "cl.exe",
      res.code === 1
        ? `the Visual Studio ${arch} developer environment (${msvc.vcvars}) failed: repair the installation or use --toolchain mingw`
        : `cl.exe could not build ${out} (exit ${res.code}): its messages are above`,
    );
  }
}

/**
 * {@linkcode defaultToolchain}, but mingw when Visual Studio has no C++
 * tools: its Installer comes with any Visual Studio (one for C# only),
 * and `deno task test`, `demo` and `compile` take no --toolchain.
 */
async function usableDefault(arch: Arch): Promise<"msvc" | "mingw"> {
  if (defaultToolchain() === "mingw") return "mingw";
  try {
    await findMsvc(arch);
    return "msvc";
  } catch (e) {
    if (!(e instanceof MsvcNotFoundError)) throw e;
    log.light(`  ${e.message.replace(/, or use .*$/, "")}: using mingw-w64`);
    return "mingw";
  }
}

/** The architectures `arch` names (`all`: both, x64 first). */
export function archesOf(arch: Arch | "all" = "all"): Arch[] {
  return arch === "all" ? [...ARCHES] : [arch];
}

/** Checks a built DLL: its machine, and no non-system imports. */
async function checkDll(out: string, arch: Arch): Promise<void> {
  log.step("Checking", `${out.slice(out.lastIndexOf("/") + 1)}`);
  let machine: number;
  {
    using src = FileSource.open(out);
    machine = readHeaders(src).machine;
  }
  const imports = (await peImports(out)).map((d) => d.dll);
  const bad = imports.filter((d) => !SYSTEM_DLLS.test(d.toLowerCase()));
  log.light(`  ${imports.join(", ")}`);
  const problem = machine !== ARCH_MACHINE[arch]
    ? `is not an ${arch} DLL (machine 0x${machine.toString(16)})`
    : bad.length > 0
    ? `would need non-system DLLs at run time: ${bad.join(", ")}`
    : "";
  if (problem) {
    await Deno.remove(out).catch(() => {});
    throw new Error(`${out} ${problem}`);
  }
}

/**
 * Builds the hook DLL for each architecture `options.arch` names (both by
 * default); returns their paths, x64 first.
 */
export async function buildDll(
  options: BuildDllOptions = {},
): Promise<string[]> {
  const root = repoRoot();
  const toolchain = options.toolchain ??
    await usableDefault(archesOf(options.arch)[0]);
  const mi = mimallocSource(options);
  if (!mi || !exists(`${mi}/src/static.c`)) {
    throw new Error(
      `No mimalloc source at '${mi}' (expected include/ and src/static.c): pass --mimalloc DIR or set HEAPSHIFT_MIMALLOC to a mimalloc tree (the checkout's are in third_party/)`,
    );
  }
  if (toolchain === "msvc" && !isWindows) {
    throw new Error(
      "--toolchain msvc needs Windows with Visual Studio; here use --toolchain mingw (the default)",
    );
  }
  const version = await mimallocVersion(mi);
  const major = Number(version) >= 300 ? 3 : 2;
  if (options.mimallocVersion && options.mimallocVersion !== major) {
    throw new Error(
      `mimalloc at ${mi} is version ${version}, not a v${options.mimallocVersion} (--mimalloc-version ${options.mimallocVersion}): drop --mimalloc / HEAPSHIFT_MIMALLOC or pass a v${options.mimallocVersion} tree`,
    );
  }
  // 3.4.x is compiled file by file too (dll/mimalloc_unit.c's #if); any
  // other v3 through its static.c
  const v34 = Number(version) >= 30400 && Number(version) < 30500;
  if (major === 2 || v34) {
    const mismatch = staticLayoutMismatch(
      await Deno.readTextFile(`${mi}/src/static.c`),
      await Deno.readTextFile(`${root}/dll/mimalloc_unit.c`),
      { block: v34 ? "hs-static3" : "hs-static" },
    );
    if (mismatch) {
      throw new Error(
        `mimalloc ${version} at ${mi} lays out its sources differently from the ${
          v34 ? "v3.4" : "v2.1"
        } that dll/mimalloc_unit.c compiles file by file: ${mismatch}`,
      );
    }
  }
  const outDir = options.outDir ? resolve(options.outDir) : `${root}/build`;
  await Deno.mkdir(outDir, { recursive: true });
  await copyNotice(outDir); // mimalloc's license ships with the DLL
  const { c } = dllSources(root);
  const msize = options.msize ?? "exact";
  // (file names relative to the checkout and the tree: moving either
  // alone does not make a build out of date)
  const sourcesDigest = await dllSourcesDigest(root, mi);
  const built: string[] = [];
  for (const arch of archesOf(options.arch)) {
    const name = DLL_OUT[arch].slice(DLL_OUT[arch].lastIndexOf("/") + 1);
    const out = `${outDir}/${name}`;
    log.step(
      "Building",
      `${name} (${arch}, ${toolchain}, mimalloc ${version} from ${mi}, _msize ${msize})`,
    );
    if (toolchain === "msvc") {
      log.step("Locating", "Visual Studio with vswhere");
    }
    const msvc = toolchain === "msvc" ? await findMsvc(arch) : null;
    const digest = async () =>
      await inputsDigest([], [
        sourcesDigest,
        toolchain,
        arch,
        version,
        msize,
        ...defines(msize),
        msvc ? msvc.identity : await mingwIdentity(arch),
      ]);
    if (!options.force && await isCurrent(out, await digest())) {
      log.light("  up to date");
      built.push(out);
      continue;
    }
    // Off Windows the compiler runs in the Wine environment's chroot,
    // which sees the checkout only: a DLL for elsewhere is built under
    // build/ and copied out.
    const outside = !isWindows && !insideCheckout(out, root);
    const stagingParent = outside ? `${root}/build` : outDir;
    await Deno.mkdir(stagingParent, { recursive: true });
    await removeAbandoned(stagingParent, ".out-dir-");
    // this build's own directory (builds can run at once), beside the
    // output when it can be: the result is renamed into place, whole
    const staging = await Deno.makeTempDir({
      dir: stagingParent,
      prefix: ".out-dir-",
    });
    // the inputs as this build read them (the compiler's identity after
    // a first provisioning, when it is known)
    let recorded = "";
    let facts;
    try {
      const made = `${staging}/${name}`;
      const job = {
        arch,
        root,
        mi,
        sources: c,
        out: made,
        defs: defines(msize),
        scratch: staging,
      };
      try {
        if (msvc) await buildMsvc(job, msvc, staging);
        else await buildMingw(job);
      } catch (e) {
        // named as the user knows it, not by this build's own directory
        if (!(e instanceof CompileError)) throw e;
        throw e.reworded(out, e.message.replaceAll(made, out));
      }
      await checkDll(made, arch);
      recorded = await digest();
      facts = await install(made, out);
    } finally {
      await Deno.remove(staging, { recursive: true }).catch(() => {});
    }
    // first what the DLL was built from, as before, for the tests
    // (tests/win/built_dll.ts reads the mimalloc version, line 3) and the
    // CLI (cli/dll.ts: a DLL built from other sources than the
    // checkout's is rebuilt with these options)
    await writeStamp(out, recorded, facts, [
      toolchain,
      mi,
      version,
      msize,
      `sources ${sourcesDigest}`,
    ]);
    log.step("Built", out);
    built.push(out);
  }
  return built;
}

/**
 * Puts the file `made` in place of `to` in one step: a rename, or, across
 * filesystems, a copy beside `to` renamed over it. On Windows a DLL that a
 * running program has loaded (heapshift pins itself: every program it was
 * injected into holds it) can be renamed but not replaced: it is moved
 * aside first (`.NAME.old-*`, removed by a later build once no program
 * holds it). Returns the facts of the file that landed at `to`.
 */
async function install(made: string, to: string): Promise<FileFacts> {
  const dir = to.slice(0, to.lastIndexOf("/"));
  const name = to.slice(to.lastIndexOf("/") + 1);
  if (isWindows) await removeOld(dir, name);
  const put = async (from: string) => {
    try {
      await Deno.rename(from, to);
    } catch (e) {
      if (!isWindows || !exists(to) || isCrossDevice(e)) throw e;
      const aside = `${dir}/.${name}.old-${crypto.randomUUID()}`;
      try {
        await Deno.rename(to, aside);
      } catch {
        throw new Error(
          `cannot replace ${to}: ${
            (e as Error).message
          } (a program that loaded it holds it; end it, or build with --out-dir elsewhere)`,
        );
      }
      await Deno.rename(from, to);
      await Deno.remove(aside).catch(() => {}); // fails while loaded
    }
  };
  // the facts of the file that lands at `to`, as it was before its rename
  // (another build may replace it right after)
  const facts = fileFacts(made);
  try {
    await put(made);
    return facts;
  } catch (e) {
    if (!(e instanceof Deno.errors.NotSupported) && !isCrossDevice(e)) {
      throw e;
    }
  }
  const tmp = `${dir}/.${name}.${crypto.randomUUID()}.tmp`;
  try {
    await Deno.copyFile(made, tmp);
    const copied = fileFacts(tmp);
    await put(tmp);
    return copied;
  } finally {
    await Deno.remove(tmp).catch(() => {});
  }
}

/**
 * Whether a rename failed for crossing filesystems (EXDEV, 18; Windows:
 * ERROR_NOT_SAME_DEVICE, 17).
 */
export function isCrossDevice(e: unknown): boolean {
  return e instanceof Error &&
    new RegExp(`cross-device|os error ${isWindows ? 17 : 18}\\b`, "i")
      .test(e.message);
}

/** Removes DLLs moved aside by earlier builds that no program holds now. */
async function removeOld(dir: string, name: string): Promise<void> {
  for (const e of Deno.readDirSync(dir)) {
    if (e.isFile && e.name.startsWith(`.${name}.old-`)) {
      await Deno.remove(`${dir}/${e.name}`).catch(() => {});
    }
  }
}

/** build-dll's options, for `node:util`'s `parseArgs`. */
const OPTIONS = {
  arch: { type: "string" },
  toolchain: { type: "string" },
  mimalloc: { type: "string" },
  "mimalloc-version": { type: "string" },
  "out-dir": { type: "string" },
  msize: { type: "string" },
  force: { type: "boolean" },
} as const satisfies TaskOptions;

/**
 * The options of `deno task build-dll ARGS`; relative paths are taken
 * from `cwd` (where the user was: `deno task` runs in the checkout's root
 * and says where it was in `INIT_CWD`). An argument it cannot build with
 * throws {@linkcode TaskArgsError} (the task exits 2, before any build).
 */
export function parseArgs(
  given: string[],
  cwd = userCwd(),
): BuildDllOptions {
  const args = absoluteOptionPaths(given, {
    names: ["--mimalloc", "--out-dir"],
    base: cwd,
  });
  const { values } = parseTaskArgs(args, { options: OPTIONS });
  const o: BuildDllOptions = {};
  const oneOf = <T extends string>(name: string, allowed: readonly T[]) => {
    const v = values[name as keyof typeof values] as string | undefined;
    if (v === undefined || allowed.includes(v as T)) return v as T | undefined;
    const list = `${allowed.slice(0, -1).join(", ")} or ${allowed.at(-1)}`;
    throw new TaskArgsError(`--${name} must be ${list}, not '${v}'`);
  };
  const arch = oneOf("arch", ["x64", "x86", "all"] as const);
  if (arch) o.arch = arch;
  const toolchain = oneOf("toolchain", ["msvc", "mingw"] as const);
  if (toolchain) o.toolchain = toolchain;
  const version = oneOf("mimalloc-version", ["2", "3"] as const);
  if (version) o.mimallocVersion = parseMimallocVersion(version);
  const msize = oneOf("msize", ["exact", "usable"] as const);
  if (msize) o.msize = msize;
  // no trailing separator: `/I"C:\mi\"` would quote the rest
  const dir = (p: string) => p.replace(/(?<=.)[\\/]+$/, "");
  if (values.mimalloc !== undefined) o.mimalloc = dir(values.mimalloc);
  if (values["out-dir"] !== undefined) {
    o.outDir = dir(values["out-dir"]);
    try {
      checkOutputPath(o.outDir, "--out-dir");
    } catch (e) {
      throw new TaskArgsError((e as Error).message);
    }
  }
  if (values.force) o.force = true;
  return o;
}

const USAGE =
  "usage: deno task build-dll [--arch x64|x86|all] [--toolchain msvc|mingw] [--mimalloc-version 2|3] [--mimalloc DIR] [--msize exact|usable] [--out-dir DIR] [--force]";

if (import.meta.main) {
  await runTask("build-dll", async (args) => {
    try {
      // The paths on stdout, for scripts (the steps went to stderr); not
      // from buildDll() itself, whose callers have stdouts of their own
      // (`deno task demo --json`).
      for (const out of await buildDll(parseArgs(args))) console.log(out);
      return 0;
    } catch (e) {
      if (e instanceof TaskArgsError) throw e; // runTask's: exit 2
      log.error("error:", (e as Error).message);
      return 1;
    }
  }, { usage: USAGE });
}
