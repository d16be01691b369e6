/**
 * Whether heapshift took over once its DLL is loaded: loading the DLL is
 * not the takeover. It may refuse to patch (a thread inside a function to
 * patch, code it cannot patch safely, another tool's hooks) and then stays
 * loaded, idle: `inject` and `launch` must say so, not "injected".
 *
 * @module
 */

import {
  type HeapshiftReason,
  type HeapshiftStats,
  reasonMayPass,
} from "../mod.ts";
import { isHeapshiftDll } from "../pe/mod.ts";
import { CliError } from "./output.ts";

/** What each reason means to the user of a program. */
const REASON_TEXT: Partial<Record<HeapshiftReason, string>> = {
  "no-ucrt":
    "the program does not use the Universal CRT (ucrtbase.dll) or lacks its heap functions",
  "no-room": "this ucrtbase.dll's code cannot be patched safely",
  "unsafe-site": "this ucrtbase.dll's code cannot be patched safely",
  "shared-site": "this ucrtbase.dll's code cannot be patched safely",
  "overlapping-sites": "this ucrtbase.dll's code cannot be patched safely",
  "too-many-sites": "this ucrtbase.dll's code cannot be patched safely",
  "readback": "a written jump did not read back",
  "thread-in-site": "a thread stayed inside a function to be patched",
  "protect":
    "the program forbids changes to its code (code integrity or Arbitrary Code Guard)",
  "thread-open": "its threads could not all be paused",
  "thread-suspend": "its threads could not all be paused",
  "thread-context": "its threads could not all be paused",
  "too-many-threads": "it has more threads than heapshift can pause",
  "thread-snapshot": "its threads could not be listed",
  "tls": "no thread-local storage slot was left",
  "foreign-hook": "another tool hooks the CRT's allocator already",
  "page-map":
    "mimalloc's page map could not be set up for heapshift (the system's commit limit, or MIMALLOC_MAX_VABITS)",
  "pin":
    "heapshift.dll could not pin itself in memory, which it needs before it changes any code",
};

/** `path`, in double quotes when it holds a space. */
function quoted(path: string): string {
  return path.includes(" ") ? `"${path}"` : path;
}

/** The reason, with what it means when known; `error` is the stats'
 * Win32 error, which tells Arbitrary Code Guard (1655) from the rest. */
export function explainReason(
  reason: HeapshiftReason | null,
  error = 0,
): string {
  if (reason === null) return "no reason given";
  if (reason === "protect" && error === ERROR_DYNAMIC_CODE_BLOCKED) {
    return `${reason}: the program forbids changes to its code (Arbitrary Code Guard, error ${error})`;
  }
  if (reason === "protect" && error !== 0) {
    // Not a policy: e.g. the commit limit (1455), which the private copy
    // of a page made writable is charged against.
    return `${reason}: ucrtbase.dll's code could not be made writable (error ${error})`;
  }
  if (reason === "thread-snapshot" && outOfMemory(error)) {
    return `${reason}: ${
      REASON_TEXT[reason]
    }: the program is out of memory (error ${error})`;
  }
  const text = REASON_TEXT[reason];
  return text ? `${reason}: ${text}` : reason;
}

/** Windows' errors for memory that ran out (the thread snapshot's in a
 * nearly full 32-bit address space): trying again at once meets them
 * again. */
function outOfMemory(error: number): boolean {
  return error === 8 || error === 14;
}

/** Windows' error for a change of code Arbitrary Code Guard refused. */
const ERROR_DYNAMIC_CODE_BLOCKED = 1655;

/**
 * What to do about a policy that forbids changing code (`protect`):
 * restarting keeps it, but heapshift loaded with the program changes the
 * code before the program's own code turns such a policy on.
 */
const PROTECT_ADVICE =
  "restarting it does not lift that: if the program turns the policy on itself once running, `launch` it with heapshift or `patch` its imports, which load heapshift before the program's own code; if the policy is on from the start (Exploit protection's \"Arbitrary code guard\" for the program, or set by its launcher), heapshift cannot take it over unless that setting is turned off";

/** What became of heapshift once its DLL was loaded. */
export interface Takeover {
  /** `live`: it took over; `ended`: the program ended before that was seen. */
  state?: "live" | "ended";
  /** What stopped the check from telling (its state cannot be read). */
  warning?: string;
}

/** The process a DLL was just loaded into, and that DLL's path. */
export interface TakeoverTarget {
  pid: number;
  name: string;
  dll: string;
  /** `dll` came from `--dll` (a retry must name it too), not the default. */
  explicitDll?: boolean;
}

/** How {@linkcode checkTakeover} waits and reads heapshift's state. */
export interface TakeoverOptions {
  timeoutMs: number;
  stats: (pid: number) => HeapshiftStats;
  /**
   * What to do to try again, said instead of inject's advice (restart the
   * program, inject again, `stats PID`) by a caller that ends the program
   * itself (the demo).
   */
  again?: string;
}

/**
 * Waits (at most `timeoutMs`) until heapshift's DLL, just loaded in `pid`,
 * has left `loading`; throws a {@linkcode CliError} saying why when it did
 * not take over. Nothing is printed: the caller says the warning when it
 * suits its output. `{}` for a DLL that is not heapshift.
 */
export async function checkTakeover(
  target: TakeoverTarget,
  options: TakeoverOptions,
): Promise<Takeover> {
  if (!isHeapshiftDll(target.dll)) return {};
  return await awaitTakeover(target, options);
}

/** {@linkcode checkTakeover} for a DLL known to be heapshift's. */
export async function awaitTakeover(
  target: TakeoverTarget,
  options: TakeoverOptions,
): Promise<Takeover> {
  const { pid, name } = target;
  const dll = target.dll.replace(/^.*[\\/]/, "");
  const where = `${dll} is loaded in ${name} (pid ${pid})`;
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    let s: HeapshiftStats | undefined;
    let error: unknown;
    try {
      s = options.stats(pid);
    } catch (e) {
      error = e;
    }
    const kind = (error as { kind?: string } | undefined)?.kind;
    if (kind === "not-found") return { state: "ended" };
    if (s && s.state === "live") return { state: "live" };
    if (s && s.state === "failed" && options.again) {
      throw new CliError(
        `${where} but did not take over (${
          explainReason(s.reason, s.error)
        }): ${options.again}`,
      );
    }
    if (s && s.state === "failed") {
      const dllArg = target.explicitDll ? ` --dll ${quoted(target.dll)}` : "";
      const retry = `\`inject ${pid}${dllArg}\` tries again`;
      const again = s.reason === "thread-snapshot" && outOfMemory(s.error)
        ? `this may pass once the program has freed memory: ${retry}`
        : reasonMayPass(s.reason)
        ? `this may pass: ${retry}`
        : s.reason === "protect" && s.error === ERROR_DYNAMIC_CODE_BLOCKED
        ? PROTECT_ADVICE
        : "restart it to try again";
      throw new CliError(
        `${where} but did not take over (${
          explainReason(s.reason, s.error)
        }). The program runs on as before, on its CRT heap; heapshift stays loaded there, idle, until the program ends (${again}; \`stats ${pid}\` shows more)`,
      );
    }
    if (s && s.state === "disabled") {
      throw new CliError(
        `${where} but disabled: HEAPSHIFT_DISABLE is set in the program's environment, so it runs on its CRT heap (${
          options.again ?? "restart it"
        } without that variable)`,
      );
    }
    // Waiting does not help an error that is not about timing.
    if (Date.now() >= deadline || kind === "access-denied") {
      if (s) {
        throw new CliError(
          `${where} but still initialising after ${
            options.timeoutMs / 1000
          } s (\`stats ${pid}\` shows when it is live)`,
        );
      }
      return {
        warning: `${where}, but its state cannot be read: ${
          error instanceof Error ? error.message : String(error)
        }`,
      };
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}
