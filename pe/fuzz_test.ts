// Mutates and truncates PE files (synthetic ones, crafted amplifiers, the
// built Windows fixtures and the Windows deno.exe when present) with a fixed seed: the
// reader and patcher may only throw PeFormatError (or PePatchError for a
// valid file they cannot patch), each call returns within CALL_MS, every
// output they produce must parse, and a failed file-level patch must write
// nothing. The record heapshift's section keeps of a patch is damaged too,
// with values that fit the file (so the undo is tried), since it is what a
// removal trusts.

import assert from "node:assert/strict";
import { PeFormatError, PePatchError } from "./errors.ts";
import { DIR, readHeaders } from "./headers.ts";
import { patchImportsBytes } from "./patch.ts";
import { removeImportBytes } from "./remove.ts";
import { imports, readPe } from "./reader.ts";
import { bytesSource } from "./source.ts";
import { patchImports, removeImport } from "./write.ts";
import { buildPe } from "./_test_pe.ts";
import { amplifiers } from "./_test_crafted.ts";
import { builtFixtures, windowsDenoExe } from "./_objdump_test_util.ts";
import { headerHash } from "./_marker.ts";
import { mapRva } from "./_rva.ts";
import { put32, u32 } from "./_read.ts";

const SEED = 0x5eed1234;
const CASES = 2000;
const DENO_CASES = 40;
const UNDO_CASES = 1000;
const RECORD_CASES = 1500;
/**
 * Most one call may take: far above what any takes (milliseconds), far
 * below a blow-up (a loop over a crafted count), with room for a loaded
 * machine.
 */
const CALL_MS = 5000;

function rng(seed: number): () => number {
  // mulberry32
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Regions where a mutation is likely to hit a structure the reader uses. */
function hotRanges(b: Uint8Array): [number, number][] {
  const ranges: [number, number][] = [[0, Math.min(b.length, 0x400)]];
  try {
    const info = readPe(bytesSource(b), { symbols: false });
    const h = info.headers;
    ranges.push([0, h.sizeOfHeaders]);
    // Where a thunk array or name lies in the file, 64 bytes of it.
    const at = (rva: number): void => {
      try {
        const o = mapRva(h, rva, 1, "fuzz");
        ranges.push([o, Math.min(b.length, o + 64)]);
      } catch { /* not in the file */ }
    };
    for (const d of [...info.imports, ...info.delayImports]) {
      ranges.push([d.descriptorOffset, d.descriptorOffset + 32]);
      for (const rva of [d.lookupRva, d.iatRva, d.nameRva]) if (rva) at(rva);
    }
    for (const d of info.debug) {
      ranges.push([d.entryOffset, d.entryOffset + 28]);
    }
    for (const i of [0, 1, 6, 13]) {
      const dir = h.dataDirectories[i];
      if (!dir || !dir.rva) continue;
      for (const s of h.sections) {
        if (
          dir.rva >= s.virtualAddress &&
          dir.rva < s.virtualAddress + s.sizeOfRawData
        ) {
          const o = s.pointerToRawData + dir.rva - s.virtualAddress;
          ranges.push([
            o,
            Math.min(o + 4096, s.pointerToRawData + s.sizeOfRawData),
          ]);
        }
      }
    }
  } catch { /* seeds are valid */ }
  return ranges;
}

const INTERESTING = [
  0,
  1,
  0x7f,
  0x80,
  0xff,
  0xffff,
  0x7fffffff,
  0x80000000,
  0xffffffff,
  0x1000,
  0x200,
];

type Mutation = { at: number; old: Uint8Array };

/** Applies 1–4 random mutations in place; returns them for undoing. */
function mutate(
  b: Uint8Array,
  hot: [number, number][],
  r: () => number,
): Mutation[] {
  const done: Mutation[] = [];
  const n = 1 + Math.floor(r() * 4);
  for (let i = 0; i < n; i++) {
    const [lo, hi] = r() < 0.85
      ? hot[Math.floor(r() * hot.length)]
      : [0, b.length];
    const at = lo + Math.floor(r() * Math.max(1, hi - lo - 4));
    if (at + 4 > b.length) continue;
    done.push({ at, old: b.slice(at, at + 4) });
    const kind = r();
    if (kind < 0.4) {
      b[at] ^= 1 << Math.floor(r() * 8);
    } else if (kind < 0.8) {
      const v = INTERESTING[Math.floor(r() * INTERESTING.length)];
      new DataView(b.buffer, b.byteOffset).setUint32(at, v >>> 0, true);
    } else {
      const v = Math.floor(r() * 2 ** 32);
      new DataView(b.buffer, b.byteOffset).setUint32(at, v, true);
    }
  }
  return done;
}

function undo(b: Uint8Array, m: Mutation[]): void {
  for (const x of m.reverse()) b.set(x.old, x.at);
}

interface Tally {
  ok: number;
  format: number;
  patch: number;
}

/** Throws unless `fn` returned or threw within CALL_MS. */
function bounded(label: string, fn: () => void): void {
  const t = performance.now();
  try {
    fn();
  } finally {
    const ms = performance.now() - t;
    assert.ok(ms < CALL_MS, `${label}: took ${ms.toFixed(0)} ms`);
  }
}

/** Runs `fn`, counting its outcome; only typed errors are allowed. */
function counted(label: string, tally: Tally, fn: () => void): void {
  try {
    bounded(label, fn);
    tally.ok++;
  } catch (e) {
    if (e instanceof PeFormatError) tally.format++;
    else if (e instanceof PePatchError) tally.patch++;
    else throw new Error(`${label}: unexpected ${e}`, { cause: e });
  }
}

/** Only a typed error (or none) from `fn`, within CALL_MS. */
function typedOnly(label: string, fn: () => void): void {
  try {
    bounded(label, fn);
  } catch (e) {
    if (e instanceof PeFormatError || e instanceof PePatchError) return;
    throw new Error(`${label}: unexpected ${e}`, { cause: e });
  }
}

/**
 * Runs the reader and the patcher on one input, checking the contract;
 * with `options.others` (default true) also the other edits, moving a DLL
 * first and taking one out (each renders the whole file again).
 */
function check(
  input: Uint8Array,
  label: string,
  options: { tally: Tally; others?: boolean },
): void {
  const { tally } = options;
  let names: string[] = [];
  counted(label, tally, () => {
    names = readPe(bytesSource(input)).imports.map((d) => d.dll);
    const r = patchImportsBytes(input);
    const after = readPe(bytesSource(r.bytes));
    assert.equal(after.imports[0]?.dll.toLowerCase(), "heapshift.dll", label);
    if (r.action === "added") {
      const u = removeImportBytes(r.bytes);
      assert.equal(u.action, "removed", label);
      readPe(bytesSource(u.bytes));
    }
  });
  // The other ways in: moving a DLL it imports first, taking one out.
  const last = names[names.length - 1];
  if (last === undefined || options.others === false) return;
  typedOnly(`${label}: move`, () => {
    readPe(bytesSource(patchImportsBytes(input, { dll: last }).bytes));
  });
  typedOnly(`${label}: remove foreign`, () => {
    const u = removeImportBytes(input, { dll: last, allowForeign: true });
    readPe(bytesSource(u.bytes));
  });
}

/** `imports()`, which reads the import data only: typed errors only. */
async function importsOnly(input: Uint8Array, label: string): Promise<void> {
  const t = performance.now();
  try {
    await imports(input);
  } catch (e) {
    if (!(e instanceof PeFormatError)) {
      throw new Error(`${label}: imports: unexpected ${e}`, { cause: e });
    }
  }
  const ms = performance.now() - t;
  assert.ok(ms < CALL_MS, `${label}: imports took ${ms.toFixed(0)} ms`);
}

/**
 * Patches `input` in place in `at.dir`: a failure leaves the file as it
 * was and nothing beside it (no backup, no temporary file).
 */
async function inPlace(
  input: Uint8Array,
  at: { dir: string; label: string },
): Promise<void> {
  const exe = `${at.dir}/p.exe`;
  await Deno.writeFile(exe, input);
  try {
    await patchImports(exe, { inPlace: true });
  } catch (e) {
    assert.ok(
      e instanceof PeFormatError || e instanceof PePatchError,
      `${at.label}: in place: ${e}`,
    );
    assert.deepEqual(await Deno.readFile(exe), input, `${at.label}: written`);
    assert.deepEqual(
      [...Deno.readDirSync(at.dir)].map((e) => e.name),
      ["p.exe"],
      `${at.label}: files left`,
    );
  }
  for (const e of [...Deno.readDirSync(at.dir)]) {
    await Deno.remove(`${at.dir}/${e.name}`);
  }
}

/**
 * Runs `cases` cases with a temporary directory for the file-level ones
 * (which must leave nothing behind), then checks and prints the tally:
 * some cases pass, some are refused (by default with a PeFormatError).
 */
async function fuzz(
  what: { name: string; cases: number; refused?: "format" | "patch" },
  fn: (c: number, t: { dir: string; tally: Tally }) => Promise<void>,
): Promise<void> {
  const tally: Tally = { ok: 0, format: 0, patch: 0 };
  const dir = await Deno.makeTempDir();
  try {
    for (let c = 0; c < what.cases; c++) await fn(c, { dir, tally });
    assert.deepEqual([...Deno.readDirSync(dir)], [], "no stray files");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  console.log(
    `${what.name}: ${tally.ok} done, ${tally.format} PeFormatError, ${tally.patch} PePatchError`,
  );
  assert.equal(tally.ok + tally.format + tally.patch, what.cases);
  assert.ok(
    tally.ok > 0 && tally[what.refused ?? "format"] > 0,
    JSON.stringify(tally),
  );
}

function seeds(): [string, Uint8Array][] {
  const out: [string, Uint8Array][] = [
    [
      "synthetic PE32+",
      buildPe({ exports: { dll: "a.exe", names: ["x", "y"] }, debug: true }),
    ],
    [
      "synthetic PE32",
      buildPe({
        format: "PE32",
        delayImports: [{ dll: "d.dll", symbols: ["f", 2] }],
      }),
    ],
    [
      "synthetic overlay",
      buildPe({
        overlay: new Uint8Array(40).fill(1),
        symbols: 3,
        certificate: 32,
      }),
    ],
    [
      "synthetic bound",
      buildPe({
        bound: true,
        extraSections: 1,
        noLookupTable: true,
        format: "PE32",
      }),
    ],
  ];
  // Crafted files that amplify (one name behind 65,535 entries, …).
  for (const a of amplifiers()) out.push([`crafted: ${a.label}`, a.bytes]);
  for (const path of builtFixtures()) {
    const b = Deno.readFileSync(path);
    if (b.length <= 4 << 20) {
      out.push([`fixture ${path.slice(path.lastIndexOf("/") + 1)}`, b]);
    }
  }
  return out;
}

Deno.test(`fuzz: ${CASES} mutated and truncated PE files only give typed errors`, async () => {
  const r = rng(SEED);
  const all = seeds();
  const hot = all.map(([, seed]) => hotRanges(seed));
  await fuzz({ name: "fuzz", cases: CASES }, async (c, { dir, tally }) => {
    const [name, seed] = all[c % all.length];
    const b = seed.slice();
    const label = `case ${c} (${name})`;
    let input = b;
    if (r() < 0.15) {
      input = b.subarray(0, Math.floor(r() * b.length));
    } else {
      mutate(b, hot[c % all.length], r);
    }
    check(input, label, { tally });
    await importsOnly(input, label);
    // Every 10th case also goes through the file API, and every 10th
    // other one in place.
    if (c % 10 === 5) await inPlace(input, { dir, label });
    if (c % 10 === 0) {
      const exe = `${dir}/c${c}.exe`;
      const out = `${dir}/c${c}.out.exe`;
      await Deno.writeFile(exe, input);
      try {
        await patchImports(exe, { output: out });
      } catch (e) {
        assert.ok(
          e instanceof PeFormatError || e instanceof PePatchError,
          `${label}: ${e}`,
        );
        assert.throws(
          () => Deno.statSync(out),
          Deno.errors.NotFound,
          `${label}: output written`,
        );
      }
      await Deno.remove(exe);
      await Deno.remove(out).catch(() => {});
    }
  });
});

Deno.test({
  name:
    `fuzz: ${DENO_CASES} mutations of the Windows deno.exe only give typed errors`,
  fn: async () => {
    const r = rng(SEED ^ 0xdeadbeef);
    const b = await Deno.readFile(windowsDenoExe());
    readHeaders(bytesSource(b));
    const hot = hotRanges(b);
    // Every case ends in one of the three outcomes, and the mutations reach
    // the structures the reader checks (some are refused) without stopping
    // every file (some still patch).
    const name = "deno.exe fuzz";
    await fuzz({ name, cases: DENO_CASES }, (c, { tally }) => {
      const label = `deno case ${c}`;
      if (r() < 0.2) {
        const cut = b.subarray(0, Math.floor(r() * b.length));
        check(cut, label, { tally, others: false });
        return Promise.resolve();
      }
      const m = mutate(b, hot, r);
      try {
        check(b, label, { tally, others: false });
      } finally {
        undo(b, m);
      }
      return Promise.resolve();
    });
  },
});

/** The seeds that patch, patched. */
function patchedSeeds(): (readonly [string, Uint8Array])[] {
  const patched = seeds().flatMap(([name, b]) => {
    try {
      const p = patchImportsBytes(b);
      return p.action === "added" ? [[name, p.bytes] as const] : [];
    } catch {
      return []; // crafted seeds do not patch
    }
  });
  assert.ok(patched.length >= 4, `${patched.length} patched seeds`);
  return patched;
}

/** Hot ranges of a patched file, with heapshift's section (its record). */
function patchedHotRanges(b: Uint8Array): [number, number][] {
  const h = readHeaders(bytesSource(b));
  const ours = h.sections[h.sections.length - 1];
  return [
    ...hotRanges(b),
    [ours.pointerToRawData, ours.pointerToRawData + 64],
    [ours.pointerToRawData, ours.pointerToRawData + ours.sizeOfRawData],
  ];
}

Deno.test(`fuzz: ${UNDO_CASES} mutated patched files: removal only gives typed errors`, async () => {
  const r = rng(SEED ^ 0x0badcafe);
  const patched = patchedSeeds();
  const hot = patched.map(([, seed]) => patchedHotRanges(seed));
  const name = "undo fuzz";
  await fuzz({ name, cases: UNDO_CASES }, async (c, { dir, tally }) => {
    const [seedName, seed] = patched[c % patched.length];
    const b = seed.slice();
    mutate(b, hot[c % patched.length], r);
    const label = `undo case ${c} (${seedName})`;
    counted(label, tally, () => {
      readPe(bytesSource(removeImportBytes(b).bytes));
    });
    if (c % 10 === 0) {
      const exe = `${dir}/u${c}.exe`;
      await Deno.writeFile(exe, b);
      try {
        await removeImport(exe, { inPlace: true, backup: false });
      } catch (e) {
        assert.ok(
          e instanceof PeFormatError || e instanceof PePatchError,
          `${label}: ${e}`,
        );
        assert.deepEqual(await Deno.readFile(exe), b, `${label}: written`);
      }
      await Deno.remove(exe);
    }
  });
});

/** The record's words (after its magic and version): see _marker.ts. */
const RECORD_WORDS = 14;
const INSERTED_AT = 4;
const HEADER_SHIFT = 7;
const FIRST_RAW = 8;
const HEADER_HASH = 9;
const COPY_OFFSET = 10;

/**
 * Damages the record of the patched file `b` in place with values that
 * fit the file (offsets of its headers, sections and end), so that the
 * undo gets past the record's first checks; moves the debug directory
 * into the headers (which the undo moves); edits the header copy; and
 * mostly makes the hash of the headers match, so that the exact undo, which
 * puts the copy back, is tried.
 */
function damageRecord(b: Uint8Array, r: () => number): void {
  const h = readHeaders(bytesSource(b));
  const ours = h.sections[h.sections.length - 1];
  const m = ours.pointerToRawData;
  const word = (i: number) => m + 8 + i * 4;
  const tableEnd = h.sectionTableOffset + (h.sections.length - 1) * 40;
  const fits = [
    0,
    28,
    tableEnd,
    tableEnd + 40,
    h.sizeOfHeaders,
    m,
    m + ours.sizeOfRawData,
    ours.sizeOfRawData,
    b.length,
    ...h.sections.map((s) => s.pointerToRawData),
    ...Array.from({ length: RECORD_WORDS }, (_, i) => u32(b, word(i))),
  ];
  const pick = () => {
    const v = fits[Math.floor(r() * fits.length)];
    return r() < 0.3 ? (v + Math.floor(r() * 64) - 32) >>> 0 : v;
  };
  const n = 1 + Math.floor(r() * 4);
  for (let i = 0; i < n; i++) {
    put32(b, word(Math.floor(r() * RECORD_WORDS)), pick());
  }
  if (r() < 0.2) b[m + 6] = 1; // version 1: no header copy
  if (r() < 0.3) {
    const entry = h.sizeOfHeaders - 28 * (1 + Math.floor(r() * 8));
    if (entry >= tableEnd + 40) {
      put32(b, h.dataDirectoryOffset + DIR.DEBUG * 8, entry);
      put32(b, h.dataDirectoryOffset + DIR.DEBUG * 8 + 4, 28);
      put32(b, entry + 24, pick()); // PointerToRawData
    }
  }
  const copy = u32(b, word(COPY_OFFSET));
  if (r() < 0.2 && copy + 4 < ours.sizeOfRawData) {
    const span = Math.min(0x400, ours.sizeOfRawData - copy - 4);
    put32(b, m + copy + Math.floor(r() * span), pick());
  }
  const end = u32(b, word(FIRST_RAW)) + u32(b, word(HEADER_SHIFT));
  if (r() < 0.7 && end <= b.length) {
    const checksumAt = h.optionalHeaderOffset + 64;
    put32(b, word(HEADER_HASH), headerHash(b.subarray(0, end), checksumAt));
  }
  if (r() < 0.1) put32(b, word(INSERTED_AT), pick());
}

Deno.test(`fuzz: ${RECORD_CASES} damaged records of heapshift's section: removal only gives typed errors`, async () => {
  const r = rng(SEED ^ 0x4ec04d);
  const patched = patchedSeeds();
  const name = "record fuzz";
  await fuzz(
    { name, cases: RECORD_CASES, refused: "patch" },
    async (c, { dir, tally }) => {
      const [seedName, seed] = patched[c % patched.length];
      const b = seed.slice();
      damageRecord(b, r);
      const label = `record case ${c} (${seedName})`;
      counted(label, tally, () => {
        readPe(bytesSource(removeImportBytes(b).bytes));
      });
      if (c % 10 === 0) {
        const exe = `${dir}/r${c}.exe`;
        await Deno.writeFile(exe, b);
        try {
          await removeImport(exe, { inPlace: true });
        } catch (e) {
          assert.ok(
            e instanceof PeFormatError || e instanceof PePatchError,
            `${label}: ${e}`,
          );
          assert.deepEqual(await Deno.readFile(exe), b, `${label}: written`);
          assert.deepEqual(
            [...Deno.readDirSync(dir)].map((e) => e.name),
            [`r${c}.exe`],
            `${label}: files left`,
          );
        }
        for (const e of [...Deno.readDirSync(dir)]) {
          await Deno.remove(`${dir}/${e.name}`);
        }
      }
    },
  );
});
