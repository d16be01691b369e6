// A thread caught at a patch site while the hook DLL installs: exactly at
// the site it is moved to the hook; inside the site's bytes the installer
// gives up and patches nothing (state failed, reason 6).
import { assertEquals } from "./assert.ts";
import { type Arch, fixture, hookDll, testArches } from "./harness.ts";
import { runProgram } from "../../cli/_test_utils.ts";

async function run(arch: Arch, mode: string): Promise<Map<string, string>> {
  const out = await runProgram(fixture("dll_sites.exe", arch), [
    mode,
    hookDll(arch),
  ], { stderr: "inherit", env: { HEAPSHIFT_VERBOSE: "" } });
  const text = out.stdout;
  assertEquals(out.code, 0, text);
  const lines = text.split(/\r?\n/).filter(Boolean);
  assertEquals(lines.at(-1), "done", text);
  return new Map(
    lines.filter((l) => l.includes("=")).map((l) => {
      const i = l.indexOf("=");
      return [l.slice(0, i), l.slice(i + 1)];
    }),
  );
}

testArches(
  "sites: a thread right at a patch site is moved to the hook",
  async (arch) => {
    const r = await run(arch, "at");
    assertEquals(r.get("state"), "1");
    assertEquals(r.get("thread.rip_at_site"), "0");
    assertEquals(r.get("thread.rip_in_heapshift"), "1");
    assertEquals(r.get("malloc.is_mimalloc"), "1");
  },
);

testArches(
  "sites: a thread inside a patch site makes the installer back off",
  async (arch) => {
    const r = await run(arch, "inside");
    assertEquals(r.get("state"), "3");
    assertEquals(r.get("thread.rip_inside_site"), "1");
    assertEquals(r.get("malloc.is_mimalloc"), "0");
  },
);
