// Every function of mod.ts throws HeapshiftErrors, with the failure of the
// layer below as the cause: the kinds of pe/'s errors (on any OS) and of
// a Windows-only call made elsewhere.
import assert from "node:assert/strict";
import { NotWindowsError } from "../ffi/mod.ts";
import {
  OutputExistsError,
  PeFileError,
  PeFormatError,
  PePatchError,
} from "../pe/mod.ts";
import { buildPe } from "../pe/_test_pe.ts";
import {
  attach,
  findProcess,
  HeapshiftError,
  type HeapshiftErrorKind,
  imports,
  inject,
  launch,
  modules,
  patchImports,
  processArch,
  processes,
  removeImport,
  stats,
  waitForProcess,
} from "../mod.ts";

/** Asserts `run` fails with a HeapshiftError of `kind` caused by `cause`. */
async function fails(
  run: () => unknown,
  kind: HeapshiftErrorKind,
  cause?: new (...args: never[]) => Error,
): Promise<HeapshiftError> {
  let error: unknown;
  try {
    await run();
  } catch (e) {
    error = e;
  }
  assert.ok(error instanceof HeapshiftError, `not a HeapshiftError: ${error}`);
  assert.equal(error.kind, kind, error.message);
  if (cause) assert.ok(error.cause instanceof cause, `cause: ${error.cause}`);
  return error;
}

Deno.test("patchImports and removeImport: pe/'s errors as kinds, the original as cause", async () => {
  const dir = await Deno.makeTempDir({ prefix: "heapshift-kinds-" });
  try {
    const exe = `${dir}/game.exe`;
    await Deno.writeFile(exe, buildPe());
    const text = `${dir}/text.exe`;
    await Deno.writeTextFile(
      text,
      "MZ, and then nothing of a PE file".repeat(4),
    );

    const bad = await fails(() => patchImports(text), "bad-pe", PeFormatError);
    assert.equal(bad.message, (bad.cause as Error).message);
    await fails(() => removeImport(text), "bad-pe", PeFormatError);
    await fails(
      () => patchImports(`${dir}/none.exe`),
      "not-found",
      PeFileError,
    );
    await fails(() => patchImports(dir), "bad-path", PeFileError);

    const out = `${dir}/out.exe`;
    await patchImports(exe, { output: out });
    await fails(
      () => patchImports(exe, { output: out }),
      "exists",
      OutputExistsError,
    );
    await fails(
      () => removeImport(exe, { dll: "kernel32.dll" }),
      "cannot-patch",
      PePatchError,
    );
    assert.deepEqual(
      [...Deno.readDirSync(dir)].map((e) => e.name).sort(),
      ["game.exe", "out.exe", "text.exe"],
      "nothing else was written",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("imports: a bad file is bad-pe, a missing one not-found, a directory bad-path", async () => {
  const dir = await Deno.makeTempDir({ prefix: "heapshift-kinds-" });
  try {
    await Deno.writeTextFile(`${dir}/x.exe`, "MZ but nothing else");
    await fails(() => imports(`${dir}/x.exe`, { reader: "pe" }), "bad-pe");
    await fails(() => imports(`${dir}/no.exe`, { reader: "pe" }), "not-found");
    await fails(() => imports(dir, { reader: "pe" }), "bad-path");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "off Windows, the process functions fail as not-windows",
  ignore: Deno.build.os === "windows",
  async fn() {
    const exe = `${await Deno.makeTempDir()}/game.exe`;
    try {
      await Deno.writeFile(exe, buildPe());
      const calls: [string, () => unknown][] = [
        ["processes", () => processes()],
        ["findProcess", () => findProcess("game.exe")],
        ["waitForProcess", () => waitForProcess("game.exe", { timeout: 1 })],
        ["processArch", () => processArch(1234)],
        ["attach", () => attach(1234)],
        ["modules", () => modules(1234)],
        ["stats", () => stats(1234)],
        ["launch", () => launch(exe)],
        ["imports (dbghelp)", () => imports(exe, { reader: "dbghelp" })],
      ];
      for (const [name, call] of calls) {
        const e = await fails(call, "not-windows", NotWindowsError);
        assert.match(e.message, /needs Windows/, name);
      }
      // The DLL is checked first, on any OS.
      await fails(() => inject(1234, exe), "bad-dll");
    } finally {
      await Deno.remove(exe.slice(0, exe.lastIndexOf("/")), {
        recursive: true,
      });
    }
  },
});
