import assert from "node:assert/strict";
import { fixtureBuilds } from "./fixtures.ts";

Deno.test("a fixture without an arch line is built for x64 only", () => {
  assert.deepEqual(fixtureBuilds("sleeper.c", "int main(void){}\n"), [
    {
      out: "sleeper.exe",
      kind: "exe",
      arch: "x64",
      flags: ['-DARCH_SUFFIX=""'],
    },
  ]);
});

Deno.test("// arch: x64 x86 builds NAME and NAME32 with their suffix define", () => {
  const text = "// cflags: -municode\n// arch: x86 x64\n#include <windows.h>\n";
  assert.deepEqual(fixtureBuilds("probe.dll.c", text), [
    {
      out: "probe.dll",
      kind: "dll",
      arch: "x64",
      flags: ["-municode", '-DARCH_SUFFIX=""'],
    },
    {
      out: "probe32.dll",
      kind: "dll",
      arch: "x86",
      flags: ["-municode", '-DARCH_SUFFIX="32"'],
    },
  ]);
});

Deno.test("an unknown architecture in a fixture is an error naming it", () => {
  assert.throws(
    () => fixtureBuilds("a.c", "// arch: x64 arm64\n"),
    /a\.c: unknown architecture 'arm64'/,
  );
});

Deno.test("// cflags-x86: adds flags to the x86 build only", () => {
  const text =
    "// cflags: -lpsapi\n// cflags-x86: -Wl,--large-address-aware\n// arch: x64 x86\n";
  assert.deepEqual(
    fixtureBuilds("huge.c", text).map((b) => [b.out, b.flags]),
    [
      ["huge.exe", ["-lpsapi", '-DARCH_SUFFIX=""']],
      [
        "huge32.exe",
        ["-lpsapi", "-Wl,--large-address-aware", '-DARCH_SUFFIX="32"'],
      ],
    ],
  );
});
