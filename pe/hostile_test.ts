// Crafted files that used to exhaust memory or time, and images the hook
// DLL cannot serve: each ends in a typed error naming its cause. The
// budget makes them cheap; how cheap (the target is under a second each)
// is measured by `deno task bench-pe`. The bound here only catches a
// return of the blow-up (minutes, or out of memory), with room for a
// loaded machine.

import assert from "node:assert/strict";
import { PeFormatError, PePatchError } from "./errors.ts";
import { readHeaders } from "./headers.ts";
import { patchImportsBytes } from "./patch.ts";
import { imports, readPe } from "./reader.ts";
import { removeImportBytes } from "./remove.ts";
import { bytesSource } from "./source.ts";
import { patchImports, removeImport } from "./write.ts";
import { put16, put32 } from "./_read.ts";
import {
  amplifiers,
  craftPe,
  dotnetImage,
  importsBody,
  manyDataSections,
  manySections,
} from "./_test_crafted.ts";
import { buildPe } from "./_test_pe.ts";

/** Far above what these take (see bench-pe), far below the old blow-up. */
const BLOWUP_MS = 10_000;

/** Runs `fn` and returns what it threw (or undefined) and how long it took. */
async function timed(
  fn: () => unknown,
): Promise<{ error: unknown; ms: number }> {
  const t = performance.now();
  try {
    await fn();
    return { error: undefined, ms: performance.now() - t };
  } catch (e) {
    return { error: e, ms: performance.now() - t };
  }
}

for (const shape of amplifiers()) {
  Deno.test(`a crafted file is a PeFormatError, not a blow-up: ${shape.label}`, async () => {
    const dir = await Deno.makeTempDir();
    try {
      const exe = `${dir}/crafted.exe`;
      await Deno.writeFile(exe, shape.bytes);
      const paths: [string, () => unknown, boolean][] = [
        ["imports with functions", () => imports(shape.bytes), shape.inImports],
        ["imports of the file", () => imports(exe), shape.inImports],
        ["patch", () => patchImportsBytes(shape.bytes), true],
        ["remove", () => removeImportBytes(shape.bytes), true],
        ["patch the file", () => patchImports(exe), true],
        ["remove in place", () => removeImport(exe, { inPlace: true }), true],
      ];
      for (const [what, fn, fails] of paths) {
        const { error, ms } = await timed(fn);
        if (fails || error) {
          assert.ok(
            error instanceof PeFormatError,
            `${what}: expected a PeFormatError, got ${error}`,
          );
          assert.match(error.field, shape.field, what);
          assert.match(error.message, /in total/, what);
        }
        assert.ok(ms < BLOWUP_MS, `${what} took ${ms.toFixed(0)} ms`);
      }
      assert.deepEqual(
        [...Deno.readDirSync(dir)].map((e) => e.name),
        ["crafted.exe"],
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("60,001 sections: imports and patching work, no blow-up", async () => {
  const bytes = manySections();
  assert.equal(readHeaders(bytesSource(bytes)).sections.length, 60001);
  let list: Awaited<ReturnType<typeof imports>> = [];
  const read = await timed(async () => list = await imports(bytes));
  assert.equal(read.error, undefined);
  assert.ok(read.ms < BLOWUP_MS, `imports took ${read.ms.toFixed(0)} ms`);
  assert.equal(list[0].symbols.length, 65535);
  assert.equal(list[0].symbols[65534].name, "f65534");
  let out = bytes;
  const patch = await timed(() => out = patchImportsBytes(bytes).bytes);
  assert.equal(patch.error, undefined);
  assert.ok(patch.ms < BLOWUP_MS, `patch took ${patch.ms.toFixed(0)} ms`);
  assert.equal(readPe(bytesSource(out)).imports[0].dll, "heapshift.dll");
  const undo = await timed(() => out = removeImportBytes(out).bytes);
  assert.equal(undo.error, undefined);
  assert.ok(undo.ms < BLOWUP_MS, `remove took ${undo.ms.toFixed(0)} ms`);
  assert.deepEqual(out, bytes);
});

Deno.test("60,000 sections with data and 8,191 DLLs: looking for heapshift's section is no blow-up", async () => {
  const bytes = manyDataSections();
  assert.equal(readHeaders(bytesSource(bytes)).sections.length, 60001);
  // Whether heapshift added one of the DLLs: asked by patch (of each) and
  // by remove without a name (of each, when heapshift.dll is not there).
  let out = bytes;
  const patch = await timed(() => out = patchImportsBytes(bytes).bytes);
  assert.equal(patch.error, undefined);
  assert.ok(patch.ms < BLOWUP_MS, `patch took ${patch.ms.toFixed(0)} ms`);
  assert.equal(readPe(bytesSource(out)).imports.length, 8192);
  const none = await timed(() => removeImportBytes(bytes));
  assert.equal(none.error, undefined);
  assert.ok(none.ms < BLOWUP_MS, `remove took ${none.ms.toFixed(0)} ms`);
  const undo = await timed(() => out = removeImportBytes(out).bytes);
  assert.equal(undo.error, undefined);
  assert.ok(undo.ms < BLOWUP_MS, `undo took ${undo.ms.toFixed(0)} ms`);
  assert.deepEqual(out, bytes);
});

Deno.test("the new section may not reach 2 GiB: its RVAs would read as ordinals", () => {
  // An image that ends at `end`: its data section's zero-fill runs there.
  const upTo = (end: number) =>
    craftPe({
      body: importsBody({ dlls: 1, thunks: 2, name: "f" }),
      dataVirtualSize: end - 0x1000,
    });
  for (const sizeOfImage of [0x7ffff000, 0x80000000, 0xfffff000]) {
    const bytes = upTo(sizeOfImage);
    assert.equal(readPe(bytesSource(bytes)).headers.sizeOfImage, sizeOfImage);
    assert.throws(
      () => patchImportsBytes(bytes),
      (e) =>
        e instanceof PePatchError &&
        /2 GiB/.test(e.message) &&
        e.message.includes(`0x${sizeOfImage.toString(16)}`),
    );
  }
  // Just below: the section fits.
  const fits = upTo(0x7fff0000);
  const r = patchImportsBytes(fits);
  const first = readPe(bytesSource(r.bytes)).imports[0];
  assert.equal(first.dll, "heapshift.dll");
  assert.deepEqual(first.symbols, [{ hint: 0, name: "heapshift_anchor" }]);
});

Deno.test("an IL-only .NET image is refused; a mixed-mode one is patched", () => {
  assert.throws(
    () => patchImportsBytes(dotnetImage()),
    (e) =>
      e instanceof PePatchError && /IL-only \.NET/.test(e.message) &&
      /UCRT/.test(e.message),
  );
  // ILONLY clear (C++/CLI): native code that may use the UCRT.
  const mixed = patchImportsBytes(dotnetImage(0x10));
  assert.equal(mixed.action, "added");
  // A CLR header that points nowhere is a format error.
  const broken = dotnetImage();
  const h = readHeaders(bytesSource(broken));
  put32(broken, h.dataDirectoryOffset + 14 * 8, 0x7fff0000);
  assert.throws(
    () => patchImportsBytes(broken),
    (e) => e instanceof PeFormatError && /COR20/.test(e.field),
  );
});

Deno.test("the target's machine is reported; one the hook DLL lacks is refused", async () => {
  for (
    const [format, machine] of [["PE32", 0x14c], ["PE32+", 0x8664]] as const
  ) {
    assert.equal(patchImportsBytes(buildPe({ format })).machine, machine);
    const dir = await Deno.makeTempDir();
    try {
      await Deno.writeFile(`${dir}/a.exe`, buildPe({ format }));
      assert.equal((await patchImports(`${dir}/a.exe`)).machine, machine);
      assert.equal(
        (await patchImports(`${dir}/a.exe`, { list: true })).machine,
        machine,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  }
  const arm = buildPe();
  put16(arm, readHeaders(bytesSource(arm)).peOffset + 4, 0xaa64);
  assert.throws(
    () => patchImportsBytes(arm),
    (e) => e instanceof PePatchError && /ARM64/.test(e.message),
  );
});
