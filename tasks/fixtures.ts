/**
 * Builds the Windows test fixtures from source: `tests/fixtures/NAME.c`
 * becomes `build/fixtures/NAME.exe`, `tests/fixtures/NAME.dll.c` becomes
 * `build/fixtures/NAME.dll`. A line `// cflags: …` in a source adds flags
 * (libraries, defines), `// cflags-x86: …` (or `-x64`) flags for one
 * architecture's build only. A line `// arch: x64 x86` builds it for both
 * architectures: the x86 build is `NAME32.exe` / `NAME32.dll`, compiled
 * with `-DARCH_SUFFIX="32"` (`""` for x64) so a fixture can name its
 * companions. Without it a fixture is x64 only. Only stale outputs are
 * rebuilt: older than their source or a file it `#include "…"`s. Every
 * program also links `tests/fixtures/support/std_fds.c` (why: there).
 *
 * @module
 */

import { type Arch, ARCHES, compile, isStale } from "./toolchain.ts";
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

/** The words of the source's `// KEY: …` line, or none. */
function directive(text: string, key: string): string[] {
  const m = text.match(new RegExp(`^// ${key}:(.*)$`, "m"));
  return m ? m[1].trim().split(/\s+/).filter(Boolean) : [];
}

/** One output of a fixture source. */
export interface FixtureBuild {
  /** Output path relative to the fixture directory, e.g. `probe32.dll`. */
  out: string;
  kind: "exe" | "dll";
  arch: Arch;
  /** Compiler flags from the source, plus the architecture's suffix define. */
  flags: string[];
}

/**
 * What the fixture source `fileName` (with its `text`) builds: one output
 * per architecture its `// arch:` line names (x64 only without one).
 */
export function fixtureBuilds(fileName: string, text: string): FixtureBuild[] {
  const kind = fileName.endsWith(".dll.c") ? "dll" : "exe";
  const name = fileName.replace(/(\.dll)?\.c$/, "");
  const listed = directive(text, "arch");
  for (const a of listed) {
    if (!ARCHES.includes(a as Arch)) {
      throw new Error(
        `${fileName}: unknown architecture '${a}' in its // arch: line (use x64, x86)`,
      );
    }
  }
  const arches = listed.length ? ARCHES.filter((a) => listed.includes(a)) : [
    "x64" as const,
  ];
  return arches.map((arch) => {
    const suffix = arch === "x86" ? "32" : "";
    return {
      out: `${name}${suffix}.${kind}`,
      kind,
      arch,
      flags: [
        ...directive(text, "cflags"),
        ...directive(text, `cflags-${arch}`),
        `-DARCH_SUFFIX="${suffix}"`,
      ],
    };
  });
}

/** Builds every fixture that is missing or older than its source. */
export async function buildFixtures(): Promise<string[]> {
  const root = repoRoot();
  const src = `${root}/tests/fixtures`;
  const stdFds = `${src}/support/std_fds.c`;
  const built: string[] = [];
  for (
    const entry of [...Deno.readDirSync(src)].sort((a, b) =>
      a.name.localeCompare(b.name)
    )
  ) {
    if (!entry.isFile || !entry.name.endsWith(".c")) continue;
    const source = `${src}/${entry.name}`;
    const text = Deno.readTextFileSync(source);
    for (const b of fixtureBuilds(entry.name, text)) {
      const out = `${root}/${FIXTURE_DIR}/${b.out}`;
      const sources = b.kind === "exe" ? [source, stdFds] : [source];
      if (!isStale(out, [...sources, ...localIncludes(source)])) continue;
      await compile({
        sources,
        out,
        kind: b.kind,
        arch: b.arch,
        flags: [`-I${src}`, ...b.flags],
      });
      built.push(out);
    }
  }
  return built;
}

if (import.meta.main) {
  const built = await buildFixtures();
  console.error(
    `[fixtures] built ${built.length} fixture(s) in ${FIXTURE_DIR}`,
  );
}
