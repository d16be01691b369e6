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

import { buildDll } from "./build_dll.ts";
import { compile, isStale } from "./toolchain.ts";
import {
  exists,
  isProvisioned,
  isWindows,
  provision,
  repoRoot,
  runHeapChecked,
} from "./winenv.ts";

const root = repoRoot();
const SAMPLE_SRC = `${root}/demo/sample.c`;
const SAMPLE_EXE = `${root}/build/demo/sample.exe`;
const DLL = `${root}/build/heapshift.dll`;

function step(msg: string): void {
  console.error(`[demo] ${msg}`);
}

/** Runs the whole demo (what `deno task demo` does); returns the exit code. */
export async function demoTask(args: string[]): Promise<number> {
  if (!isWindows && !isProvisioned()) {
    step("preparing the Wine environment (first run: a few minutes)…");
    await provision();
  }
  step(
    exists(DLL)
      ? "checking the hook DLL is up to date…"
      : "building the hook DLL…",
  );
  try {
    await buildDll();
  } catch (e) {
    console.error(
      `error: building the hook DLL failed: ${(e as Error).message}`,
    );
    return 1;
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
  step("running the demo with the Windows Deno under Wine…");
  return await runHeapChecked(["windeno", ...cli], { cwd: root, prefix });
}

if (import.meta.main) {
  try {
    Deno.exit(await demoTask(Deno.args));
  } catch (e) {
    console.error(`error: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
