// Ownership never reads mimalloc's memory: with the header page of every
// segment of the fixture's blocks unreadable (v2), heapshift_owns still
// answers for the blocks, the slots next to them and the rest of a short
// huge segment's slot, and old blocks are still sized and freed on the old
// heap. A test that reads a header dies of an access violation. See
// tests/fixtures/dll_owns.c.
import { assertEquals } from "./assert.ts";
import { fixture, hookDll, runFixture, testArches } from "./harness.ts";
import { assertValues, runValues } from "./fixture_values.ts";

testArches(
  "ownership reads no segment of mimalloc's (headers made unreadable)",
  async (arch) => {
    const { lines, code } = await runFixture(fixture("dll_owns.exe", arch), [
      hookDll(arch),
    ], { arch });
    const all = lines.join("\n");
    assertEquals(code, 0, all);
    assertEquals(lines, [
      "live=1",
      "hidden=1",
      "blocks=7",
      "probes=ok",
      "old_blocks=7",
      "done",
    ], all);
  },
);

testArches(
  "v2: an ownership-map leaf that cannot be committed costs mimalloc the segment, not the process",
  async (arch) => {
    // seg-map: no leaf can be committed (as at the commit limit). Every
    // segment mimalloc gets is handed back before a block of it is given
    // out, so the CRT heap serves everything, and the program runs to its
    // end (it was a fail-fast). v3 has no such map: the fault changes
    // nothing there.
    const r = await runValues("dll_lasterror.exe", [hookDll(arch)], {
      arch,
      env: { HEAPSHIFT_TEST_FAULTS: "seg-map" },
    });
    assertValues(r, { state: 1, main_bad: 0, thread_bad: 0 });
  },
);
