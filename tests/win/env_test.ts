// The Windows suite's ground: it runs on a Windows Deno (natively or under
// Wine) and the fixtures built from tests/fixtures are real Windows programs.
import { assert, assertEquals } from "./assert.ts";
import { fixture, startTarget, test } from "./harness.ts";

test("the Windows suite runs on Windows Deno", () => {
  assertEquals(Deno.build.os, "windows");
  assertEquals(Deno.build.arch, "x86_64");
});

test("a fixture program starts and reports its pid", async () => {
  await using target = await startTarget(fixture("sleeper.exe"));
  assert(target.pid > 0);
  assertEquals(target.readyPid, target.pid);
});
