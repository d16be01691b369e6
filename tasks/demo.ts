/**
 * `deno task demo`: the newcomer's first run. Builds the hook DLL (when the
 * checkout can) and the bundled sample program (demo/sample.c), then runs
 * the demo's Windows half (`cli.ts demo`): natively on Windows, with the
 * Windows Deno under Wine on Linux (provisioning the environment first,
 * with progress, if needed).
 *
 * Arguments are passed to `cli.ts demo` (`--before S`, `--after S`,
 * `--threads N`, `--json`).
 *
 * @module
 */

import { compile, isStale } from "./toolchain.ts";
import {
  isProvisioned,
  isWindows,
  provision,
  repoRoot,
  rootfsDir,
  runInEnv,
} from "./winenv.ts";

const root = repoRoot();
const SAMPLE_SRC = `${root}/demo/sample.c`;
const SAMPLE_EXE = `${root}/build/demo/sample.exe`;
const BUILD_DLL = `${root}/tasks/build_dll.ts`;
const DLL = `${root}/build/heapshift.dll`;

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Gives the Windows Deno of a Wine prefix the npm packages the CLI imports
 * (commander), copied from this Deno's cache: inside the environment the
 * Windows Deno may not be able to download them itself (a TLS-intercepting
 * proxy whose CA only the host trusts, or no network at all).
 */
export async function seedWindowsNpmCache(prefix: string): Promise<void> {
  const pfx = `${rootfsDir()}/root/wine-${prefix}`;
  if (!exists(pfx)) await runInEnv(["true"], { cwd: root, prefix });
  const cached = await new Deno.Command(Deno.execPath(), {
    args: ["cache", `${root}/cli.ts`],
    cwd: root,
    stdout: "null",
    stderr: "inherit",
  }).output();
  if (!cached.success) throw new Error("cannot cache cli.ts's dependencies");
  const info = JSON.parse(
    new TextDecoder().decode(
      (await new Deno.Command(Deno.execPath(), { args: ["info", "--json"] })
        .output()).stdout,
    ),
  );
  const from = `${info.npmCache}/registry.npmjs.org`;
  const to =
    `${pfx}/drive_c/users/root/AppData/Local/deno/npm/registry.npmjs.org`;
  // Only the packages of the lockfile (the project's own dependencies).
  const lock = JSON.parse(await Deno.readTextFile(`${root}/deno.lock`));
  for (const key of Object.keys(lock.npm ?? {})) {
    const id = key.split("_")[0];
    const at = id.lastIndexOf("@");
    const name = id.slice(0, at);
    const version = id.slice(at + 1);
    await Deno.mkdir(`${to}/${name}`, { recursive: true });
    for (const item of [version, "registry.json"]) {
      const src = `${from}/${name}/${item}`;
      const dst = `${to}/${name}/${item}`;
      if (exists(dst) || !exists(src)) continue;
      const { success } = await new Deno.Command("cp", {
        args: ["-r", src, dst],
      }).output();
      if (!success) throw new Error(`cannot copy ${src} to ${dst}`);
    }
  }
}

function step(msg: string): void {
  console.error(`[demo] ${msg}`);
}

/** Runs the whole demo (what `deno task demo` does); returns the exit code. */
export async function demoTask(args: string[]): Promise<number> {
  if (!isWindows && !isProvisioned()) {
    step("preparing the Wine environment (first run: a few minutes)…");
    await provision();
  }
  if (exists(BUILD_DLL)) {
    step(
      exists(DLL)
        ? "checking the hook DLL is up to date…"
        : "building the hook DLL…",
    );
    const { code } = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", BUILD_DLL],
      cwd: root,
      stdin: "null",
      stdout: "inherit",
      stderr: "inherit",
    }).spawn().status;
    if (code !== 0) {
      console.error(`error: building the hook DLL failed (exit ${code})`);
      return 1;
    }
  } else {
    step(
      "this checkout has no hook DLL build yet: the demo shows the UCRT half only",
    );
  }
  if (isStale(SAMPLE_EXE, [SAMPLE_SRC])) {
    step("building the sample program (demo/sample.c)…");
    await compile({ sources: [SAMPLE_SRC], out: SAMPLE_EXE, kind: "exe" });
  }
  const cli = ["run", "-A", `${root}/cli.ts`, "demo", ...args];
  if (isWindows) {
    const { code } = await new Deno.Command(Deno.execPath(), {
      args: cli,
      cwd: root,
      stdin: "inherit",
    }).spawn().status;
    return code;
  }
  const prefix = Deno.env.get("HEAPSHIFT_WINE_PREFIX") ?? "demo";
  await seedWindowsNpmCache(prefix);
  step("running the demo with the Windows Deno under Wine…");
  return await runInEnv(["windeno", ...cli], { cwd: root, prefix });
}

if (import.meta.main) {
  try {
    Deno.exit(await demoTask(Deno.args));
  } catch (e) {
    console.error(`error: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
