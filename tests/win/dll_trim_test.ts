// The old heap's freed pages after a mid-run takeover (dll/trim.c,
// tests/fixtures/dll_trim.c): the DLL is injected by a remote thread after
// ~55 MiB of old blocks were made; most of them then move into mimalloc.
//
// Wine's `warn+heap` channel, which the Windows suite turns on to catch
// invalid heap calls, also makes every heap check its free blocks (free
// blocks keep a fill pattern); the trimmer must refuse such a heap, and the
// strict run below checks that it does. The runs that trim give the target
// `err+heap` instead: Wine still reports any corruption it finds
// (HeapValidate's findings among them) and the harness fails the test on
// it, but the heap is the ordinary one. What it no longer reports is a
// HeapFree of a block the heap never handed out (warn+heap's): the
// fixtures of those runs count such frees themselves
// (tests/fixtures/checked_free.h) and their tests require none.
import { assert, assertEquals } from "./assert.ts";
import {
  type Arch,
  fixture,
  hookDll,
  runFixture,
  test,
  testArches,
  UNDER_WINE,
} from "./harness.ts";

// Under Wine the walk is opt-in (dll/trim.c says why).
const TRIMMING = {
  WINEDEBUG: "-all,+pid,err+heap",
  HEAPSHIFT_TRIM_WALK: "1",
};

// What the trimming runs lose with warn+heap: Wine no longer reports a
// HeapFree of a block the heap never handed out, which kills a 64-bit
// process on Windows. The fixtures those runs use count such frees
// themselves (tests/fixtures/checked_free.h); this shows that they do.
// (Not on Windows: the process would die there, as it should.)
if (UNDER_WINE) {
  testArches(
    "trim: a run without warn+heap still notices a free that HeapFree refused",
    async (arch) => {
      const { lines, code } = await runFixture(
        fixture("dll_trim_review.exe", arch),
        [hookDll(arch), "badfree"],
        { env: TRIMMING, arch },
      );
      const text = lines.join("\n");
      assertEquals(code, 0, text);
      assertEquals(lines.at(-1), "done", text);
      assertEquals(/failed_frees=(\d+)/.exec(text)?.[1], "1", text);
    },
  );
}

/** The trimmer's states (dll/heapshift_stats.h enum hs_trim_state). */
const WALK = "1", OPTIMIZE = "2", OFF = "3", DEBUG_HEAP = "4", SMALL = "8";
const FREE_RESET = "9";

interface Run {
  get(key: string): string | undefined;
  num(key: string): number;
  text: string;
}

async function trimRun(
  args: string[],
  options: { env?: Record<string, string>; arch?: Arch } = {},
): Promise<Run> {
  const arch = options.arch ?? "x64";
  const { lines, code } = await runFixture(fixture("dll_trim.exe", arch), [
    hookDll(arch),
    ...args,
  ], { env: options.env, arch });
  const text = lines.join("\n");
  assertEquals(code, 0, text);
  assertEquals(lines.at(-1), "done", text);
  const values = new Map<string, string>();
  for (const m of text.matchAll(/([\w.]+)=(-?[\w.]+)/g)) {
    if (!values.has(m[1])) values.set(m[1], m[2]);
  }
  // frees HeapFree refused (tests/fixtures/checked_free.h)
  assertEquals(values.get("failed_frees"), "0", text);
  return {
    get: (k) => values.get(k),
    num: (k) => Number(values.get(k)),
    text,
  };
}

function expect(r: Run, want: Record<string, string | number>): void {
  const got = Object.fromEntries(Object.keys(want).map((k) => [k, r.get(k)]));
  const expected = Object.fromEntries(
    Object.entries(want).map(([k, v]) => [k, String(v)]),
  );
  assertEquals(got, expected, r.text);
}

/** The old heap kept working: data intact, its own blocks, HeapValidate. */
const HEAP_OK = {
  old_intact: 1,
  kept_blocks_ok: 1,
  own_blocks_ok: 1,
  heap_valid: 1,
};

testArches(
  "trim: after a takeover moves most old blocks, the old heap's free pages go back and the heap keeps working",
  async (arch) => {
    // the walk's own part: no resets as the hooks free old blocks
    const r = await trimRun(["trim"], {
      env: { ...TRIMMING, HEAPSHIFT_TEST_FAULTS: "trim-walk-only" },
      arch,
    });
    expect(r, {
      live: 1,
      trim_state_at_start: WALK,
      "trim.state": WALK,
      trimmed: 1,
      ...HEAP_OK,
    });
    // ~38 MiB of 40–60 KiB blocks left the old heap (the ~6 MiB of small
    // ones sit in Wine's low-fragmentation groups, which a walk leaves
    // alone): at least half of it must leave the working set.
    const big = r.num("freed_big_mib");
    assert(big > 30, r.text);
    assert(r.num("drop_mib") >= big / 2, `working set drop:\n${r.text}`);
    assert(r.num("trim.reset_mib") >= big / 2, r.text);
    assertEquals(r.num("trim.error"), 0, r.text);
  },
);

test("trim: with HEAPSHIFT_NO_TRIM=1 the pages stay (the drop is the trimmer's)", async () => {
  const r = await trimRun(["trim"], {
    env: { ...TRIMMING, HEAPSHIFT_NO_TRIM: "1" },
  });
  expect(r, { live: 1, "trim.state": OFF, trimmed: 0, ...HEAP_OK });
  assert(r.num("drop_mib") < r.num("freed_big_mib") / 8, r.text);
  assertEquals(r.num("trim.reset_mib"), 0, r.text);
});

test("trim: a heap that checks its free blocks (strict heap checks) is left alone", async () => {
  // The suite's own environment: Wine's warn+heap makes the CRT heap a
  // free-checking heap. The walk is asked for: the check refuses it.
  const r = await trimRun(["trim"], { env: { HEAPSHIFT_TRIM_WALK: "1" } });
  expect(r, {
    live: 1,
    trim_state_at_start: DEBUG_HEAP,
    "trim.state": DEBUG_HEAP,
    "trim.passes": 0,
    ...HEAP_OK,
  });
  assertEquals(r.num("trim.reset_mib"), 0, r.text);
});

test("trim: no thread for a heap that never grew past a few MiB", async () => {
  const r = await trimRun(["small"], { env: TRIMMING });
  expect(r, {
    live: 1,
    trim_state_at_start: SMALL,
    "trim.passes": 0,
    ...HEAP_OK,
  });
});

test("trim: _heapmin asks for a pass; Windows' way (HeapOptimizeResources) runs and leaves the heap whole", async () => {
  const r = await trimRun(["trim", "heapmin"], {
    env: { ...TRIMMING, HEAPSHIFT_TEST_FAULTS: "trim-optimize" },
  });
  // Wine accepts HeapOptimizeResources and does nothing; its HeapCompact
  // says 0, so _heapmin answers -1 as UCRT would.
  expect(r, {
    live: 1,
    trim_state_at_start: OPTIMIZE,
    "trim.state": OPTIMIZE,
    heapmin: -1,
    trimmed: 1,
    ...HEAP_OK,
  });
});

test("trim: Windows' way runs only when _heapmin asks, on the caller's thread: no thread of ours holds the process heap's lock", async () => {
  // A thread of ours in HeapSetInformation holds the heap lock: at a low
  // priority it stalled every thread using the process heap while it was
  // preempted, and killed there by ExitProcess it left the lock held for
  // every DLL's detach code (review).
  const r = await trimRun(["trim"], {
    env: { ...TRIMMING, HEAPSHIFT_TEST_FAULTS: "trim-optimize" },
  });
  expect(r, {
    live: 1,
    trim_state_at_start: OPTIMIZE,
    "trim.state": OPTIMIZE,
    passes_while_locked: 0,
    trimmed: 0,
    "trim.passes": 0,
    ...HEAP_OK,
  });
});

testArches(
  "trim: four threads using the CRT heap while the trimmer walks it twenty times lose no byte",
  async (arch) => {
    const r = await trimRun(["stress"], { env: TRIMMING, arch });
    expect(r, { live: 1, "trim.state": WALK, stress_bad: 0, ...HEAP_OK });
    assert(r.num("stress_passes") >= 20, r.text);
    assert(r.num("stress_ops") > 1000, r.text);
  },
);

testArches(
  "trim: waiting for the heap lock, the trimmer holds no other lock (a holder that needs the loader lock goes on)",
  async (arch) => {
    const r = await trimRun(["loader"], { env: TRIMMING, arch });
    expect(r, {
      live: 1,
      "trim.state": WALK,
      holder_got_loader_lock: 1,
      loader_free_after: 1,
      trimmed_after: 1,
      heap_valid: 1,
    });
    assertEquals(r.get("deadlock"), undefined, r.text);
  },
);

testArches(
  "trim: the process exits promptly while the trimmer walks (ExitProcess, and returning from main)",
  async (arch) => {
    // dll_trim_detach.dll uses the heap at process detach.
    const detach = fixture("dll_trim_detach.dll", arch);
    for (let i = 0; i < 10; i++) {
      const how = i % 2 ? ["direct"] : [];
      const started = Date.now();
      const { lines, code } = await runFixture(fixture("dll_trim.exe", arch), [
        hookDll(arch),
        "exit",
        detach,
        ...how,
      ], { env: TRIMMING, arch });
      assertEquals(code, 0, `run ${i}:\n${lines.join("\n")}`);
      // The harness kills a fixture after two minutes; a hang at exit would
      // take that long.
      assert(Date.now() - started < 60_000, `run ${i} took too long`);
    }
  },
);

// Wine's heap by default: no walk, no thread; the hooks reset the whole
// pages of each old block as they free it.
const { HEAPSHIFT_TRIM_WALK: _, ...FREE_RESETS } = TRIMMING;

testArches(
  "trim: under Wine the walk runs only when asked for (HEAPSHIFT_TRIM_WALK=1)",
  async (arch) => {
    const r = await trimRun(["trim"], { env: FREE_RESETS, arch });
    expect(r, { live: 1, "trim.state": FREE_RESET, trimmed: 0, ...HEAP_OK });
    assertEquals(r.num("trim.passes"), 0, r.text);
  },
);

testArches(
  "trim: under Wine an old block's whole pages leave the working set as it is freed or moved (no walk, no thread)",
  async (arch) => {
    const r = await trimRun(["free"], { env: FREE_RESETS, arch });
    expect(r, {
      live: 1,
      trim_state_at_start: FREE_RESET,
      "trim.state": FREE_RESET,
      "trim.passes": 0,
      ...HEAP_OK,
    });
    assertEquals(r.get("lost_before_free"), undefined, r.text);
    // old _aligned_* blocks (~54 KiB raw) moved and freed, the others
    // intact; blocks under 16 KiB and Wine's own mappings are not reset
    expect(r, { aligned_ok: 1, small_reset_kib: 0, huge_reset_kib: 0 });
    assert(r.num("aligned_reset_kib") >= 100 * 40, r.text);
    // ~38 MiB of 40–60 KiB old blocks left, half of them copied into
    // mimalloc: at least half of what left must leave the working set.
    const big = r.num("freed_big_mib"), moved = r.num("moved_mib");
    assert(big > 30, r.text);
    assert(r.num("grow_mib") < moved - big / 2, `working set:\n${r.text}`);
    assert(r.num("trim.reset_mib") >= big / 2, r.text);
    assertEquals(r.num("trim.error"), 0, r.text);
  },
);

testArches(
  "trim: with HEAPSHIFT_NO_TRIM=1 freed old blocks keep their pages (the drop is the hooks')",
  async (arch) => {
    const r = await trimRun(["free"], {
      env: { ...FREE_RESETS, HEAPSHIFT_NO_TRIM: "1" },
      arch,
    });
    expect(r, { live: 1, "trim.state": OFF, ...HEAP_OK });
    const big = r.num("freed_big_mib"), moved = r.num("moved_mib");
    assert(r.num("grow_mib") > moved - big / 8, `working set:\n${r.text}`);
    assertEquals(r.num("trim.reset_mib"), 0, r.text);
  },
);

testArches(
  "trim: a heap that checks its free blocks gets no resets as blocks are freed either",
  async (arch) => {
    // The suite's environment (warn+heap: free blocks keep a fill pattern).
    const r = await trimRun(["free"], { arch });
    expect(r, { live: 1, "trim.state": DEBUG_HEAP, ...HEAP_OK });
    assertEquals(r.num("trim.reset_mib"), 0, r.text);
  },
);

testArches(
  "trim: once exit() has begun the trimmer makes no more heap calls (old blocks freed by atexit code)",
  async (arch) => {
    const r = await trimRun(["atexit"], { env: TRIMMING, arch });
    expect(r, { live: 1, passes_before_exit: 1, atexit_passes: 0 });
    assert(r.num("atexit_freed") > 1000, r.text);
  },
);
