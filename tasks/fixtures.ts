/**
 * Builds the Windows test fixtures from source: `tests/fixtures/NAME.c`
 * becomes `build/fixtures/NAME.exe`, `tests/fixtures/NAME.dll.c` becomes
 * `build/fixtures/NAME.dll`. A line `// cflags: …` in a source adds flags
 * (libraries, defines), `// cflags-x86: …` (or `-x64`) flags for one
 * architecture's build only. A line `// arch: x64 x86` builds it for both
 * architectures: the x86 build is `NAME32.exe` / `NAME32.dll`, compiled
 * with `-DARCH_SUFFIX="32"` (`""` for x64) so a fixture can name its
 * companions. Without it a fixture is x64 only. Only outputs whose inputs
 * changed are rebuilt: the contents of the source and of every file it
 * includes from beside it or from an `-I` directory (and those include,
 * and so on: {@linkcode fixtureInputs}), its flags, and the
 * compiler's identity, as recorded beside each output (`.NAME.exe.stamp`)
 * by the build that wrote it; a build that fails or is killed leaves no
 * output. Every program also links `tests/fixtures/support/std_fds.c`
 * (why: there).
 *
 * @module
 */

import { dirname, normalize, resolve } from "node:path";
import {
  type Arch,
  ARCHES,
  baseArgs,
  compile,
  CompileError,
  inputsDigest,
  isCurrent,
  mingwIdentity,
  writeStamp,
} from "./toolchain.ts";
import { exists, repoRoot } from "./winenv.ts";

/** Where built fixtures go, relative to the checkout. */
export const FIXTURE_DIR = "build/fixtures";

/**
 * The files a source pulls in with `#include "…"` or `#include <…>`, and
 * those they pull in, each once: found beside the file that includes it
 * (`"…"` only), else in one of `includeDirs` (the `-I` directories), as the
 * compiler looks. A change to
 * any of them rebuilds the source's outputs.
 */
export function localIncludes(
  source: string,
  includeDirs: readonly string[] = [],
): string[] {
  const found: string[] = [];
  const seen = new Set([normalize(source)]);
  const visit = (file: string) => {
    const text = Deno.readTextFileSync(file);
    // "…" is looked for beside the file first, <…> in the -I directories
    // only (the system's headers are in none of them)
    const included = /^\s*#\s*include\s*(?:"([^"]+)"|<([^>]+)>)/gm;
    for (const m of text.matchAll(included)) {
      const path = [...(m[1] ? [dirname(file)] : []), ...includeDirs]
        .map((d) => normalize(`${d}/${m[1] ?? m[2]}`))
        .find(exists);
      if (!path || seen.has(path)) continue;
      seen.add(path);
      found.push(path);
      visit(path);
    }
  };
  visit(source);
  return found;
}

/**
 * The files whose contents decide whether `build`, an output of the fixture
 * `source`, is current: the source (and, for a program,
 * `support/std_fds.c`, linked into each) and what it includes.
 */
export function fixtureInputs(source: string, build: FixtureBuild): string[] {
  const src = dirname(source);
  const sources = build.kind === "exe"
    ? [source, `${src}/support/std_fds.c`]
    : [source];
  // the compiler's -I directories: the fixtures' own, then the source's
  // flags' (named from the checkout's root, where the compiler runs)
  const dirs = [
    src,
    ...includeDirs(build.flags).map((d) => resolve(repoRoot(), d)),
  ];
  return [...sources, ...localIncludes(source, dirs)];
}

/** The directories that `-IDIR` (or `-I DIR`) flags name. */
function includeDirs(flags: readonly string[]): string[] {
  return flags.flatMap((f, i) =>
    f === "-I"
      ? flags.slice(i + 1, i + 2)
      : f.startsWith("-I")
      ? [f.slice(2)]
      : []
  );
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

/**
 * Builds every fixture output that is missing or was built from other
 * inputs (see the module's documentation); returns the paths built.
 */
export async function buildFixtures(): Promise<string[]> {
  const root = repoRoot();
  const src = `${root}/tests/fixtures`;
  const stdFds = `${src}/support/std_fds.c`;
  const built: string[] = [];
  const identities = new Map<Arch, string>();
  const identity = async (arch: Arch) => {
    // "" before the environment is provisioned (the first compile does it)
    if (!identities.get(arch)) identities.set(arch, await mingwIdentity(arch));
    return identities.get(arch)!;
  };
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
      const flags = [`-I${src}`, ...b.flags];
      const files = await inputsDigest(fixtureInputs(source, b));
      const digest = async () =>
        await inputsDigest([], [
          files,
          ...baseArgs(b.kind, b.arch),
          ...flags,
          await identity(b.arch),
        ]);
      if (await isCurrent(out, await digest())) continue;
      let facts;
      try {
        facts = await compile({
          sources,
          out,
          kind: b.kind,
          arch: b.arch,
          flags,
        });
      } catch (e) {
        if (!(e instanceof CompileError)) throw e;
        throw e.reworded(
          out,
          `tests/fixtures/${entry.name} (${b.arch}): ${e.message}`,
        );
      }
      await writeStamp(out, await digest(), facts);
      built.push(out);
    }
  }
  return built;
}

if (import.meta.main) {
  try {
    const built = await buildFixtures();
    console.error(
      `[fixtures] built ${built.length} fixture(s) in ${FIXTURE_DIR}`,
    );
  } catch (e) {
    if (!(e instanceof CompileError)) throw e;
    console.error(`error: ${e.message}`);
    Deno.exit(1);
  }
}
