import assert from "node:assert/strict";
import { isStale, mingwArgs } from "./toolchain.ts";

Deno.test("mingwArgs links DLLs statically and shared", () => {
  const args = mingwArgs({
    sources: ["a.c"],
    out: "a.dll",
    kind: "dll",
    flags: ["-lpsapi"],
  });
  assert.equal(args[0], "x86_64-w64-mingw32ucrt-gcc");
  assert.ok(args.includes("-static"));
  assert.ok(args.includes("-shared"));
  assert.deepEqual(args.slice(-4), ["-o", "a.dll", "a.c", "-lpsapi"]);
});

Deno.test("mingwArgs builds executables without -shared", () => {
  assert.ok(!mingwArgs({ sources: ["a.c"], out: "a.exe" }).includes("-shared"));
});

Deno.test("isStale compares modification times", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const src = `${dir}/a.c`;
    const out = `${dir}/a.exe`;
    await Deno.writeTextFile(src, "int main(void){return 0;}");
    assert.ok(isStale(out, [src]), "a missing output is stale");
    await Deno.writeTextFile(out, "");
    await Deno.utime(out, 2_000_000_000, 2_000_000_000);
    assert.ok(!isStale(out, [src]), "a newer output is fresh");
    await Deno.utime(src, 2_100_000_000, 2_100_000_000);
    assert.ok(isStale(out, [src]), "an edited source makes it stale");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("mingwArgs compiles x86 with the i686 compiler against the UCRT", () => {
  const args = mingwArgs({
    sources: ["a.c"],
    out: "a32.dll",
    kind: "dll",
    arch: "x86",
  });
  assert.deepEqual(args.slice(0, 2), ["i686-w64-mingw32-gcc", "-mcrtdll=ucrt"]);
  assert.ok(args.includes("-static") && args.includes("-shared"));
  assert.ok(!args.includes("x86_64-w64-mingw32ucrt-gcc"));
  assert.equal(
    mingwArgs({ sources: ["a.c"], out: "a.exe", arch: "x64" })[0],
    "x86_64-w64-mingw32ucrt-gcc",
  );
});
