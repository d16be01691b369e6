// `deno task compile` cannot run here (Deno's runtime archive is not
// reachable), so this tests what it builds on: the generated entry point,
// run with `deno run`, embeds the DLL and extracts it to a hashed cache path.
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import assert from "node:assert/strict";
import { compileArgs, generate, isDownloadFailure, TARGET } from "./compile.ts";
import { NOTICE_FILE, sha256Hex } from "../cli/embed.ts";
import { buildPe } from "../pe/_test_pe.ts";
import { runScript } from "./_test_utils.ts";

function fakeDll(n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + 3) & 0xff;
  b.set([0x4d, 0x5a]);
  return b;
}

async function denoDir(): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json"],
  }).output();
  return JSON.parse(new TextDecoder().decode(out.stdout)).denoDir;
}

/** The "hook DLL" check of `doctor [exe] --json` run by a generated entry. */
async function hookDllCheck(
  entry: string,
  options: { cache: string; exe?: string },
): Promise<{ ok: boolean; detail: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--config",
      fileURLToPath(new URL("../deno.json", import.meta.url)),
      entry,
      "doctor",
      ...(options.exe ? [options.exe] : []),
      "--json",
    ],
    env: {
      XDG_CACHE_HOME: options.cache,
      // the extraction folder's base on Windows
      LOCALAPPDATA: options.cache,
      DENO_DIR: await denoDir(),
      NO_COLOR: "1",
    },
    stdin: "null",
  }).output();
  const stdout = new TextDecoder().decode(out.stdout);
  assert.ok(stdout, new TextDecoder().decode(out.stderr));
  const j = JSON.parse(stdout);
  return j.checks.find((c: { check: string }) => c.check === "hook DLL");
}

Deno.test("the generated entry point extracts the embedded DLL once, by hash", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const dll = fakeDll(150_000);
    const gen = await generate(dll, `${dir}/gen`);
    assert.equal(gen.sha256, await sha256Hex(dll));
    assert.equal(gen.size, dll.length);
    const cache = join(dir, "cache");
    const run = () => hookDllCheck(gen.entry, { cache });
    const first = await run();
    const path = join(
      cache,
      "heapshift",
      "dll",
      `heapshift-${gen.sha256.slice(0, 16)}.dll`,
    );
    assert.equal(first.ok, true);
    assert.ok(first.detail.startsWith(path), first.detail);
    assert.deepEqual(await Deno.readFile(path), dll);
    // mimalloc's license ships with the DLL: beside it, as in build/.
    assert.equal(
      await Deno.readTextFile(`${cache}/heapshift/dll/${NOTICE_FILE}`),
      await Deno.readTextFile(new URL(`../${NOTICE_FILE}`, import.meta.url)),
    );
    const mtime = (await Deno.stat(path)).mtime;
    await run();
    assert.deepEqual(
      (await Deno.stat(path)).mtime,
      mtime,
      "reused, not rewritten",
    );
    assert.deepEqual(
      [...Deno.readDirSync(`${cache}/heapshift/dll`)].map((e) => e.name)
        .sort(),
      [NOTICE_FILE, `heapshift-${gen.sha256.slice(0, 16)}.dll`].sort(),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the binary embeds the x86 DLL too: a 32-bit program gets it, a 64-bit one the x64 DLL", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const [dll, dll32] = [fakeDll(90_000), fakeDll(70_000)];
    const gen = await generate(dll, `${dir}/gen`, { dll32 });
    assert.equal(gen.sha256x86, await sha256Hex(dll32));
    await Deno.writeFile(`${dir}/app32.exe`, buildPe({ format: "PE32" }));
    await Deno.writeFile(`${dir}/app64.exe`, buildPe());
    const cache = join(dir, "cache");
    const hookDll = (exe: string) => hookDllCheck(gen.entry, { cache, exe });
    const x86 = await hookDll(`${dir}/app32.exe`);
    assert.ok(
      x86.detail.includes(`heapshift-${gen.sha256x86!.slice(0, 16)}.dll`),
      x86.detail,
    );
    const x64 = await hookDll(`${dir}/app64.exe`);
    assert.ok(
      x64.detail.includes(`heapshift-${gen.sha256.slice(0, 16)}.dll`),
      x64.detail,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("compile arguments and download-failure detection", () => {
  const args = compileArgs("build/compile/main.ts", "build/heapshift.exe");
  assert.deepEqual(args.slice(0, 2), ["compile", "-A"]);
  assert.equal(args[args.indexOf("--target") + 1], TARGET);
  assert.equal(TARGET, "x86_64-pc-windows-msvc");
  assert.equal(args.at(-1), "build/compile/main.ts");
  assert.ok(
    isDownloadFailure(
      "Caused by:\n 0: Setting up base binary.\n 1: error sending request for url (https://example/denort-x86_64-pc-windows-msvc.zip): dns error",
    ),
  );
  assert.ok(!isDownloadFailure('error: Module not found "file:///x.ts".'));
});

Deno.test("--dll, --dll32 and --out are paths from where the task was started (deno task runs it from the checkout's root)", async () => {
  const here = await Deno.makeTempDir();
  try {
    await Deno.writeFile(`${here}/mine.dll`, fakeDll(300));
    await Deno.writeFile(`${here}/mine32.dll`, fakeDll(301));
    const root = fileURLToPath(new URL("../", import.meta.url));
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        `${root}tasks/compile.ts`,
        "--dll",
        "mine.dll",
        "--dll32=mine32.dll",
        "--generate-only",
      ],
      cwd: root,
      env: { INIT_CWD: here, NO_COLOR: "1" },
      stdin: "null",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, stderr);
    assert.match(
      stderr,
      new RegExp(
        `embedded ${RegExp.escape(join(here, "mine.dll"))} \\(300 bytes`,
      ),
    );
    assert.match(
      stderr,
      new RegExp(`and ${RegExp.escape(join(here, "mine32.dll"))}`),
    );
  } finally {
    await Deno.remove(here, { recursive: true });
  }
});

Deno.test("--help prints the usage and builds nothing; an unknown option or one without its value is refused (exit 2) before anything is built", async () => {
  const task = fileURLToPath(new URL("./compile.ts", import.meta.url));
  const run = (...args: string[]) => runScript(task, args);
  const help = await run("--help");
  assert.equal(help.code, 0, help.stderr);
  assert.match(help.stdout, /^usage: deno task compile /);
  assert.doesNotMatch(help.stderr, /\[compile\]/);
  for (
    const [args, says] of [
      [["--outt", "x.exe"], "unknown option --outt"],
      [["--out"], "--out needs a value"],
      [["--dll", "--generate-only"], "--dll needs a value"],
      [["extra"], "unexpected argument extra"],
      [["--dll="], "--dll needs a value"],
      [["--generate-only=yes"], "--generate-only takes no value"],
    ] as const
  ) {
    const r = await run(...args);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`^error: ${says}\\b`));
    assert.match(r.stderr, /deno task compile --help/);
    assert.doesNotMatch(r.stderr, /\[compile\]/);
  }
  // --help wins over the rest, a bad option too
  const both = await run("--bogus", "-h");
  assert.equal(both.code, 0, both.stderr);
  assert.match(both.stdout, /^usage: deno task compile /);
});
