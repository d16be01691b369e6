import assert from "node:assert/strict";
import { repoRoot } from "../src/_repo.ts";
import { checkCwdSeenByEnv, checkSeenByEnv } from "./windows_side.ts";
import { CliError } from "./output.ts";

// How the Linux CLI hands a command to the project's Wine environment,
// which sees only the checkout: Linux only (on Windows commands run here).
const ON_WINDOWS = Deno.build.os === "windows";

Deno.test(
  "checkSeenByEnv: a host file outside the checkout is refused with what to do",
  { ignore: ON_WINDOWS },
  async () => {
    const dir = await Deno.makeTempDir();
    try {
      const outside = `${dir}/game.exe`;
      await Deno.writeFile(outside, new Uint8Array(1));
      assert.throws(
        () => checkSeenByEnv(outside),
        (e: Error) =>
          e.message ===
            `Cannot use ${outside} in the project's Wine environment: it sees only the checkout, ${
              Deno.realPathSync(repoRoot())
            }; copy the file under it, or use your own Wine prefix (--prefix DIR)`,
      );
      // inside the checkout, or not a host file at all: left to the Windows half
      checkSeenByEnv(`${repoRoot()}/deno.json`);
      checkSeenByEnv(`${dir}/missing.exe`);
      checkSeenByEnv("C:\\games\\game.exe");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

Deno.test(
  "checkCwdSeenByEnv: a working directory outside the checkout is refused with what to do",
  { ignore: ON_WINDOWS },
  async () => {
    const dir = await Deno.makeTempDir();
    try {
      assert.throws(
        () => checkCwdSeenByEnv(dir),
        (e) =>
          e instanceof CliError &&
          /Cannot run in the project's Wine environment from .*: it sees only the checkout/
            .test(e.message),
      );
      checkCwdSeenByEnv(repoRoot());
      checkCwdSeenByEnv(`${repoRoot()}/cli`);
    } finally {
      await Deno.remove(dir);
    }
  },
);

Deno.test(
  "checkSeenByEnv: a directory outside the checkout (launch --cwd) is refused as one",
  { ignore: ON_WINDOWS },
  async () => {
    const dir = await Deno.makeTempDir();
    try {
      assert.throws(
        () => checkSeenByEnv(dir, "directory"),
        (e: Error) =>
          e instanceof CliError &&
          e.message ===
            `Cannot use the directory ${dir} in the project's Wine environment: it sees only the checkout, ${
              Deno.realPathSync(repoRoot())
            }; use one under it, or use your own Wine prefix (--prefix DIR)`,
      );
      checkSeenByEnv(`${repoRoot()}/cli`, "directory");
      checkSeenByEnv(`${dir}/missing`, "directory");
    } finally {
      await Deno.remove(dir);
    }
  },
);
