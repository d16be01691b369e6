import assert from "node:assert/strict";
import { join, normalize } from "node:path";
import { fixtureBuilds, fixtureInputs, localIncludes } from "./fixtures.ts";
import { repoRoot } from "./winenv.ts";

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

Deno.test("a fixture's inputs: what it includes, and what that includes, beside it or in the -I directory", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/support`);
    await Deno.writeTextFile(
      `${dir}/a.c`,
      '#include "b.h"\n#include <windows.h>\n  # include "support/c.h"\n',
    );
    // b.h includes d.h, which lies in the -I directory only
    await Deno.writeTextFile(`${dir}/b.h`, '#include "d.h"\n#include "b.h"\n');
    await Deno.writeTextFile(`${dir}/support/c.h`, '#include "e.h"\n');
    await Deno.writeTextFile(`${dir}/support/e.h`, "\n");
    await Deno.mkdir(`${dir}/inc`);
    await Deno.writeTextFile(`${dir}/inc/d.h`, "\n");
    assert.deepEqual(localIncludes(`${dir}/a.c`, [`${dir}/inc`]), [
      join(dir, "b.h"),
      join(dir, "inc", "d.h"),
      join(dir, "support", "c.h"),
      join(dir, "support", "e.h"),
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the checkout's fixtures: api_badstats sees what api_fakestats includes, dll_install the stats header", () => {
  const src = `${repoRoot()}/tests/fixtures`;
  assert.ok(
    localIncludes(`${src}/api_badstats.dll.c`, [src]).includes(
      join(src, "api_fakestats.dll.c"),
    ),
  );
  assert.ok(
    localIncludes(`${src}/dll_install.c`, [src]).includes(
      join(repoRoot(), "dll", "heapshift_stats.h"),
    ),
  );
});

Deno.test("a fixture's inputs take the headers it finds through its // cflags: -I directory: dll_exit_lock's mimalloc types.h, and what that includes with <…>", () => {
  const root = repoRoot();
  const source = `${root}/tests/fixtures/dll_exit_lock.c`;
  const inc = join(root, "third_party", "mimalloc-3.4.1", "include");
  for (
    const b of fixtureBuilds("dll_exit_lock.c", Deno.readTextFileSync(source))
  ) {
    const inputs = fixtureInputs(source, b).map((f) => normalize(f));
    for (const header of ["mimalloc/types.h", "mimalloc-stats.h"]) {
      assert.ok(
        inputs.includes(join(inc, header)),
        `${b.out}: ${header} in ${inputs.join(", ")}`,
      );
    }
    assert.ok(inputs.includes(join(root, "tests", "fixtures", "hook_dll.h")));
  }
});
