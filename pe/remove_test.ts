// Removal of a patch whose record (heapshift's section) no longer fits the
// file: a typed error naming the fix, never a crash of the editor.

import assert from "node:assert/strict";
import { PePatchError } from "./errors.ts";
import { DIR, readHeaders } from "./headers.ts";
import { patchImportsBytes } from "./patch.ts";
import { removeImportBytes } from "./remove.ts";
import { readPe } from "./reader.ts";
import { bytesSource } from "./source.ts";
import { removeImport } from "./write.ts";
import { put32 } from "./_read.ts";
import { buildPe } from "./_test_pe.ts";
import { withDir } from "./_test_dir.ts";

/** The record's fields (after its 8-byte magic and version), by name. */
const FIELD = {
  insertedAt: 4,
  sizeOfImage: 5,
  headerShift: 7,
  firstRaw: 8,
} as const;

/** A patched file and the file offset of its record. */
function patched(): { bytes: Uint8Array; record: number } {
  const bytes = patchImportsBytes(buildPe()).bytes;
  const h = readHeaders(bytesSource(bytes));
  return { bytes, record: h.sections[h.sections.length - 1].pointerToRawData };
}

/**
 * Asserts that removing the patch from `bytes` is refused with an error
 * `refused` accepts, in memory and in place (naming the file, which stays
 * as it was, with nothing left beside it).
 */
async function assertRefused(
  bytes: Uint8Array,
  refused: (e: unknown) => boolean,
): Promise<void> {
  assert.throws(() => removeImportBytes(bytes), refused);
  await withDir(async (dir) => {
    const exe = `${dir}/game.exe`;
    await Deno.writeFile(exe, bytes);
    await assert.rejects(
      () => removeImport(exe, { inPlace: true }),
      (e) => refused(e) && /game\.exe/.test((e as Error).message),
    );
    assert.deepEqual(await Deno.readFile(exe), bytes, "the file is as it was");
    assert.deepEqual(
      [...Deno.readDirSync(dir)].map((e) => e.name),
      ["game.exe"],
    );
  });
}

Deno.test("a record whose moved range takes a debug entry in the headers is refused, not a crash", async () => {
  const { bytes, record } = patched();
  const h = readHeaders(bytesSource(bytes));
  // The record says the section data began right after the section table
  // and moved to the end of the headers: the headers' tail, where a debug
  // directory now lies, would be dropped with the move.
  const tableEnd = h.sectionTableOffset + (h.sections.length - 1) * 40;
  put32(bytes, record + 8 + FIELD.insertedAt * 4, h.sizeOfHeaders);
  put32(bytes, record + 8 + FIELD.firstRaw * 4, tableEnd);
  put32(
    bytes,
    record + 8 + FIELD.headerShift * 4,
    h.sizeOfHeaders - tableEnd,
  );
  const entry = h.sizeOfHeaders - 0x100;
  put32(bytes, h.dataDirectoryOffset + DIR.DEBUG * 8, entry);
  put32(bytes, h.dataDirectoryOffset + DIR.DEBUG * 8 + 4, 28);
  put32(bytes, entry + 12, 2); // CodeView
  put32(bytes, entry + 16, 24);
  put32(bytes, entry + 24, 0x200); // PointerToRawData, which would move
  const refused = (e: unknown) =>
    e instanceof PePatchError && /record/.test(e.message) &&
    /backup/.test(e.message);
  await assertRefused(bytes, refused);
});

Deno.test("a record that undoes to a file that does not parse is a PePatchError naming the backup, not the input's format error", async () => {
  const { bytes, record } = patched();
  // Headers edited since the patch: undone field by field, with a
  // SizeOfImage of 0 that no image can have.
  const h = readHeaders(bytesSource(bytes));
  bytes[h.optionalHeaderOffset + 40] = 10; // MajorOperatingSystemVersion
  put32(bytes, record + 8 + FIELD.sizeOfImage * 4, 0);
  const refused = (e: unknown) =>
    e instanceof PePatchError && /not be a valid/.test(e.message) &&
    /SizeOfImage/.test(e.message) && /backup/.test(e.message);
  await assertRefused(bytes, refused);
});

Deno.test("removing a second added DLL after the first does not bring the first back", () => {
  const original = buildPe();
  const names = (b: Uint8Array) =>
    readPe(bytesSource(b)).imports.map((d) => d.dll);
  const one = patchImportsBytes(original).bytes;
  const two = patchImportsBytes(one, { dll: "other.dll", allowSecond: true })
    .bytes;
  assert.deepEqual(names(two), [
    "other.dll",
    "heapshift.dll",
    ...names(original),
  ]);
  // The first one out (from the table in place: its section is not last),
  // then the second: its record's import directory, from before it was
  // added, still names the first.
  const three = removeImportBytes(two, { dll: "heapshift.dll" }).bytes;
  assert.deepEqual(names(three), ["other.dll", ...names(original)]);
  const four = removeImportBytes(three, { dll: "other.dll" });
  assert.equal(four.action, "removed");
  assert.deepEqual(names(four.bytes), names(original));
  assert.match(four.warnings.join("\n"), /imports changed since other\.dll/);
});

Deno.test("removing an added DLL keeps a later move of another DLL first", () => {
  const original = buildPe();
  const names = (b: Uint8Array) =>
    readPe(bytesSource(b)).imports.map((d) => d.dll);
  const last = names(original).at(-1)!;
  const patched = patchImportsBytes(original).bytes;
  // The last DLL moved first, then heapshift.dll first again: the headers
  // are the patch's still, the order in its table is not.
  const moved =
    patchImportsBytes(patchImportsBytes(patched, { dll: last }).bytes)
      .bytes;
  const order = names(moved);
  assert.deepEqual(order.slice(0, 2), ["heapshift.dll", last]);
  const removed = removeImportBytes(moved);
  assert.deepEqual(names(removed.bytes), order.slice(1));
});

Deno.test("removing heapshift.dll after a DLL of the program was taken out (allowForeign) does not bring that one back", () => {
  const original = buildPe();
  const names = (b: Uint8Array) =>
    readPe(bytesSource(b)).imports.map((d) => d.dll);
  const patched = patchImportsBytes(original).bytes;
  // What `patch --remove --dll WS2_32.dll --allow-foreign` does.
  const without = removeImportBytes(patched, {
    dll: "WS2_32.dll",
    allowForeign: true,
  }).bytes;
  const kept = names(original).filter((n) => n !== "WS2_32.dll");
  assert.deepEqual(names(without), ["heapshift.dll", ...kept]);
  const removed = removeImportBytes(without);
  assert.deepEqual(names(removed.bytes), kept);
  assert.match(removed.warnings.join("\n"), /imports changed since/);
});

Deno.test("taking a DLL out (allowForeign) of a file whose section holds the headers (a packer's layout) is refused, naming the section", () => {
  // The section maps the file from its first sector, headers included: the
  // import directory's size and the checksum rewritten there would change
  // the section's bytes in memory.
  const b = buildPe();
  const h = readHeaders(bytesSource(b));
  const text = h.sections[0];
  put32(b, text.headerOffset + 8, 0x200); // VirtualSize
  put32(b, text.headerOffset + 16, 0x1f0); // SizeOfRawData
  put32(b, text.headerOffset + 20, 0x10); // PointerToRawData
  assert.throws(
    () => removeImportBytes(b, { dll: "WS2_32.dll", allowForeign: true }),
    (e: unknown) => {
      assert.ok(e instanceof PePatchError, String(e));
      assert.match(
        e.message,
        /^section 0 \("\.text"\) has its raw data at 0x10, inside the headers \(SizeOfHeaders 0x200\), as packers lay files out: Windows maps those header bytes into the section, so an edit that rewrites the headers would change the program\./,
      );
      return true;
    },
  );
  // Nothing to take out is no edit: said so, as for any file.
  assert.equal(removeImportBytes(b).changed, false);
});
