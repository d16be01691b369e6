// Patching real executables, checked against objdump: the mingw-w64
// fixtures (when tasks/fixtures.ts has built them) and the Windows deno.exe
// (when the Wine environment has it, or HEAPSHIFT_DENO_EXE points to it);
// and removal giving back their exact bytes, and those of Wine's builtins
// (whose CheckSum fields do not match their contents).

import assert from "node:assert/strict";
import { patchImportsBytes } from "./patch.ts";
import { removeImportBytes } from "./remove.ts";
import { readPe } from "./reader.ts";
import { bytesSource } from "./source.ts";
import { peChecksum } from "./checksum.ts";
import { u32 } from "./_read.ts";
import {
  objdump,
  objdumpImports,
  objdumpRun,
  windowsDenoExe,
  wineBuiltins,
} from "./_objdump_test_util.ts";
import { patchImports, removeImport } from "./write.ts";

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

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

const builtins = wineBuiltins([
  "kernel32.dll",
  "ntdll.dll",
  "ucrtbase.dll",
  "msvcrt.dll",
  "user32.dll",
]);
const undoFiles = [...files, ...builtins];

Deno.test({
  name:
    `patch then remove gives back the exact bytes of ${undoFiles.length} real PE files`,
  ignore: files.length === 0 || builtins.length === 0,
  fn: async () => {
    let stale = 0;
    for (const file of undoFiles) {
      const original = await Deno.readFile(file);
      const { headers: h, certificate } = readPe(bytesSource(original));
      const r = patchImportsBytes(original);
      assert.equal(r.action, "added", file);
      const u = removeImportBytes(r.bytes);
      // A signature that ends the file cannot come back (deno.exe): the
      // rest does, less its directory entry and with a new checksum.
      let want = original;
      if (certificate) {
        assert.match(u.warnings.join(), /signature .* cannot come back/, file);
        want = original.slice(0, certificate.offset);
        want.fill(0, h.dataDirectoryOffset + 32, h.dataDirectoryOffset + 40);
        const at = h.optionalHeaderOffset + 64;
        want.set(u.bytes.subarray(at, at + 4), at);
        assert.equal(u32(want, at), peChecksum(want, at), file);
      } else assert.deepEqual(u.warnings, [], file);
      assert.ok(sameBytes(u.bytes, want), `${file}: not byte-identical`);
      if (h.checksum !== peChecksum(original, h.optionalHeaderOffset + 64)) {
        stale++;
      }
    }
    // Most builtins carry a checksum that does not match: the case that
    // used to come back different.
    assert.ok(stale > builtins.length / 2, `${stale} stale checksums`);
  },
});

Deno.test({
  name: "patch -i then remove -i of Wine's reg.exe gives back its bytes",
  ignore: !builtins.some((f) => f.endsWith("x86_64-windows/reg.exe")),
  fn: async () => {
    const reg = builtins.find((f) => f.endsWith("x86_64-windows/reg.exe"))!;
    const dir = await Deno.makeTempDir();
    try {
      const exe = `${dir}/reg.exe`;
      await Deno.copyFile(reg, exe);
      const original = await Deno.readFile(exe);
      assert.equal(
        (await patchImports(exe, { inPlace: true })).action,
        "added",
      );
      const u = await removeImport(exe, { inPlace: true });
      assert.equal(u.action, "removed");
      assert.deepEqual(await Deno.readFile(exe), original);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
