// Dependencies point down, read from the import statements of every file:
// ffi/ and pe/ import nothing of ours; src/ imports them (their mod.ts);
// mod.ts re-exports src/ and pe/; cli/ uses the public entry points and a
// few helpers of src/ that import no other src/ module; tasks/, bench/ and
// tests/ may use anything, and nothing outside them uses them. Tests may
// import anything.
import assert from "node:assert/strict";
import { dirname, join, normalize, relative } from "node:path";

const ROOT = decodeURIComponent(new URL("../", import.meta.url).pathname)
  .replace(/^\/([A-Za-z]:)/, "$1");

/** The src/ helpers cli/ may use, and why mod.ts does not serve them. */
const CLI_FROM_SRC: Record<string, string> = {
  "src/arch.ts": "architecture names in messages (mod.ts exports the type)",
  "src/_paths.ts": "what is at a path: no API meaning",
  "src/_lines.ts": "a child's output line by line: no API meaning",
  "src/_repo.ts": "where the checkout's build/ and tasks/ are",
  "src/_dll_sources.ts":
    "which sources a checkout's hook DLL is built from, shared with build-dll: no API meaning",
  "src/_image_kind.ts":
    "whether launch can add DLLs to a program, before the CLI picks or builds one: the API refuses it later",
  "src/_crt_use.ts":
    "a program's C runtime from its files, which doctor words: pe/ reads it",
  "src/_system_dll.ts":
    "which modules are Windows' own, for inject's warning about a program on another C runtime: a path test",
  "src/_wow64_path.ts":
    "where a 32-bit program's System32 path leads, for a --dll that only SysWOW64 has: a path rule",
  "src/_output_name.ts":
    "which output names Windows would not give the file, which the CLI refuses for its own options too (patchImports refuses them as bad-path)",
  "src/_lasting_instance.ts":
    "the wait for the instance of a program that runs on, which inject --wait shares with waitAndInject, taking each over through the CLI's own checks and words",
  "src/_created_at.ts":
    "when a process was created, which tells the instances the hand-over watch follows from later ones given their pids: no API meaning",
  "src/_exit_status.ts":
    "processEnded, how a process ended behind an error's message, which the CLI words (crashStatus is in mod.ts too)",
};

/** Which repo files each layer's modules may import (tests aside). */
function allowed(layer: string, target: string): boolean {
  const to = layerOf(target);
  switch (layer) {
    case "ffi":
    case "pe":
      return to === layer;
    case "src":
      return to === "src" || target === "ffi/mod.ts" || target === "pe/mod.ts";
    case "mod":
      return to === "src" || target === "pe/mod.ts";
    case "cli":
      return to === "cli" || target in CLI_FROM_SRC ||
        ["mod.ts", "pe/mod.ts", "ffi/mod.ts", "deno.json"].includes(target);
    default: // tasks/, bench/, tests/
      return true;
  }
}

/** Packages each layer may import (npm names, tests aside). */
const PACKAGES: Record<string, RegExp> = {
  cli: /^(@commander-js\/extra-typings|commander)$/,
  tasks: /^dax$/,
};

function layerOf(path: string): string {
  if (path === "mod.ts") return "mod";
  if (path === "cli.ts") return "cli";
  return path.split("/")[0];
}

function isTest(path: string): boolean {
  return path.startsWith("tests/") ||
    /(^|\/)(_test_[^/]*|[^/]*_test(_utils?)?)\.ts$/.test(path) ||
    /_test_util[^/]*\.ts$/.test(path);
}

/**
 * The checkout's .ts files, relative with `/`: walked, not `git ls-files`,
 * as a checkout on Windows may have no git on PATH.
 */
function sources(dir = ""): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync(join(ROOT, dir))) {
    const rel = dir ? `${dir}/${e.name}` : e.name;
    if (e.isDirectory) {
      if (!/^(\.|build$|node_modules$)/.test(e.name)) out.push(...sources(rel));
    } else if (e.name.endsWith(".ts")) out.push(rel);
  }
  return out;
}

/** The specifiers a file imports: static, dynamic, and `.ts` URLs. */
export function specifiers(text: string): string[] {
  const code = text.replace(/\/\*[\s\S]*?\*\//g, "").replace(
    /^\s*\/\/.*$/gm,
    "",
  );
  const out = new Set<string>();
  const patterns = [
    /\b(?:import|export)\s+(?:type\s+)?(?:[\w*{}\s,]*?\s+from\s+)?["']([^"']+)["']/g,
    /\bimport\s*\(\s*["']([^"']+)["']\s*\)/g,
    /\bnew URL\(\s*["']([^"']+\.ts)["']\s*,\s*import\.meta\.url/g,
  ];
  for (const re of patterns) {
    for (const m of code.matchAll(re)) out.add(m[1]);
  }
  return [...out];
}

function violations(): string[] {
  const files = sources();
  for (const dir of ["ffi/", "pe/", "src/", "cli/", "tasks/", "bench/"]) {
    assert.ok(files.some((f) => f.startsWith(dir)), `${dir} was scanned`);
  }
  const bad: string[] = [];
  for (const file of files) {
    if (isTest(file)) continue;
    const layer = layerOf(file);
    for (const spec of specifiers(Deno.readTextFileSync(join(ROOT, file)))) {
      if (spec.startsWith("node:") || spec === "@heapshift/heapshift") continue;
      if (spec.startsWith(".")) {
        const target = relative(
          ROOT,
          normalize(join(ROOT, dirname(file), spec)),
        )
          .replaceAll("\\", "/");
        if (!allowed(layer, target)) bad.push(`${file} → ${target}`);
      } else {
        const name = spec.replace(/^(npm|jsr):/, "").replace(
          /^(@[^/@]+\/[^/@]+|[^/@]+).*$/,
          "$1",
        );
        if (
          !PACKAGES[layer]?.test(name) && !["tests", "bench"].includes(layer)
        ) {
          bad.push(`${file} → ${spec}`);
        }
      }
    }
  }
  return bad;
}

Deno.test("the import statements only point down the layers", () => {
  assert.deepEqual(violations(), []);
});

Deno.test("the layer check reads every kind of import", () => {
  assert.deepEqual(
    specifiers(
      `import a from "./a.ts";\nimport {\n  b,\n  c,\n} from "../b.ts";\n` +
        `export * from "./c.ts";\nimport type { D } from "./d.ts";\n` +
        `const e = await import("../e.ts");\nimport "./f.ts";\n` +
        `new URL("../g.ts", import.meta.url);\n// import x from "./no.ts";\n` +
        `/** import y from "./no.ts"; */`,
    ),
    ["./a.ts", "../b.ts", "./c.ts", "./d.ts", "./f.ts", "../e.ts", "../g.ts"],
  );
});

Deno.test("the src/ helpers cli/ uses import nothing of src/", () => {
  for (const file of Object.keys(CLI_FROM_SRC)) {
    const specs = specifiers(Deno.readTextFileSync(join(ROOT, file)));
    assert.deepEqual(
      specs.filter((s) => s.startsWith("./")),
      [],
      `${file} imports another src/ module`,
    );
  }
});

/** The modules `deno info` finds from `entry`, dynamic imports included. */
async function graph(entry: string): Promise<string[]> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", entry],
    cwd: ROOT,
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const info = JSON.parse(new TextDecoder().decode(out.stdout));
  // Local modules relative to the checkout (`/cli/…`, whatever folder it
  // is in: a checkout at /work/cli must not match /cli/), others as given.
  const root = new URL("../", import.meta.url).href;
  return (info.modules as { specifier: string }[]).map((m) =>
    m.specifier.startsWith(root)
      ? `/${m.specifier.slice(root.length)}`
      : m.specifier
  );
}

Deno.test("cli.ts and mod.ts load no task code and no dax", async () => {
  const cli = await graph("cli.ts");
  assert.ok(cli.some((s) => s.endsWith("/cli/program.ts")), "cli.ts graph");
  assert.deepEqual(
    cli.filter((s) => /\/(tasks|bench|tests)\/|dax/.test(s)),
    [],
  );
  const mod = await graph("mod.ts");
  assert.deepEqual(
    mod.filter((s) => /\/(cli|tasks|bench|tests)\/|dax|commander/.test(s)),
    [],
  );
});
