// A write of a few bytes past the requested size (the NUL one past strlen,
// an off-by-one loop) runs fine on UCRT's heap, whose blocks have slack.
// After the takeover it must not cost data: _msize never says 0 or less
// than was asked, and the realloc family keeps every byte written inside
// the block's real capacity. See tests/fixtures/dll_overrun.c.
import { assertEquals } from "./assert.ts";
import { fixture, hookDll, runFixture, testArches } from "./harness.ts";

const CHECKS = [
  "msize_zero",
  "msize_short",
  "realloc_grow",
  "realloc_shrink",
  "realloc_same",
  "expand_same",
  "recalloc",
  "aligned_realloc",
  "aligned_offset_realloc",
  "aligned_recalloc",
];

testArches(
  "overrun of 1..8 bytes: _msize stays non-zero and the realloc family keeps the data",
  async (arch) => {
    const { lines, code } = await runFixture(fixture("dll_overrun.exe", arch), [
      hookDll(arch),
    ], { arch });
    const all = lines.join("\n");
    assertEquals(code, 0, all);
    assertEquals(lines.at(-1), "done", all);
    assertEquals(lines[0], "live=1", all);
    // 8 overruns × (sizes 1..300 and 9 larger ones up to 40 MiB).
    assertEquals(lines.includes("cases=2472"), true, all);
    const failed = lines.filter((l) =>
      CHECKS.some((c) => l.startsWith(`${c}=`) || l.startsWith(`${c}.first=`))
    ).filter((l) => !/^\w+=0$/.test(l));
    assertEquals(failed, [], all);
    assertEquals(
      CHECKS.filter((c) => !lines.includes(`${c}=0`)),
      [],
      all,
    );
  },
);
