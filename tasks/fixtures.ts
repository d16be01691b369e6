/**
 * Builds the Windows test fixtures from source: `tests/fixtures/NAME.c`
 * becomes `build/fixtures/NAME.exe`, `tests/fixtures/NAME.dll.c` becomes
 * `build/fixtures/NAME.dll`. A line `// cflags: …` in a source adds flags
 * (libraries, defines). Only stale outputs are rebuilt: older than their
 * source or a file it `#include "…"`s.
 *
 * @module
 */

import { compile, isStale } from "./toolchain.ts";
import { exists, repoRoot } from "./winenv.ts";

/** Where built fixtures go, relative to the checkout. */
export const FIXTURE_DIR = "build/fixtures";

/** The files a source pulls in with `#include "…"`: they make it stale too. */
function localIncludes(source: string): string[] {
  const dir = source.slice(0, source.lastIndexOf("/"));
  return [...Deno.readTextFileSync(source).matchAll(/^#include "([^"]+)"/gm)]
    .map((m) => `${dir}/${m[1]}`)
    .filter(exists);
}

function cflagsOf(source: string): string[] {
  const m = Deno.readTextFileSync(source).match(/^\/\/ cflags:(.*)$/m);
  return m ? m[1].trim().split(/\s+/).filter(Boolean) : [];
}

/** Builds every fixture that is missing or older than its source. */
export async function buildFixtures(): Promise<string[]> {
  const root = repoRoot();
  const src = `${root}/tests/fixtures`;
  const built: string[] = [];
  for (
    const entry of [...Deno.readDirSync(src)].sort((a, b) =>
      a.name.localeCompare(b.name)
    )
  ) {
    if (!entry.isFile || !entry.name.endsWith(".c")) continue;
    const isDll = entry.name.endsWith(".dll.c");
    const name = entry.name.replace(/(\.dll)?\.c$/, "");
    const source = `${src}/${entry.name}`;
    const out = `${root}/${FIXTURE_DIR}/${name}.${isDll ? "dll" : "exe"}`;
    if (!isStale(out, [source, ...localIncludes(source)])) continue;
    await compile({
      sources: [source],
      out,
      kind: isDll ? "dll" : "exe",
      flags: [`-I${src}`, ...cflagsOf(source)],
    });
    built.push(out);
  }
  return built;
}

if (import.meta.main) {
  const built = await buildFixtures();
  console.error(
    `[fixtures] built ${built.length} fixture(s) in ${FIXTURE_DIR}`,
  );
}
