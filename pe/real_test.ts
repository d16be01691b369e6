// Patching real executables, checked against objdump: the mingw-w64
// fixtures (when tasks/fixtures.ts has built them) and the Windows deno.exe
// (when the Wine environment has it, or HEAPSHIFT_DENO_EXE points to it).

import assert from "node:assert/strict";
import { patchImportsBytes } from "./patch.ts";
import { removeImportBytes } from "./remove.ts";
import { readPe } from "./reader.ts";
import { bytesSource } from "./source.ts";
import {
  objdump,
  objdumpImports,
  objdumpRun,
  windowsDenoExe,
} from "./_objdump_test_util.ts";

const FIXTURES = new URL("../build/fixtures/", import.meta.url);

function realFiles(): string[] {
  const files: string[] = [];
  try {
    for (const e of Deno.readDirSync(FIXTURES)) {
      if (/\.(exe|dll)$/.test(e.name)) {
        files.push(new URL(e.name, FIXTURES).pathname);
      }
    }
  } catch { /* not built */ }
  files.sort();
  const denoExe = windowsDenoExe();
  if (denoExe) files.push(denoExe);
  return files;
}

/** objdump's import listing minus addresses: DLLs with their functions. */
function listing(text: string): string[] {
  return text.split("\n")
    .filter((l) => /DLL Name:|^\t[0-9a-f]+\t/.test(l))
    .map((l) =>
      l.includes("DLL Name")
        ? l.trim()
        : l.trim().split(/\s+/).slice(1, 3).join(" ")
    );
}

const files = realFiles();

Deno.test({
  name:
    `patching ${files.length} real PE files: objdump lists heapshift.dll first, the rest unchanged`,
  ignore: files.length === 0,
  fn: async () => {
    for (const file of files) {
      const original = await Deno.readFile(file);
      const before = readPe(bytesSource(original));
      const r = patchImportsBytes(original);
      assert.equal(r.action, "added", file);
      const after = readPe(bytesSource(r.bytes));
      assert.equal(after.imports[0].dll, "heapshift.dll", file);
      assert.deepEqual(
        after.imports.slice(1).map((d) => [d.dll, d.symbols, d.iatRva]),
        before.imports.map((d) => [d.dll, d.symbols, d.iatRva]),
        file,
      );
      assert.deepEqual(after.exports, before.exports, file);
      assert.equal(after.symbolTable?.count, before.symbolTable?.count, file);
      if (before.symbolTable) {
        const s0 = before.symbolTable;
        const s1 = after.symbolTable!;
        assert.deepEqual(
          r.bytes.subarray(s1.offset, s1.offset + s1.size),
          original.subarray(s0.offset, s0.offset + s0.size),
          `${file}: COFF symbol table intact`,
        );
      }
      if (objdump) {
        const [o0, o1] = [
          await objdumpImports(original),
          await objdumpImports(r.bytes),
        ];
        assert.equal(o1.code, 0, o1.text);
        assert.equal(o1.dlls[0], "heapshift.dll", file);
        const l1 = listing(o1.text);
        // Our entry first (DLL line and its function), then the original.
        assert.deepEqual(l1.slice(2), listing(o0.text), file);
        if (before.symbolTable) {
          // The symbol table is still found, with the same symbols.
          const [t0, t1] = [
            await objdumpRun(original, "-t"),
            await objdumpRun(r.bytes, "-t"),
          ];
          assert.equal(t1.code, 0, t1.text);
          assert.match(t1.text, /SYMBOL TABLE:\n\[/);
          const body = (t: string) => t.slice(t.indexOf("SYMBOL TABLE:"));
          assert.equal(body(t1.text), body(t0.text), `${file}: objdump -t`);
        }
      }
      const u = removeImportBytes(r.bytes);
      if (!before.certificate) {
        assert.deepEqual(u.bytes, original, `${file}: undo`);
      }
    }
  },
});
