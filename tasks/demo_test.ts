import assert from "node:assert/strict";
import { demoArch, DemoUsageError } from "./demo.ts";

Deno.test("demoArch: --arch picks the sample's architecture, x64 by default", () => {
  assert.equal(demoArch([]), "x64");
  assert.equal(demoArch(["--before", "3"]), "x64");
  assert.equal(demoArch(["--arch", "x86", "--json"]), "x86");
  assert.equal(demoArch(["--arch=x86"]), "x86");
  assert.throws(
    () => demoArch(["--arch", "arm64"]),
    /--arch must be x64 or x86, not 'arm64'/,
  );
});

Deno.test("deno task demo --arch without a value is a usage error (exit 2), said before anything is provisioned or built", async () => {
  for (const args of [["--arch"], ["--arch", "--json"], ["--arch", "arm64"]]) {
    assert.throws(() => demoArch(args), DemoUsageError, args.join(" "));
  }
  const r = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("./demo.ts", import.meta.url).pathname,
      "--arch",
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.deepEqual(
    [r.code, new TextDecoder().decode(r.stderr), r.stdout.length],
    [2, "error: --arch needs a value, x64 or x86\n", 0],
  );
});
