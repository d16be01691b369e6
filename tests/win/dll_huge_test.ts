// Huge blocks after a mid-run takeover land wherever the OS puts them; under
// Wine that is near the top of the address space, past mimalloc 2.1.2's
// segment map. Every one must still be mimalloc's: exact _msize, and no
// free / _msize / realloc of it reaches the Win32 heap (the harness fails
// the test on any heap report: on Windows each is a crash). On x86 the map
// ends at 2 GiB and a large-address-aware program has 4 GiB: with the space
// below 2 GiB used up, huge blocks and small blocks' fresh segments alike
// land past it. See tests/fixtures/dll_huge.c.
import { assertEquals } from "./assert.ts";
import { fixture, hookDll, runFixture, test, testArches } from "./harness.ts";

testArches(
  "huge blocks at high addresses after a mid-run takeover are mimalloc's",
  async (arch) => {
    const { lines, code } = await runFixture(fixture("dll_huge.exe", arch), [
      hookDll(arch),
    ], { arch });
    const all = lines.join("\n");
    assertEquals(code, 0, all);
    assertEquals(lines.at(-1), "done", all);
    const v = new Map(
      lines.map((l) => [l.split("=")[0], l.slice(l.indexOf("=") + 1)]),
    );
    assertEquals(v.get("live"), "1", all);
    assertEquals(
      [
        "realloc_old_to_1gib",
        "realloc_huge_shrink",
        "expand_huge",
        "malloc_0",
        "malloc_1",
        "malloc_2",
        "calloc",
        "recalloc",
        "aligned_malloc",
        "aligned_realloc",
        "aligned_offset_malloc",
      ].map((k) => `${k}=${v.get(k)?.split(" ")[0]}`),
      [
        "realloc_old_to_1gib=ok",
        "realloc_huge_shrink=ok",
        "expand_huge=ok",
        "malloc_0=ok",
        "malloc_1=ok",
        "malloc_2=ok",
        "calloc=ok",
        "recalloc=ok",
        "aligned_malloc=ok",
        "aligned_realloc=ok",
        "aligned_offset_malloc=ok",
      ],
      all,
    );
    assertEquals(v.get("realloc_old_to_1gib"), "ok kept=1");
    assertEquals(v.get("realloc_huge_shrink"), "ok same=1");
    assertEquals(v.get("expand_huge"), "ok same=1");
    if (arch === "x64") {
      assertEquals(
        v.get("expand_shrink_by_4gib"),
        "ok same=1 msize_kept=1",
        all,
      );
    }
    for (const k of ["malloc_0", "malloc_1", "malloc_2"]) {
      assertEquals(v.get(k), "ok data=1");
    }
    assertEquals(v.get("calloc"), "ok zero=1");
    if (arch === "x64") {
      assertEquals(v.get("calloc_fresh"), "ok untouched=1 zero=1", all);
    }
    assertEquals(v.get("recalloc"), "ok zero=1");
    assertEquals(v.get("aligned_malloc"), "ok align=1");
    assertEquals(v.get("old_blocks"), "64");
    // The point of the test: every huge block did land past the segment map
    // of mimalloc 2.1.2 (40 TiB; under Wine they land near 128 TiB; x86:
    // 2 GiB).
    assertEquals(v.get("high_blocks"), "11", `blocks past the map:\n${all}`);
    assertEquals(v.get("small_blocks"), "4000", all);
    if (arch === "x86") assertEquals(v.get("small_high"), "1", all);
  },
);

// x64 only: no block over 2 GiB fits in 32 bits (an x86 entry that
// returned at once counted as a pass)
test(
  "calloc of a huge block in memory an arena had handed out already is zero to its end [x64]",
  async () => {
    const arch = "x64";
    // Arenas large enough for it, never purged: the freed block's bytes
    // stay as written, and the calloc that reuses its range must zero all
    // of it (mimalloc 2.1.2 zeroed the first 2 GiB: a huge page's size in
    // 32 bits).
    const { lines, code } = await runFixture(fixture("dll_huge.exe", arch), [
      hookDll(arch),
      "reuse",
    ], {
      arch,
      env: { MIMALLOC_ARENA_RESERVE: "8GiB", MIMALLOC_PURGE_DELAY: "-1" },
    });
    const all = lines.join("\n");
    assertEquals(code, 0, all);
    assertEquals(lines.at(-1), "done", all);
    assertEquals(
      lines.find((l) => l.startsWith("calloc_reused=")),
      "calloc_reused=ok written=1 same=1 zero=1",
      all,
    );
  },
);
