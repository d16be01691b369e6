// Who may open the stats block heapshift.dll creates: its DACL, read back
// from the object (tests/fixtures/dll_stats_sd.c; dll/STATS.md, "Who may
// open it"). Without one of its own the block took its creator's default
// DACL: a service's (LocalService, NetworkService) admits no Administrators,
// so `stats` from an elevated prompt was refused; under Wine it had none
// at all (anyone could write it).
import { runProgram } from "../../cli/_test_utils.ts";
import { assertEquals } from "./assert.ts";
import { fixture, hookDll, testArches } from "./harness.ts";

/** SECTION_ALL_ACCESS */
const ALL = "000f001f";
/** READ_CONTROL | SECTION_MAP_READ | SECTION_QUERY */
const READ = "00020005";

testArches(
  "stats block DACL: its user and SYSTEM in full, Administrators read",
  async (arch) => {
    const out = await runProgram(fixture("dll_stats_sd.exe", arch), [
      hookDll(arch),
    ], { stderr: "inherit" });
    const lines = out.stdout.trim().split(/\r?\n/);
    assertEquals(out.code, 0, lines.join("\n"));
    const user = lines[0].replace(/^user=/, "");
    assertEquals(lines.slice(1), [
      `ace=0,0,${ALL},${user}`,
      `ace=0,0,${ALL},S-1-5-18`,
      `ace=0,0,${READ},S-1-5-32-544`,
      "reopen=1",
      "done",
    ]);
  },
);
