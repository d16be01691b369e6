import assert from "node:assert/strict";
import { HeapshiftError } from "./heapshift_error.ts";
import {
  type HeapshiftStats,
  mimallocVersion,
  parseStats,
  reasonMayPass,
  STATS_LAYOUT,
  STATS_MAGIC,
  STATS_SIZE,
  statsOwner,
} from "./stats_block.ts";

function block(edit: (v: DataView) => void): Uint8Array {
  const b = new Uint8Array(STATS_SIZE);
  const v = new DataView(b.buffer);
  v.setUint32(0, STATS_MAGIC, true);
  v.setUint32(4, 1, true);
  v.setUint32(8, STATS_SIZE, true);
  v.setUint32(36, 1024, true);
  v.setUint32(40, 4096, true);
  v.setUint32(44, 128, true);
  v.setUint32(48, 4096 - 128, true);
  edit(v);
  return b;
}

/** Asserts `fn` throws a HeapshiftError whose message includes `text`. */
function throwsHeapshift(fn: () => unknown, text: string): HeapshiftError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof HeapshiftError, `expected HeapshiftError, got ${e}`);
    assert.ok(e.message.includes(text), `${e.message} lacks ${text}`);
    return e;
  }
  throw new assert.AssertionError({ message: "expected a HeapshiftError" });
}

Deno.test("parseStats: states, versions and refusals", () => {
  const s = parseStats(
    9,
    block((v) => {
      v.setUint32(12, 3, true);
      v.setUint32(72, 10, true);
      v.setUint32(52, 156, true);
      v.setUint32(20, 212, true);
      v.setUint32(24, 0x010203, true);
    }),
  );
  assert.equal(s.state, "failed");
  assert.equal(s.reason, "thread-suspend");
  assert.equal(s.error, 156);
  assert.equal(s.mimallocVersion, "2.1.2");
  assert.equal(s.dllVersion, "1.2.3");
  assert.equal(s.liveSince, null);
  assert.deepEqual(s.hooked, []);
  assert.equal(s.counters.allocs, 0);

  const e = throwsHeapshift(
    () => parseStats(9, block((v) => v.setUint32(0, 0, true))),
    "Cannot read heapshift's stats of process 9: the block is not initialised",
  );
  assert.equal(e.kind, "failed");
  throwsHeapshift(
    () => parseStats(9, block((v) => v.setUint32(4, 2, true))),
    "the block has layout v2, this heapshift reads v1",
  );
  throwsHeapshift(
    () => parseStats(9, block((v) => v.setUint32(40, 8000, true))),
    "offsets are out of range",
  );
  assert.ok(parseStats(9, block(() => {})).state === "loading");
});

Deno.test("parseStats: heapshift's reasons apart from Win32 errors", () => {
  const at = (reason: number, error: number, state = 3) =>
    parseStats(
      9,
      block((v) => {
        v.setUint32(12, state, true);
        v.setUint32(72, reason, true);
        v.setUint32(52, error, true);
      }),
    );
  // Reason 6 is no ERROR_INVALID_HANDLE (6); error 6 is no reason.
  assert.deepEqual([at(6, 0).reason, at(6, 0).error], ["thread-in-site", 0]);
  assert.deepEqual([at(0, 6).reason, at(0, 6).error], [null, 6]);
  assert.equal(at(8, 5).reason, "protect");
  assert.equal(at(14, 0).reason, "tls");
  assert.equal(at(15, 0).reason, "unsafe-site");
  assert.deepEqual([at(16, 5, 1).reason, at(16, 5, 1).error], ["restore", 5]);
  assert.equal(at(17, 0).reason, "foreign-hook");
  assert.equal(at(18, 0).reason, "page-map");
  assert.equal(at(19, 8).reason, "pin");
  assert.equal(at(99, 0).reason, "reason-99");
  // Live, with a problem on the way (hooks live after a failed read-back).
  const live = at(7, 0, 1);
  assert.deepEqual([live.state, live.reason], ["live", "readback"]);
  assert.equal(parseStats(9, block(() => {})).reason, null);
});

Deno.test("parseStats: blocks of other sizes; the owner's creation time", () => {
  // An 8 KiB block with 64 stripes (what heapshift 0.1.0 wrote) still reads.
  const small = new Uint8Array(8192);
  const v = new DataView(small.buffer);
  v.setUint32(0, STATS_MAGIC, true);
  v.setUint32(4, 1, true);
  v.setUint32(8, 8192, true);
  v.setUint32(36, 64, true);
  v.setUint32(40, 4096, true);
  v.setUint32(44, 128, true);
  v.setUint32(48, 4096 - 128, true);
  for (let s = 0; s < 64; s++) v.setBigInt64(4096 + 64 * s, 2n, true);
  assert.equal(parseStats(9, small).counters.allocs, 128);
  assert.equal(statsOwner(small), 0n);
  // Stripe +56 is the owner's thread id, not a counter.
  const owned = block((v) => {
    v.setBigInt64(4096 + 56, 0x1234n, true);
    v.setBigInt64(4096 + 64 * 1023, 5n, true);
    v.setBigUint64(80, 133_000_000_000_000_000n, true);
  });
  assert.equal(parseStats(9, owned).counters.allocs, 5);
  assert.equal(statsOwner(owned), 133_000_000_000_000_000n);
  assert.equal(statsOwner(new Uint8Array(64)), 0n);
});

Deno.test("mimallocVersion() reads v2's and v3's version numbers", () => {
  assert.equal(mimallocVersion(212), "2.1.2");
  assert.equal(mimallocVersion(30401), "3.4.1");
  assert.equal(mimallocVersion(31005), "3.10.5");
});

Deno.test("parseStats: the trimmer's state and counters (offsets 88–127)", () => {
  const s = parseStats(
    9,
    block((v) => {
      v.setUint32(88, 1, true);
      v.setUint32(92, 87, true);
      v.setBigUint64(96, 12n, true);
      v.setBigUint64(104, 5n * 2n ** 32n, true);
      v.setUint32(112, 40, true);
      v.setUint32(116, 900, true);
      v.setUint32(120, 2048, true);
      v.setUint32(124, 512, true);
    }),
  );
  assert.deepEqual(s.trim, {
    state: "walk",
    error: 87,
    passes: 12,
    resetBytes: 5 * 2 ** 32,
    chunks: 40,
    holdMaxUs: 900,
    busyKiB: 2048,
    freeKiB: 512,
  });
  const state = (n: number) =>
    parseStats(9, block((v) => v.setUint32(88, n, true))).trim.state;
  assert.deepEqual([0, 2, 4, 8, 9, 99].map(state), [
    "none",
    "optimize",
    "debug-heap",
    "small-heap",
    "free-reset",
    "state-99",
  ]);
});

/** The C side of the layout: the hook DLL's dll/heapshift_stats.h. */
const C_HEADER = Deno.readTextFileSync(
  new URL("../dll/heapshift_stats.h", import.meta.url),
);

/** The members of `enum name` in the C header, with their values. */
function cEnum(name: string): [string, number][] {
  const body = new RegExp(`enum ${name} \\{([^}]*)\\}`).exec(C_HEADER)?.[1];
  assert.ok(body, `dll/heapshift_stats.h declares enum ${name}`);
  let next = 0;
  return body.replace(/\/\*[\s\S]*?\*\//g, "").split(",")
    .map((m) => m.trim()).filter((m) => m !== "")
    .map((m) => {
      const [id, value] = m.split("=").map((x) => x.trim());
      if (value !== undefined) next = Number(value);
      return [id, next++];
    });
}

/** `#define name value` in the C header, as a number. */
function cDefine(name: string): number {
  const value = new RegExp(`#define ${name} (\\w+)`).exec(C_HEADER)?.[1];
  assert.ok(value, `dll/heapshift_stats.h defines ${name}`);
  return Number(value.replace(/u$/, ""));
}

/** The header's field offsets, from the header's HS_STATS_AT checks. */
const C_OFFSETS = new Map(
  [...C_HEADER.matchAll(/^HS_STATS_AT\(([\w.]+), (\d+)\);/gm)]
    .map((m) => [m[1], Number(m[2])]),
);

function cOffset(field: string): number {
  const off = C_OFFSETS.get(field);
  assert.ok(off !== undefined, `dll/heapshift_stats.h places ${field}`);
  return off;
}

const kebab = (id: string, prefix: string) =>
  id.slice(prefix.length).toLowerCase().replaceAll("_", "-");

Deno.test("parseStats reads the layout dll/heapshift_stats.h declares", () => {
  assert.equal(cDefine("HS_STATS_MAGIC"), STATS_MAGIC);
  assert.equal(cDefine("HS_STATS_LAYOUT"), STATS_LAYOUT);
  assert.equal(
    cDefine("HS_STATS_STRIPE_OFFSET") + 64 * cDefine("HS_STATS_STRIPES"),
    STATS_SIZE,
  );
  const read = (field: string, value: number) =>
    parseStats(9, block((v) => v.setUint32(cOffset(field), value, true)));

  for (const [id, n] of cEnum("hs_state")) {
    assert.equal(read("state", n).state, kebab(id, "HS_STATE_"), id);
  }
  // Every reason and trim state has its name, and none more than the C.
  const renamed: Record<string, string> = { HS_R_OVERLAP: "overlapping-sites" };
  const reasons = cEnum("hs_reason").filter(([, n]) => n !== 0);
  for (const [id, n] of reasons) {
    const want = renamed[id] ?? kebab(id, "HS_R_");
    assert.equal(read("reason", n).reason, want, id);
  }
  const pastReasons = reasons.length + 1;
  assert.equal(read("reason", pastReasons).reason, `reason-${pastReasons}`);
  const trims = cEnum("hs_trim_state");
  for (const [id, n] of trims) {
    assert.equal(read("trim.state", n).trim.state, kebab(id, "HS_TRIM_"), id);
  }
  assert.equal(
    read("trim.state", trims.length).trim.state,
    `state-${trims.length}`,
  );

  // The counters, in the C enum's order, at +8 * index in each stripe.
  const counters = cEnum("hs_counter").filter(([id]) => id !== "HS_C_COUNT_");
  const s = parseStats(
    9,
    block((v) => {
      for (const [, n] of counters) {
        v.setBigInt64(
          cDefine("HS_STATS_STRIPE_OFFSET") + 8 * n,
          BigInt(n + 1),
          true,
        );
      }
    }),
  );
  const camel = (id: string) =>
    kebab(id, "HS_C_").replace(/-(\w)/g, (_, c: string) => c.toUpperCase());
  assert.deepEqual(
    Object.entries(s.counters),
    counters.map(([id, n]) => [camel(id), n + 1]),
  );

  // The numeric fields at the C header's offsets.
  const u64 = new Set(["trim.passes", "trim.reset_bytes"]);
  const fields: [string, (s: HeapshiftStats) => number][] = [
    ["pid", (s) => s.pid],
    ["error", (s) => s.error],
    ["patch_sites", (s) => s.patchSites],
    ["trim.error", (s) => s.trim.error],
    ["trim.passes", (s) => s.trim.passes],
    ["trim.reset_bytes", (s) => s.trim.resetBytes],
    ["trim.chunks", (s) => s.trim.chunks],
    ["trim.hold_max_us", (s) => s.trim.holdMaxUs],
    ["trim.busy_kib", (s) => s.trim.busyKiB],
    ["trim.free_kib", (s) => s.trim.freeKiB],
  ];
  const all = parseStats(
    9,
    block((v) =>
      fields.forEach(([field], k) =>
        u64.has(field)
          ? v.setBigUint64(cOffset(field), BigInt(1000 + k), true)
          : v.setUint32(cOffset(field), 1000 + k, true)
      )
    ),
  );
  assert.deepEqual(
    fields.map(([field, get]) => [field, get(all)]),
    fields.map(([field], k) => [field, 1000 + k]),
  );
});

Deno.test("reasonMayPass: the reasons the hook DLL's may_pass retries, no more", () => {
  // dll/entry.c's may_pass lists the HS_R_ codes heapshift_retry tries again.
  const entry = Deno.readTextFileSync(
    new URL("../dll/entry.c", import.meta.url),
  );
  const body = /static BOOL may_pass\(uint32_t reason\) \{([\s\S]*?)\n\}/
    .exec(entry)?.[1];
  assert.ok(body, "dll/entry.c defines may_pass");
  const retried = new Set(
    [...body.matchAll(/case (HS_R_\w+):/g)].map((m) => m[1]),
  );
  assert.ok(retried.has("HS_R_THREAD_IN_SITE"));
  const renamed: Record<string, string> = { HS_R_OVERLAP: "overlapping-sites" };
  for (const [id, n] of cEnum("hs_reason")) {
    const reason = n === 0 ? null : parseStats(
      9,
      block((v) => v.setUint32(cOffset("reason"), n, true)),
    ).reason;
    assert.equal(reasonMayPass(reason), retried.has(id), id);
    assert.ok(n === 0 || reason === (renamed[id] ?? kebab(id, "HS_R_")), id);
  }
});

Deno.test("parseStats: a time no Date can hold reads as none (a forged or damaged block), not an Invalid Date that fails to print", () => {
  const s = parseStats(
    9,
    block((v) => v.setBigUint64(56, 0xffff_ffff_ffff_fff0n, true)),
  );
  assert.equal(s.liveSince, null);
  const ok = parseStats(
    9,
    block((v) => v.setBigUint64(56, 1_700_000_000_000n, true)),
  );
  assert.equal(ok.liveSince?.getTime(), 1_700_000_000_000);
});

Deno.test("parseStats: names that are no C identifiers (a forged block's terminal escapes) make the block unreadable", () => {
  const named = (text: string) =>
    block((v) => {
      v.setUint32(28, 2, true);
      new Uint8Array(v.buffer).set(new TextEncoder().encode(text), 128);
    });
  assert.deepEqual(parseStats(9, named("malloc\0_aligned_free\0")).hooked, [
    "malloc",
    "_aligned_free",
  ]);
  const e = throwsHeapshift(
    () => parseStats(9, named("malloc\0\x1b[2J\0")),
    "the block's names of hooked functions are not function names",
  );
  assert.equal(e.kind, "failed");
});
