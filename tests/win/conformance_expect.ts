// What Microsoft's UCRT prints for every line of
// tests/fixtures/dll_conformance.c: the oracle of "exact UCRT semantics".
// The values come from the UCRT sources' rules (../../../shared/ucrt-facts.md
// summarises them: heap/*.cpp, align.cpp, getenv.cpp), not from Wine's
// ucrtbase, which reimplements them and differs where `wine` says so.
// Where neither settles what Windows gives (the answer hangs on the Win32
// heap's undocumented in-place resizing, or on a last-error value nobody
// set), the line is `unverified`: the hooked run is checked against
// heapshift's own rule, and the test names it as unverified. Below them,
// what heapshift's own `hs.` lines must say in a run with the hooks live.
import { assert, assertEquals } from "./assert.ts";
import { type Arch, UCRT_UNDER_TEST, UNDER_WINE } from "./harness.ts";

/** One line's expectation. */
export interface Expectation {
  /** What a run with the hooks live prints. */
  expect: string;
  /** Why that is UCRT's value (the rule it follows). */
  ucrt?: string;
  /** Why neither the UCRT sources nor Wine settle Windows' value. */
  unverified?: string;
  /**
   * Wine's own ucrtbase (the plain run here) prints something else, or
   * (`null`) the fixture cannot make the call on it at all.
   */
  wine?: { value: string | RegExp | null; reason: string };
  /** The hooked run under Wine differs, because the hook calls into Wine. */
  dllOnWine?: { value: string; reason: string };
  /**
   * Microsoft's ucrtbase run under Wine (`deno task test`'s pass on it)
   * still sits on Wine's heap: where the value is the heap's answer, not the
   * CRT's, it gives Wine's heap's, `plain` without the hooks, `hooked`
   * with them (on their fresh blocks, mimalloc's answer is heapshift's
   * rule: `expect`).
   */
  wineHeap?: { plain?: string; hooked?: string; reason: string };
}

const HANDLER = "_VALIDATE_RETURN: errno, then the invalid-parameter handler";
const NOT_UCRT_HANDLER =
  "Wine sets errno but never calls the invalid-parameter handler";

/** Every line the fixture prints outside the `hs.` keys. */
export const UCRT: Record<string, Expectation> = {
  "crt": {
    expect: "microsoft",
    ucrt: "the ucrtbase the program runs on: Microsoft's",
    wine: { value: "wine", reason: "Wine's own ucrtbase (a Wine builtin)" },
    dllOnWine: { value: "wine", reason: "Wine's own ucrtbase" },
  },
  "malloc0": {
    expect: "ptr errno=0",
    ucrt: "_malloc_base(0) allocates 1 byte; errno untouched",
  },
  "malloc0.msize": {
    expect: "1",
    ucrt: "_malloc_base(0) asks HeapAlloc for 1 byte; _msize is HeapSize",
    wine: { value: "0", reason: "Wine's malloc(0) asks HeapAlloc for 0 bytes" },
  },
  "malloc13.msize": {
    expect: "13 align16=1",
    ucrt: "HeapSize is the requested size; x64 heap blocks are 16-aligned",
  },
  "malloc.msize_exact_of_12": {
    expect: "12",
    ucrt: "_msize is HeapSize, the exact requested size (1 B .. 260 KiB)",
  },
  "malloc_max": {
    expect: "NULL errno=12",
    ucrt: "size > _HEAP_MAXREQ: ENOMEM",
  },
  "malloc_maxreq1": {
    expect: "NULL errno=12",
    ucrt: "_HEAP_MAXREQ + 1: ENOMEM",
  },
  "calloc00": {
    expect: "ptr msize=1",
    ucrt: "_calloc_base: a zero size becomes 1",
    wine: { value: "ptr msize=0", reason: "Wine allocates 0 bytes" },
  },
  "calloc_overflow": {
    expect: "NULL errno=12",
    ucrt: "_calloc_base's overflow check: ENOMEM",
  },
  "calloc.zero": {
    expect: "1 msize=3700",
    ucrt: "HEAP_ZERO_MEMORY; exact size",
  },
  "huge.shrink.data": {
    expect: "1 msize=31457280",
    ucrt: "_realloc_base keeps the data; exact size",
  },
  "huge.grow.data": {
    expect: "1 msize=52428800",
    ucrt: "_realloc_base keeps the data; exact size",
  },
  "huge.expand_shrink": {
    expect: "same msize=47185920",
    unverified:
      "whether Windows' heap shrinks a 50 MiB block in place (HEAP_REALLOC_IN_PLACE_ONLY) is not documented; a refusal of a block over 16 KiB gives NULL",
  },
  "realloc_null": {
    expect: "ptr msize=10",
    ucrt: "_realloc_base(NULL, n) is malloc",
  },
  "realloc_grow.data": {
    expect: "1 msize=5000",
    ucrt: "_realloc_base keeps the data; exact size",
  },
  "realloc_shrink.data": {
    expect: "1 msize=7",
    ucrt: "_realloc_base keeps the data; exact size",
  },
  "realloc_max": {
    expect: "NULL errno=12 data_kept=1",
    ucrt: "size > _HEAP_MAXREQ: ENOMEM, the block untouched",
    wine: {
      value: "NULL errno=0 data_kept=1",
      reason: "Wine's realloc leaves errno alone when HeapReAlloc fails",
    },
  },
  "realloc0": {
    expect: "NULL errno=0",
    ucrt: "_realloc_base(p, 0) frees p and returns NULL",
  },
  "msize_null": {
    expect: "-1 errno=22 invalid=1",
    ucrt: HANDLER,
    wine: {
      value: null,
      reason: "Wine's _msize(NULL) dereferences NULL: not called on it",
    },
  },
  "free_null.errno": { expect: "0", ucrt: "_free_base(NULL) does nothing" },
  "lasterror_after_malloc_free": {
    expect: "1234 errno=0",
    unverified:
      "that Windows' HeapAlloc/HeapFree leave the last-error value alone when they succeed is not documented; heapshift's hooks never change it",
  },
  "expand_null": {
    expect: "NULL errno=22 invalid=1",
    ucrt: HANDLER,
    wine: { value: "NULL errno=0 invalid=0", reason: NOT_UCRT_HANDLER },
  },
  "expand_shrink": {
    expect: "same msize=100",
    unverified:
      "UCRT returns the block either way, but its _msize is 100 only if Windows' heap shrinks it in place; a 1000-byte LFH block is refused and keeps 1000",
  },
  "expand_grow_big": {
    expect: "NULL errno=12",
    unverified:
      "whether Windows' heap grows a block in place is not documented, and on a refusal UCRT takes errno from GetLastError(), which HeapReAlloc does not set",
    wineHeap: {
      plain: "ptr errno=0",
      reason: "Wine's 64-bit heap grows the 100-byte block in place",
    },
    wine: {
      value: "ptr errno=0",
      reason: "Wine's heap grew the 100-byte block to 1 MB in place",
    },
  },
  "expand_max": {
    expect: "NULL errno=12",
    ucrt: "_expand_base: size > _HEAP_MAXREQ gives ENOMEM",
    wine: {
      value: "NULL errno=0",
      reason: "Wine's _expand is a bare HeapReAlloc: no errno",
    },
  },
  "recalloc.data": {
    expect: "1 zero=1 msize=30",
    ucrt: "_recalloc_base zero-fills from the old _msize",
  },
  "recalloc_overflow": {
    expect: "NULL errno=12",
    ucrt: "_recalloc_base's overflow check: ENOMEM",
  },
  "recalloc0": { expect: "NULL", ucrt: "realloc to 0 frees, returns NULL" },
  "recalloc_null": {
    expect: "ptr zero=1 msize=16",
    ucrt: "_recalloc_base(NULL) is a zeroed allocation",
  },
  "strdup_null": { expect: "NULL", ucrt: "_strdup(NULL) returns NULL" },
  "strdup": { expect: "hello heapshift msize=16", ucrt: "malloc(strlen+1)" },
  "wcsdup.ok": { expect: "1 msize=10", ucrt: "malloc((wcslen+1)*2)" },
  "mbsdup": { expect: "mbs msize=4", ucrt: "malloc(strlen+1)" },
  "dupenv": {
    expect: "0 value-1 8 msize=8",
    ucrt: "getenv.cpp: calloc(len+1, 1) under the environment lock",
  },
  "dupenv_unset": {
    expect: "0 NULL 0",
    ucrt: "an unset variable: 0, *buffer NULL, *count 0",
  },
  "wdupenv": { expect: "0 ok=1 8", ucrt: "the wide twin" },
  "dupenv_nullbuf": { expect: "22 errno=22 invalid=1", ucrt: HANDLER },
  "aligned_malloc.align": {
    expect: "1 msize=100",
    ucrt: "align.cpp layout; _aligned_msize = _msize(raw) - header",
  },
  "aligned_realloc.align": {
    expect: "1 data=1 msize=5000",
    ucrt: "align.cpp: the data moves, the alignment holds",
  },
  "aligned_realloc0": {
    expect: "NULL",
    ucrt: "_aligned_realloc(p, 0) frees p",
  },
  "aligned_realloc_null.align": {
    expect: "1",
    ucrt: "_aligned_realloc(NULL) is _aligned_malloc",
  },
  "aligned_msize_badalign": {
    expect: "18 errno=0 invalid=0",
    ucrt:
      "_aligned_msize checks only the pointer, not the alignment: 49 - 8 - 23 = 18",
  },
  "aligned_malloc_badalign": {
    expect: "NULL errno=22 invalid=1",
    ucrt: `IS_2_POW_N; ${HANDLER}`,
    wine: { value: "NULL errno=22 invalid=0", reason: NOT_UCRT_HANDLER },
  },
  "aligned_malloc_align0": {
    expect: "NULL errno=22 invalid=1",
    ucrt: "IS_2_POW_N(0) is false in align.cpp ((X) != 0 && ...)",
    wine: {
      value: "ptr errno=0 invalid=0",
      reason: "Wine's power-of-two test accepts 0 and aligns to 8",
    },
  },
  "aligned_malloc0": {
    expect: "ptr msize=0",
    ucrt: "a zero-size aligned block is a header-only raw block",
  },
  "aligned_msize_null": { expect: "-1 errno=22 invalid=1", ucrt: HANDLER },
  "aligned_offset_malloc.align": {
    expect: "1 msize=100",
    ucrt: "(p + offset) % align == 0",
  },
  "aligned_offset_realloc.align": {
    expect: "1 data=1 msize=300",
    ucrt: "the offset alignment holds across a move",
  },
  "aligned_offset_bad": {
    expect: "NULL errno=22 invalid=1",
    ucrt: `offset must be smaller than size; ${HANDLER}`,
    wine: { value: "NULL errno=22 invalid=0", reason: NOT_UCRT_HANDLER },
  },
  "aligned_recalloc_null.align": {
    expect: "1 zero=1 msize=100",
    ucrt: "_aligned_recalloc(NULL) is a zeroed aligned allocation",
    wine: { value: null, reason: "Wine's _aligned_recalloc aborts" },
  },
  "aligned_recalloc.grow": {
    expect: "data:1 zero:1 msize:200",
    ucrt: "zero-fills from the old _aligned_msize",
    wine: { value: null, reason: "Wine's _aligned_recalloc aborts" },
  },
  "aligned_recalloc_overflow": {
    expect: "NULL errno=12",
    ucrt: "the count*size overflow check: ENOMEM, no handler",
    wine: { value: null, reason: "Wine's _aligned_recalloc aborts" },
  },
  "aligned_offset_recalloc_badalign": {
    expect: "NULL errno=22 invalid=1",
    ucrt:
      "_aligned_msize (no check) then _aligned_offset_realloc's IS_2_POW_N: the handler once",
    wine: { value: null, reason: "Wine's _aligned_offset_recalloc aborts" },
  },
  "aligned_offset_recalloc.align": {
    expect: "1 zero=1 msize=99",
    ucrt: "zeroed, offset-aligned",
    wine: { value: null, reason: "Wine's _aligned_offset_recalloc aborts" },
  },
  "heapmin": {
    expect: "0",
    unverified:
      "UCRT returns HeapCompact(heap) ? 0 : -1, and what Windows' HeapCompact returns depends on the heap's state (the largest free block, 0 for none)",
    wine: {
      value: "-1",
      reason: "Wine's HeapCompact compacts nothing and returns 0",
    },
    dllOnWine: {
      value: "-1",
      reason:
        "the hook answers from HeapCompact on the CRT heap, as UCRT does: Wine's returns 0",
    },
    wineHeap: {
      plain: "-1",
      hooked: "-1",
      reason: "HeapCompact on Wine's heap compacts nothing and returns 0",
    },
  },
  "newhandler": {
    expect: "NULL errno=12 calls=1",
    ucrt:
      "with _set_new_mode(1) a failed malloc calls the handler through _callnewh; it returns 0: ENOMEM",
    wine: {
      value: "NULL errno=12 calls=0",
      reason:
        "Wine's _callnewh never reaches a handler set with _set_new_handler",
    },
    dllOnWine: {
      value: "NULL errno=12 calls=0",
      reason: "the hook calls the target's _callnewh: Wine's",
    },
  },
  "newmode0": {
    expect: "NULL errno=12 calls=0",
    ucrt: "new mode 0: no handler, ENOMEM",
  },
  "old.plain.msize": { expect: "2000", ucrt: "HeapSize, exact" },
  "old.plain.data": { expect: "2000", ucrt: "data intact" },
  "old.plain.expand_same_size": {
    expect: "2000",
    unverified:
      "UCRT: HeapReAlloc(HEAP_REALLOC_IN_PLACE_ONLY) to the same size, or the block itself when an LFH block (<= 16 KiB) is refused; whether Windows ever refuses it for a larger block is not documented",
    wine: {
      value: /^\d+$/,
      reason:
        "Wine's _expand is a bare in-place HeapReAlloc, which Wine's heap refuses for most small blocks (how many varies from run to run); no LFH fallback",
    },
  },
  "old.plain.realloc_or_free": {
    expect: "2000",
    ucrt: "realloc keeps the data; exact new size",
  },
  "old.calloc.zero": { expect: "2000", ucrt: "calloc zeroes" },
  "old.calloc.recalloc": {
    expect: "2000",
    ucrt: "_recalloc zero-fills the growth",
  },
  "old.aligned.msize": { expect: "2000", ucrt: "_aligned_msize exact" },
  "old.aligned.realloc_past_maxreq": {
    expect: "NULL errno=12 calls=0 kept=1",
    ucrt:
      "align.cpp: malloc(reqsz) of a reqsz over _HEAP_MAXREQ is _malloc_base's ENOMEM, before any heap call or new-handler; the block untouched",
    wine: {
      value: "NULL errno=0 calls=0 kept=1",
      reason:
        "Wine's _aligned_offset_realloc has no _HEAP_MAXREQ check: it fails without setting errno",
    },
  },
  "old.aligned.realloc_or_free": {
    expect: "2000",
    ucrt: "alignment and data kept, exact size",
  },
  "old.offset.msize": { expect: "2000", ucrt: "_aligned_msize exact" },
  "old.offset.realloc": {
    expect: "2000",
    ucrt: "offset alignment and data kept",
  },
  "old.strdup.checks": { expect: "4000", ucrt: "malloc(strlen+1), realloc" },
  "old.reallocs": {
    expect: "8834",
    ucrt: "the fixture's fixed sequence: 3 × 2000 + 1334 + 1500",
  },
  "old.expand.shrink_small": {
    expect: "same",
    ucrt:
      "HeapReAlloc in place, or the block itself when the LFH (the process heap's default) refuses a block <= 16 KiB",
    wine: {
      value: "NULL",
      reason: "Wine's heap refuses the in-place shrink; no LFH fallback",
    },
  },
  "old.expand.shrink_mid": {
    expect: "same msize=100",
    unverified:
      "_expand_base asks the heap first (HeapReAlloc in place): where it shrinks the 4000-byte block, _msize says 100; where the LFH refuses, UCRT returns the block, which keeps 4000",
  },
  "old.expand.grow": {
    expect: "NULL errno=12",
    unverified:
      "a refused in-place growth: UCRT takes errno from GetLastError(), which HeapReAlloc does not set",
    wine: {
      value: "NULL errno=0",
      reason: "Wine's _expand is a bare HeapReAlloc: no errno",
    },
  },
  "old.expand.shrink_large": {
    expect: "same",
    unverified:
      "whether Windows' heap shrinks a 21 KiB block in place is not documented; a refusal gives NULL",
  },
  "threads": { expect: "200", ucrt: "200 threads ran" },
  "threads.lasterror_kept": {
    expect: "200",
    ucrt: "a thread's first malloc leaves its last-error value alone",
  },
};

/**
 * Where a 32-bit (x86) UCRT gives something else, because a size or limit
 * is the architecture's: the x64 expectation is replaced field by field.
 */
export const UCRT_X86: Record<string, Partial<Expectation>> = {
  "expand_grow_big": {
    wine: {
      value: "NULL errno=0",
      reason:
        "Wine's 32-bit heap refuses to grow the 100-byte block in place (its 64-bit heap grew it); its _expand sets no errno",
    },
    wineHeap: {
      reason:
        "Wine's 32-bit heap refuses to grow it, so Microsoft's x86 ucrtbase gives the oracle's answer",
    },
  },
  "malloc13.msize": {
    expect: "13 align8=1",
    ucrt:
      "HeapSize is the requested size; x86 heap blocks are 8-aligned (MEMORY_ALLOCATION_ALIGNMENT)",
  },
};

/** Every line's expectation for `arch`. */
export function expectations(
  arch: "x64" | "x86" = "x64",
): Record<string, Expectation> {
  if (arch === "x64") return UCRT;
  const out: Record<string, Expectation> = { ...UCRT };
  for (const [k, e] of Object.entries(UCRT_X86)) {
    out[k] = { ...UCRT[k], ...e };
  }
  return out;
}

/** The fixture's lines as key → value (`ready`, `inject-now`, `done` left out). */
export function values(lines: string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const l of lines) {
    const i = l.indexOf("=");
    if (i < 0) continue;
    out.set(l.slice(0, i), l.slice(i + 1));
  }
  return out;
}

/** A plain run (no DLL) or one with the hooks live. */
export type RunKind = "plain" | "hooked";

/**
 * What a line must read in a run of `kind` on the ucrtbase under test
 * (tests/win/harness.ts's UCRT_UNDER_TEST; the run's own `crt` line must
 * agree), or undefined where no value is settled: natively on Windows, an
 * `unverified` line is the heap's to answer, and is only printed.
 */
function wanted(
  e: Expectation,
  kind: RunKind,
): string | RegExp | null | undefined {
  if (UCRT_UNDER_TEST === "wine") {
    return kind === "plain"
      ? (e.wine !== undefined ? e.wine.value : e.expect)
      : (e.dllOnWine?.value ?? e.expect);
  }
  if (!UNDER_WINE) return e.unverified ? undefined : e.expect;
  // Microsoft's CRT under Wine still sits on Wine's heap
  return (kind === "plain" ? e.wineHeap?.plain : e.wineHeap?.hooked) ??
    e.expect;
}

/**
 * Mismatches between a run's lines and the oracle of `arch` for a `run` of
 * that kind, on the ucrtbase under test (its `crt` line included). Keys
 * starting with `hs.` are heapshift's own, checked elsewhere.
 */
export function mismatches(
  got: Map<string, string>,
  run: RunKind,
  arch: "x64" | "x86" = "x64",
): string[] {
  const out: string[] = [];
  const oracle = expectations(arch);
  for (const [key, e] of Object.entries(oracle)) {
    const want = wanted(e, run);
    if (want === undefined) {
      console.log(`unverified ${key}: ${got.get(key) ?? "(absent)"}`);
      continue;
    }
    const have = got.get(key) ?? null;
    const ok = want instanceof RegExp
      ? have !== null && want.test(have)
      : have === want;
    if (!ok) {
      out.push(`${key}: got ${have ?? "(absent)"}, want ${want ?? "(absent)"}`);
    }
  }
  for (const key of got.keys()) {
    if (!key.startsWith("hs.") && !(key in oracle)) {
      out.push(`${key}: a line the oracle does not know`);
    }
  }
  return out;
}

/** The lines whose Windows value is not settled, with the reason. */
export function unverified(): string[] {
  return Object.entries(UCRT).filter(([, e]) => e.unverified)
    .map(([k, e]) => `${k}: ${e.unverified}`);
}

// ---- runs with the hooks live -------------------------------------------

/** One run of tests/fixtures/dll_conformance.c. */
export interface Run {
  mode: string;
  arch: Arch;
  lines: string[];
  code: number;
  v: Map<string, string>;
}

/** A run ended well: exit code 0, "done" last. */
export function assertFinished(run: Run): void {
  const all = run.lines.join("\n");
  assertEquals(run.code, 0, `${run.mode}: exit code ${run.code}\n${all}`);
  assertEquals(run.lines.at(-1), "done", `${run.mode}: did not finish\n${all}`);
}

/** Every line of a run is what UCRT gives, as a run of kind `as` shows it. */
export function assertUcrt(run: Run, as: RunKind): void {
  assertEquals(mismatches(run.v, as, run.arch), [], `${run.mode}: not UCRT`);
}

/** `hs.X=a:1 b:2` → {a: 1, b: 2}. */
export function fields(run: Run, key: string): Record<string, number> {
  const line = run.v.get(key);
  assert(line !== undefined, `${run.mode}: no ${key} line`);
  const out: Record<string, number> = {};
  for (const m of line.matchAll(/(\w+):(\w+)/g)) {
    out[m[1]] = m[1] === "magic" ? parseInt(m[2], 16) : Number(m[2]);
  }
  return out;
}

/** A line's value as a number. */
export function num(run: Run, key: string): number {
  const v = run.v.get(key);
  assert(v !== undefined, `${run.mode}: no ${key} line`);
  return Number(v);
}

/** Old blocks released in the old-block section: five families × 2000. */
export const OLD_RELEASES = 5 * 2000;

/** heapshift's own lines of a run with the hooks live. */
export function assertHooked(run: Run, oldBlocks: "old" | "new"): void {
  assertEquals(run.v.get("hs.state"), "1");
  assertEquals(run.v.get("hs.malloc_is_mimalloc"), "1");
  assertEquals(
    run.v.get("hs.old_block_is_mimalloc"),
    oldBlocks === "old" ? "0" : "1",
  );
  // Every hooked family ends in mimalloc, patched or not.
  const owned = [...run.v].filter(([k]) => k.startsWith("hs.owned."));
  assert(owned.length >= 37, `families: ${owned.length}`);
  for (const [k, v] of owned) {
    const optional = k.startsWith("hs.owned._o_");
    // Microsoft's _o__dupenv_s (10.0.17134) finds no variable, with or
    // without heapshift (checked with a program of its own), which leaves
    // the dupenv family unpatched
    const blockless = optional && k.includes("dupenv_s") &&
      run.v.get("crt") === "microsoft";
    assert(
      v === "1" || (optional && v === "absent") || (blockless && v === "none"),
      `${k}=${v}`,
    );
  }
  assertEquals(run.v.get("hs.owned._o_malloc"), "1");
  // _heapmin reaches mimalloc: the freed huge block's memory goes back.
  assertEquals(run.v.get("hs.heapmin.before"), "committed");
  assert(
    ["reserved", "free"].includes(run.v.get("hs.heapmin.after") ?? ""),
    `after _heapmin: ${run.v.get("hs.heapmin.after")}`,
  );
  assertEquals(run.v.get("hs.freelibrary.still_loaded"), "1");
  assertEquals(run.v.get("hs.freelibrary.malloc_works"), "1");
  // Exactly the _expand calls that returned NULL on a valid block count
  // as rejects: expand_grow_big and old.expand.grow.
  assertEquals(num(run, "hs.expand_nulls"), 2);
  assertEquals(fields(run, "hs.run.counters").expand_rejects, 2);
  const s = fields(run, "hs.stats");
  assertEquals(s.magic, 0x54534853);
  assertEquals(s.layout, 1);
  assertEquals(s.state, 1);
  assert(s.names >= 20, `hooked names: ${s.names}`);
  assert(s.live_ms > 1_600_000_000_000, `live_ms ${s.live_ms}`);
}

/** The old-block section's counters when every old block is migrated. */
export function assertMigrated(run: Run): void {
  const reallocs = num(run, "old.reallocs");
  assertEquals(num(run, "hs.old.reallocs_owned"), reallocs);
  // Each realloc kind allocates one mimalloc block, releases its old block
  // and later frees the new one; the other old blocks are freed directly.
  assertEquals(fields(run, "hs.old.counters"), {
    allocs: reallocs,
    frees: reallocs + OLD_RELEASES,
    frees_old: OLD_RELEASES,
    migrations: reallocs,
    migrated_bytes: num(run, "hs.old.carried_bytes"),
    expand_rejects: 0,
  });
}
