/**
 * `deno task lint-all`: the checks every commit passes, in order, stopping
 * at the first that fails. A script, not the chain in deno.json it was:
 * `deno task` appends the user's arguments to a chain's last command, so
 * `--help` ran every check but the last and then printed `deno doc`'s help.
 *
 * @module
 */

import { parseTaskArgs, runTask } from "./task_args.ts";
import { repoRoot } from "../src/_repo.ts";

/** The checks, as `deno` arguments, in the order they run. */
export const CHECKS: readonly string[][] = [
  ["fmt", "--check"],
  ["lint"],
  ["check", "--doc"],
  ["check", "--doc-only", "README.md"],
  ["doc", "--lint", "mod.ts", "pe/mod.ts"],
];

const USAGE = `usage: deno task lint-all
  runs ${
  CHECKS.map((c) => `deno ${c.join(" ")}`).join(", ")
} in the checkout, stopping at the first that fails`;

async function main(args: string[]): Promise<number> {
  parseTaskArgs(args, { options: {} });
  for (const check of CHECKS) {
    console.error(`[lint-all] deno ${check.join(" ")}`);
    const { code } = await new Deno.Command(Deno.execPath(), {
      args: check,
      cwd: repoRoot(),
      stdin: "null",
    }).spawn().status;
    if (code !== 0) {
      console.error(`error: deno ${check.join(" ")} failed (exit ${code})`);
      return code;
    }
  }
  return 0;
}

if (import.meta.main) await runTask("lint-all", main, { usage: USAGE });
