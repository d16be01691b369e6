import assert from "node:assert/strict";
import { demoArch } from "./demo.ts";

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
