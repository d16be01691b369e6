// The DLL's stats counters are exact under threads: owned stripes (plain
// stores), the shared stripe (more live threads than ownable stripes) and
// stripes handed over at thread exit all add up to what the program did.
// See tests/fixtures/dll_counters.c.
import { assertEquals } from "./assert.ts";
import { runProgram } from "../../cli/_test_utils.ts";
import { fixture, hookDll, testArches } from "./harness.ts";

testArches(
  "counters: exact with 80 live threads, 400 short-lived ones and the main thread",
  async (arch) => {
    const out = await runProgram(
      fixture("dll_counters.exe", arch),
      [hookDll(arch)],
      { stderr: "inherit" },
    );
    const lines = out.stdout.trim().split(/\r?\n/);
    assertEquals(out.code, 0, lines.join("\n"));
    assertEquals(lines.at(-1), "done", lines.join("\n"));
    assertEquals(lines[0], "live=1");
    assertEquals(lines.includes("expand_not_null=0"), true, lines.join("\n"));
    const m = lines.map((l) => /^expected=(\d+) counted=(-?\d+)$/.exec(l))
      .find((x) => x);
    assertEquals(m?.[2], m?.[1], lines.join("\n"));
    assertEquals(Number(m?.[1]), 80 * 5000 + 400 * 5000 + 3 * 5000);
  },
);
