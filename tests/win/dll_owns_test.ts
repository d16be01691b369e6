// Ownership never reads mimalloc's memory: with the header page of every
// segment of the fixture's blocks unreadable (v2), heapshift_owns still
// answers for the blocks, the slots next to them and the rest of a short
// huge segment's slot, and old blocks are still sized and freed on the old
// heap. A test that reads a header dies of an access violation. See
// tests/fixtures/dll_owns.c.
import { assertEquals } from "./assert.ts";
import { fixture, hookDll, runFixture, testArches } from "./harness.ts";

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
