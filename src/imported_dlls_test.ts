import assert from "node:assert/strict";
import { HeapshiftError } from "./heapshift_error.ts";
import { imports } from "./imported_dlls.ts";
import { buildPe, DEFAULT_IMPORTS } from "../pe/_test_pe.ts";

Deno.test("imports() with the pe reader reads the file in pages, not whole", async () => {
  const dir = await Deno.makeTempDir({ prefix: "heapshift-imports-" });
  const readFile = Deno.readFile;
  const readFileSync = Deno.readFileSync;
  try {
    const exe = `${dir}/big.exe`;
    await Deno.writeFile(exe, buildPe());
    await Deno.truncate(exe, 100 << 20); // a 100 MB (sparse) overlay
    const whole = () => {
      throw new Error("the whole file was read");
    };
    Object.assign(Deno, { readFile: whole, readFileSync: whole });
    const dlls = await imports(exe, { reader: "pe" });
    assert.deepEqual(
      dlls.map((d) => d.dll),
      DEFAULT_IMPORTS.map((d) => d.dll),
    );
  } finally {
    Object.assign(Deno, { readFile, readFileSync });
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("imports() of a missing file, a directory and a non-PE file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "heapshift-imports-" });
  try {
    const missing = `${dir}/no-such.exe`;
    await assert.rejects(() => imports(missing, { reader: "pe" }), {
      name: "HeapshiftError",
      kind: "not-found",
      message: `Cannot read the imports of ${missing}: no such file`,
    });
    await assert.rejects(
      () => imports(dir, { reader: "pe" }),
      (e) =>
        e instanceof HeapshiftError && e.kind === "bad-path" &&
        e.message ===
          `Cannot read the imports of ${dir}: it is a directory, not a regular file`,
    );
    if (Deno.build.os !== "windows") {
      // A FIFO would block a reader that opened it: refused from its stat.
      const fifo = `${dir}/fifo.exe`;
      await new Deno.Command("mkfifo", { args: [fifo] }).output();
      await assert.rejects(() => imports(fifo, { reader: "pe" }), {
        name: "HeapshiftError",
        message:
          `Cannot read the imports of ${fifo}: it is a FIFO (named pipe), not a regular file`,
      });
      await Deno.remove(fifo);
    }
    await Deno.writeTextFile(`${dir}/x.exe`, "MZ but nothing else");
    await assert.rejects(
      () => imports(`${dir}/x.exe`, { reader: "pe" }),
      (e) =>
        e instanceof HeapshiftError && e.kind === "bad-pe" &&
        e.message.startsWith(
          `Cannot read the imports of ${dir}/x.exe: not a valid PE file (`,
        ),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("imports(), patchImports() and removeImport() refuse a path or options of the wrong type (a JavaScript caller's) as bad-argument", async () => {
  const { patchImports, removeImport } = await import("./import_patch.ts");
  const cases: [string, () => Promise<unknown>, RegExp][] = [
    [
      "imports null",
      () => imports("x.exe", null as never),
      /^Cannot read the imports of x\.exe: the options must be an object, not null$/,
    ],
    [
      "imports reader",
      () => imports("x.exe", { reader: "dbhelp" as never }),
      /^Cannot read the imports of x\.exe: reader must be "pe" or "dbghelp", not "dbhelp"$/,
    ],
    [
      "imports path",
      () => imports(42 as never),
      /^Cannot read the imports: the path must be a string, not a number$/,
    ],
    [
      "patch null",
      () => patchImports("x.exe", null as never),
      /^Cannot patch x\.exe: the options must be an object, not null$/,
    ],
    [
      "patch path",
      () => patchImports(undefined as never),
      /^Cannot patch: the path must be a string, not undefined$/,
    ],
    [
      "remove null",
      () => removeImport("x.exe", 7 as never),
      /^Cannot remove an import from x\.exe: the options must be an object, not a number$/,
    ],
  ];
  for (const [name, call, text] of cases) {
    await assert.rejects(call, (e: unknown) => {
      assert.ok(e instanceof HeapshiftError, `${name}: ${e}`);
      assert.equal(e.kind, "bad-argument", name);
      assert.match(e.message, text, name);
      return true;
    });
  }
});
