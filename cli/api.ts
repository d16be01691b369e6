/**
 * The parts of mod.ts the CLI uses, plus the ones still landing (launch,
 * stats), looked up at run time so the CLI works with whatever the
 * checkout's mod.ts provides and says clearly what is missing.
 *
 * @module
 */

import * as mod from "../mod.ts";
import { CliError } from "./output.ts";

export {
  eject,
  findProcesses,
  HeapshiftError,
  inject,
  type ModuleInfo,
  modules,
  processes,
  type ProcessInfo,
  waitForProcess,
} from "../mod.ts";

/** Options of mod.ts `launch`. */
export interface LaunchOptions {
  args?: string[];
  cwd?: string;
  env?: Record<string, string>;
  dlls?: string[];
}

/** What the CLI needs from mod.ts `launch`'s result. */
export interface Launched {
  pid: number;
  [key: string]: unknown;
}

/** The hook DLL's counters as mod.ts `stats` returns them. */
export type Stats = Record<string, unknown>;

type Later = {
  launch?: (exe: string, options: LaunchOptions) => unknown;
  stats?: (pid: number) => unknown;
};

const later = mod as unknown as Later;

/** mod.ts `launch`, or a clear error if this checkout lacks it. */
export async function launch(
  exe: string,
  options: LaunchOptions,
): Promise<Launched> {
  if (typeof later.launch !== "function") {
    throw new CliError(
      "This checkout's mod.ts has no launch() yet: start the program yourself and use `inject`",
    );
  }
  return (await later.launch(exe, options)) as Launched;
}

/** Whether mod.ts provides `stats`. */
export function hasStats(): boolean {
  return typeof later.stats === "function";
}

/** mod.ts `stats`, or a clear error if this checkout lacks it. */
export async function stats(pid: number): Promise<Stats> {
  if (typeof later.stats !== "function") {
    throw new CliError(
      "This checkout's mod.ts has no stats() yet: the hook DLL's counters cannot be read",
    );
  }
  return (await later.stats(pid)) as Stats;
}

/** Waits for a launched process to end, if the launch result allows it. */
export async function waitExit(
  launched: Launched,
): Promise<number | undefined> {
  const l = launched as Record<string, unknown>;
  for (const key of ["wait", "exited", "status"]) {
    const v = l[key];
    const r = typeof v === "function" ? await (v as () => unknown).call(l) : v;
    if (
      r instanceof Promise || typeof r === "number" || typeof r === "object"
    ) {
      const res = await r;
      if (typeof res === "number") return res;
      if (res && typeof res === "object" && "code" in res) {
        return Number((res as { code: unknown }).code);
      }
    }
  }
  return undefined;
}

/** Reads a counter from a stats object, trying several field names. */
export function counter(
  s: Stats | undefined,
  ...names: string[]
): number | undefined {
  if (!s) return undefined;
  const flat: Record<string, unknown> = { ...s };
  for (const v of Object.values(s)) {
    if (v && typeof v === "object" && !Array.isArray(v)) Object.assign(flat, v);
  }
  for (const n of names) {
    const v = flat[n];
    if (typeof v === "number") return v;
    if (typeof v === "bigint") return Number(v);
  }
  return undefined;
}
