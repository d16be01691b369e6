// Running a DLL fixture that prints key=value lines and "done", and checking
// what it printed.
import { assertEquals } from "./assert.ts";
import { type Arch, fixture } from "./harness.ts";
import { runProgram } from "../../cli/_test_utils.ts";

/** What a fixture printed: its key=value pairs (first wins) and the text. */
export interface Values {
  get(key: string): string | undefined;
  text: string;
}

/** Options of {@linkcode runValues}. */
export interface RunValuesOptions {
  /** Added to the environment. */
  env?: Record<string, string>;
  /** Which build of the fixture (default x64). */
  arch?: Arch;
}

/**
 * Runs `build/fixtures/<exe>` (its `arch` build) to its end with `env`
 * added, asserts it exited 0 with "done" last, and collects every
 * `key=value` (several may share a line; values are integers or words).
 */
export async function runValues(
  exe: string,
  args: string[],
  options: RunValuesOptions = {},
): Promise<Values> {
  const env = options.env ?? {};
  const out = await runProgram(fixture(exe, options.arch), args, {
    stderr: "inherit",
    env,
  });
  const text = out.stdout;
  assertEquals(out.code, 0, text);
  const lines = text.split(/\r?\n/).filter(Boolean);
  assertEquals(lines.at(-1), "done", text);
  const values = new Map<string, string>();
  for (const m of text.matchAll(/([\w.]+)=(-?\w+)/g)) {
    if (!values.has(m[1])) values.set(m[1], m[2]);
  }
  return { get: (k) => values.get(k), text };
}

/** Asserts each key printed the expected value (the output on failure). */
export function assertValues(
  r: Values,
  want: Record<string, string | number>,
): void {
  const got = Object.fromEntries(
    Object.keys(want).map((k) => [k, r.get(k)]),
  );
  const expected = Object.fromEntries(
    Object.entries(want).map(([k, v]) => [k, String(v)]),
  );
  assertEquals(got, expected, r.text);
}
