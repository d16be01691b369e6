// Patching real executables, checked against objdump: the mingw-w64
// fixtures (built by tasks/fixtures.ts, which `deno task test` runs first)
// and the Windows deno.exe (from the Wine environment, or
// HEAPSHIFT_DENO_EXE); and removal giving back their exact bytes, and those
// of Wine's builtins (whose CheckSum fields do not match their contents).
// Missing ones are an error, never a smaller test.

import assert from "node:assert/strict";
import { patchImportsBytes } from "./patch.ts";
import { removeImportBytes } from "./remove.ts";
import { readPe } from "./reader.ts";
import { bytesSource } from "./source.ts";
import { peChecksum } from "./checksum.ts";
import { patchImports, removeImport } from "./write.ts";
import { u32 } from "./_read.ts";
import {
  builtFixtures,
  importListing,
  objdumpImports,
  objdumpRun,
  windowsDenoExe,
  wineBuiltins,
} from "./_objdump_test_util.ts";
import { windowsMapsIt } from "./_test_pe.ts";

function realFiles(): string[] {
  return [...builtFixtures(), windowsDenoExe()];
}

Deno.test("objdump's import listing reads both binutils shapes alike", () => {
  const v240 =
    "\tDLL Name: KERNEL32.dll\n\tvma:  Hint/Ord Member-Name Bound-To\n" +
    "\t9210\t  292  DeleteCriticalSection\n\n";
  const v244 =
    "\tDLL Name: KERNEL32.dll\n\tvma:     Ordinal  Hint  Member-Name  Bound-To\n" +
    "\t00009210  <none>  292  DeleteCriticalSection\n\n";
  const want = ["DLL Name: KERNEL32.dll", "292 DeleteCriticalSection"];
  assert.deepEqual(importListing(v240.replace("\t9210", "\t00009210")), want);
  assert.deepEqual(importListing(v244), want);
});

Deno.test("patching the real PE files: objdump lists heapshift.dll first, the rest unchanged", async () => {
  const files = realFiles();
  for (const file of files) {
    const original = await Deno.readFile(file);
    const before = readPe(bytesSource(original));
    const r = patchImportsBytes(original);
    assert.equal(r.action, "added", file);
    windowsMapsIt(original);
    windowsMapsIt(r.bytes);
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
    {
      const [o0, o1] = [
        await objdumpImports(original),
        await objdumpImports(r.bytes),
      ];
      assert.equal(o1.code, 0, o1.text);
      assert.equal(o1.dlls[0], "heapshift.dll", file);
      const [l0, l1] = [importListing(o0.text), importListing(o1.text)];
      // Every function pe/ reads is a line of objdump's too: a listing
      // that lost its function lines must not compare equal to another.
      const functions = before.imports.reduce(
        (n, d) => n + d.symbols.length,
        0,
      );
      assert.equal(
        l0.filter((l) => !l.startsWith("DLL Name:")).length,
        functions,
        `${file}: objdump lists as many imported functions as pe/ reads`,
      );
      // Our entry first (DLL line and its function), then the original.
      assert.deepEqual(l1.slice(2), l0, file);
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
});

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Wine's .exe builtins and a few of its core DLLs. */
const builtins = () =>
  wineBuiltins([
    "kernel32.dll",
    "ntdll.dll",
    "ucrtbase.dll",
    "msvcrt.dll",
    "user32.dll",
  ]);

Deno.test({
  name:
    "patch then remove gives back the exact bytes of the real PE files and Wine's builtins",
  // Wine's builtins are files of the Linux Wine environment's rootfs
  ignore: Deno.build.os === "windows",
  fn: async () => {
    const wine = builtins();
    const undoFiles = [...realFiles(), ...wine];
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
    assert.ok(stale > wine.length / 2, `${stale} stale checksums`);
  },
});

Deno.test({
  name: "patch -i then remove -i of Wine's reg.exe gives back its bytes",
  // Wine's builtins are files of the Linux Wine environment's rootfs
  ignore: Deno.build.os === "windows",
  fn: async () => {
    const reg = builtins().find((f) => f.endsWith("x86_64-windows/reg.exe"));
    assert.ok(reg, "Wine's x64 reg.exe");
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
