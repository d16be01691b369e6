// Raw pointers and the raw libraries stay inside ffi/: every other folder
// (src/, pe/, cli/, tasks/, bench/, the Windows suite) only uses ffi/'s
// typed wrappers.
import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url);
const RAW =
  /\bDeno\.(UnsafePointer|UnsafePointerView|UnsafeCallback|UnsafeFnPointer|dlopen)\b|\bkernel32\(\)|\bdbghelp\(\)|\.raw\b/;

/** Every .ts file of the checkout but ffi/ and tests, recursively. */
function sources(dir: URL): URL[] {
  const out: URL[] = [];
  for (const e of Deno.readDirSync(dir)) {
    if (e.isDirectory) {
      if (!/^(\.|ffi$|build$|node_modules$)/.test(e.name)) {
        out.push(...sources(new URL(`${e.name}/`, dir)));
      }
    } else if (e.name.endsWith(".ts") && !e.name.endsWith("_test.ts")) {
      out.push(new URL(e.name, dir));
    }
  }
  return out;
}

Deno.test("nothing outside ffi/ touches raw pointers or the raw libraries", () => {
  const files = sources(ROOT);
  for (const dir of ["src/", "pe/", "cli/", "tasks/", "bench/", "tests/win/"]) {
    assert.ok(
      files.some((f) => f.pathname.includes(`/${dir}`)),
      `${dir} was scanned`,
    );
  }
  const offenders: string[] = [];
  for (const file of files) {
    Deno.readTextFileSync(file).split("\n").forEach((line, i) => {
      if (RAW.test(line) && !/^\s*(\/\/|\*)/.test(line)) {
        offenders.push(`${file.pathname}:${i + 1}: ${line.trim()}`);
      }
    });
  }
  assert.deepEqual(offenders, []);
});
