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
