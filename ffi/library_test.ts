import nodeAssert from "node:assert/strict";
import { dbghelp, isWindows, kernel32, NotWindowsError } from "./library.ts";

Deno.test({
  name: "off Windows, the libraries say they need Windows",
  ignore: isWindows,
  fn() {
    nodeAssert.throws(() => kernel32(), NotWindowsError);
    nodeAssert.throws(() => dbghelp(), /dbghelp needs Windows/);
  },
});

Deno.test("mod.ts imports on every OS without opening a library", async () => {
  const mod = await import("../mod.ts");
  nodeAssert.equal(typeof mod.inject, "function");
  nodeAssert.equal(typeof mod.imports, "function");
  if (!isWindows) {
    nodeAssert.throws(
      () => mod.processes(),
      (e) =>
        e instanceof mod.HeapshiftError && e.kind === "not-windows" &&
        e.cause instanceof NotWindowsError,
    );
  }
});
