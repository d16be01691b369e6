import assert from "node:assert/strict";
import { crtUse } from "./_crt_use.ts";

Deno.test("crtUse classifies a program's C runtime from its imports", () => {
  assert.equal(
    crtUse(["KERNEL32.dll", "api-ms-win-crt-heap-l1-1-0.dll"]).kind,
    "ucrt",
  );
  assert.equal(crtUse(["ucrtbase.dll"]).kind, "ucrt");
  assert.equal(crtUse(["KERNEL32.dll", "msvcrt.dll"]).kind, "msvcrt");
  assert.equal(crtUse(["KERNEL32.dll", "VCRUNTIME140.dll"]).kind, "static");
  assert.equal(crtUse(["KERNEL32.dll"]).kind, "static");
});
