// Raw pointers and the raw libraries stay inside ffi/: the API modules and
// the pure-TypeScript PE package only use ffi/'s typed wrappers.
import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url);
const RAW =
  /\bDeno\.(UnsafePointer|UnsafePointerView|UnsafeCallback|UnsafeFnPointer|dlopen)\b|\bkernel32\(\)|\bdbghelp\(\)|\.raw\b/;

function sources(dir: URL): URL[] {
  return [...Deno.readDirSync(dir)]
    .filter((e) => e.isFile && e.name.endsWith(".ts"))
    .filter((e) => !e.name.endsWith("_test.ts"))
    .map((e) => new URL(e.name, dir));
}

Deno.test("nothing above ffi/ touches raw pointers or the raw libraries", () => {
  const files = [...sources(ROOT), ...sources(new URL("pe/", ROOT))];
  assert.ok(files.length > 20, `only ${files.length} files found`);
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
