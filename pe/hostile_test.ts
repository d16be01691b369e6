// Crafted files that used to exhaust memory or time, and images the hook
// DLL cannot serve: each ends in a typed error naming its cause, quickly.

import assert from "node:assert/strict";
import { PeFormatError } from "./errors.ts";
import { readHeaders } from "./headers.ts";
import { patchImportsBytes } from "./patch.ts";
import { imports, readPe } from "./reader.ts";
import { removeImportBytes } from "./remove.ts";
import { bytesSource } from "./source.ts";
import { patchImports, removeImport } from "./write.ts";
import { amplifiers, manySections } from "./_test_crafted.ts";

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
  Deno.test(`a crafted file is a PeFormatError within a second: ${shape.label}`, async () => {
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
        assert.ok(ms < 1000, `${what} took ${ms.toFixed(0)} ms`);
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

Deno.test("60,001 sections: imports and patching take well under a second", async () => {
  const bytes = manySections();
  assert.equal(readHeaders(bytesSource(bytes)).sections.length, 60001);
  let list: Awaited<ReturnType<typeof imports>> = [];
  const read = await timed(async () => list = await imports(bytes));
  assert.equal(read.error, undefined);
  assert.ok(read.ms < 1000, `imports took ${read.ms.toFixed(0)} ms`);
  assert.equal(list[0].symbols.length, 65535);
  assert.equal(list[0].symbols[65534].name, "f65534");
  let out = bytes;
  const patch = await timed(() => out = patchImportsBytes(bytes).bytes);
  assert.equal(patch.error, undefined);
  assert.ok(patch.ms < 1000, `patch took ${patch.ms.toFixed(0)} ms`);
  assert.equal(readPe(bytesSource(out)).imports[0].dll, "heapshift.dll");
  const undo = await timed(() => out = removeImportBytes(out).bytes);
  assert.equal(undo.error, undefined);
  assert.ok(undo.ms < 1000, `remove took ${undo.ms.toFixed(0)} ms`);
  assert.deepEqual(
    readPe(bytesSource(out)).imports.map((d) => d.dll),
    ["crafted.dll"],
  );
});
