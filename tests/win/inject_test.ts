// End to end: a fixture DLL is injected into a running fixture process with
// Deno FFI (remote LoadLibraryW), and the target's module list proves it.
import { inject, modules } from "../../mod.ts";
import { assert, assertEquals } from "./assert.ts";
import { fixture, startTarget, test } from "./harness.ts";

test("inject loads probe.dll into a running sleeper.exe", async () => {
  await using target = await startTarget(fixture("sleeper.exe"));
  const pid = target.readyPid;
  const before = modules(pid);
  assert(before.length > 0, "the target lists modules");
  assert(
    !before.some((m) => m.name.toLowerCase() === "probe.dll"),
    "probe.dll is not loaded before injection",
  );

  const mod = await inject(pid, fixture("probe.dll"), { timeout: 20_000 });
  assertEquals(mod.name.toLowerCase(), "probe.dll");
  assert(mod.base > 0n && mod.size > 0, "module has a base and a size");

  const after = modules(pid).find((m) => m.name.toLowerCase() === "probe.dll");
  assert(after, "modules(pid) lists probe.dll after injection");
  assertEquals(after.base, mod.base);
  assertEquals(after.path.toLowerCase(), fixture("probe.dll").toLowerCase());
});
