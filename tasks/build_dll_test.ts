import assert from "node:assert/strict";
import $ from "dax";
import {
  buildDll,
  defaultToolchain,
  isCrossDevice,
  MIMALLOC_TREES,
  msvcScript,
  parseArgs,
  staticLayoutMismatch,
  VSWHERE_ARGS,
} from "./build_dll.ts";
import { TaskArgsError } from "./task_args.ts";
import { repoRoot } from "./winenv.ts";
import { runScript } from "./_test_utils.ts";

const unit = () => Deno.readTextFile(`${repoRoot()}/dll/mimalloc_unit.c`);
const staticC = (dir: string) =>
  Deno.readTextFile(`${repoRoot()}/${dir}/src/static.c`);

Deno.test("mimalloc_unit.c compiles exactly the sources of v2.1.2's static.c", async () => {
  assert.equal(
    staticLayoutMismatch(await staticC(MIMALLOC_TREES[2]), await unit()),
    null,
  );
});

Deno.test("a v2 static.c that lists other sources is refused, naming both lists", async () => {
  const v2 = await staticC(MIMALLOC_TREES[2]);
  const moved = v2.replace(
    '#include "segment-map.c"\n',
    '#include "segment-map.c"\n#include "arena-abandon.c"\n',
  );
  assert.notEqual(moved, v2);
  const why = staticLayoutMismatch(moved, await unit());
  assert.match(why ?? "", /segment-map\.c, arena-abandon\.c, stats\.c/);
  assert.match(why ?? "", /hs-static\) includes .*segment-map\.c, stats\.c/);
  // v3's layout is a different one altogether (its own block, hs-static3)
  assert.notEqual(
    staticLayoutMismatch(await staticC(MIMALLOC_TREES[3]), await unit()),
    null,
  );
});

Deno.test("mimalloc_unit.c compiles exactly the sources of v3.4.1's static.c (hs-static3); one that lists others is refused", async () => {
  const v3 = await staticC(MIMALLOC_TREES[3]);
  assert.equal(
    staticLayoutMismatch(v3, await unit(), { block: "hs-static3" }),
    null,
  );
  const moved = v3.replace(
    '#include "theap.c"\n',
    '#include "theap.c"\n#include "arena-abandon.c"\n',
  );
  assert.notEqual(moved, v3);
  const why = staticLayoutMismatch(moved, await unit(), {
    block: "hs-static3",
  });
  assert.match(why ?? "", /theap\.c, arena-abandon\.c, threadlocal\.c/);
  assert.match(why ?? "", /hs-static3\) includes .*theap\.c, threadlocal\.c/);
});

Deno.test("two builds for directories outside the checkout at once each get their own DLL", async () => {
  const root = repoRoot();
  const [a, b] = [await Deno.makeTempDir(), await Deno.makeTempDir()];
  try {
    // exact and usable _msize: different DLLs from the same sources
    await Promise.all([
      buildDll({ arch: "x64", outDir: a, force: true }),
      buildDll({ arch: "x64", outDir: b, force: true, msize: "usable" }),
    ]);
    const [da, db] = await Promise.all(
      [a, b].map((d) => Deno.readFile(`${d}/heapshift.dll`)),
    );
    assert.equal(String.fromCharCode(da[0], da[1]), "MZ");
    assert.equal(String.fromCharCode(db[0], db[1]), "MZ");
    assert.notDeepEqual(da, db);
    // tests/win/built_dll.ts reads the mimalloc version from the stamp's
    // third line (toolchain, tree, MI_MALLOC_VERSION, _msize)
    const stamp = (await Deno.readTextFile(`${b}/.heapshift.dll.stamp`))
      .split("\n");
    assert.equal(stamp[0], "mingw");
    assert.equal(stamp[2], "30401");
    assert.equal(stamp[3], "usable");
    // what the builds staged in the checkout is gone
    const staged = [...Deno.readDirSync(`${root}/build`)]
      .filter((e) => e.name.startsWith(".out-dir"));
    assert.deepEqual(staged, []);
  } finally {
    await Deno.remove(a, { recursive: true });
    await Deno.remove(b, { recursive: true });
  }
});

Deno.test("a changed mimalloc source rebuilds the DLL, even with an older time", async () => {
  const root = repoRoot();
  // a copy of the v3 tree inside the checkout (the compiler's chroot sees it)
  const tmp = await Deno.makeTempDir({ dir: `${root}/build`, prefix: "mi-" });
  const mi = `${tmp}/mimalloc`;
  const outDir = `${tmp}/out`;
  try {
    await $`cp -r ${root}/${MIMALLOC_TREES[3]} ${mi}`;
    const build = () => buildDll({ arch: "x64", mimalloc: mi, outDir });
    const mtime = () => Deno.statSync(`${outDir}/heapshift.dll`).mtime;
    await build();
    const first = mtime();
    await build();
    assert.deepEqual(mtime(), first, "unchanged inputs: not rebuilt");
    // (headers count the same way: "a DLL's inputs are …" below)
    const path = `${mi}/src/page.c`;
    const before = Deno.statSync(path);
    await Deno.writeTextFile(path, "\n/* changed */\n", { append: true });
    // as a copy or an unpacked archive would leave it: an old time
    await Deno.utime(path, before.atime!, before.mtime!);
    await build();
    assert.notDeepEqual(mtime(), first, "src/page.c changed: rebuilt");
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("vswhere gets -products * as it is: dax's shell would expand the * into file names", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/README.md`, "");
    const echoed = await $`echo ${VSWHERE_ARGS}`.cwd(dir).text();
    assert.match(echoed, /-products \* -requires /);
    // what the command text did before
    const globbed = await $`echo -products * -requires`.cwd(dir).text();
    assert.equal(globbed, "-products README.md -requires");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the MSVC script: objects in the build's own directory, paths quoted, errors told apart", () => {
  const { script, env } = msvcScript(
    {
      arch: "x86",
      root: "C:/Users/A B/heapshift (copy)",
      mi: "C:/Users/A B/heapshift (copy)/third_party/mimalloc-3.4.1",
      sources: ["C:/Users/A B/heapshift (copy)/dll/entry.c"],
      out: "C:/Users/A B/heapshift (copy)/build/.out-dir-1/heapshift32.dll",
      defs: ["NDEBUG", "MI_PADDING=1"],
      scratch: "C:/Users/A B/heapshift (copy)/build/.out-dir-1",
    },
    "C:\\Program Files (x86)\\Microsoft Visual Studio\\2022\\BuildTools\\VC\\Auxiliary\\Build\\vcvars32.bat",
    "C:/Users/A B/heapshift (copy)/build/.out-dir-1",
  );
  const lines = script.split("\r\n");
  assert.equal(lines[1], 'call "%HEAPSHIFT_VCVARS%" >nul || exit /b 1');
  assert.equal(lines[2], "%HEAPSHIFT_CL% || exit /b 2");
  assert.equal(
    env.HEAPSHIFT_VCVARS,
    "C:\\Program Files (x86)\\Microsoft Visual Studio\\2022\\BuildTools\\VC\\Auxiliary\\Build\\vcvars32.bat",
  );
  const cl = env.HEAPSHIFT_CL;
  assert.ok(cl.startsWith("cl /nologo "), cl);
  // dll/heapshift_stats.h's _Static_assert: C11 or later in cl's C mode
  assert.ok(cl.includes(" /std:c17 "), cl);
  // a directory for /Fo ends in a backslash, doubled before the quote
  assert.ok(
    cl.includes(
      '/Fo"C:\\Users\\A B\\heapshift (copy)\\build\\.out-dir-1\\\\" ',
    ),
    cl,
  );
  assert.ok(cl.includes('"C:\\Users\\A B\\heapshift (copy)\\dll\\entry.c"'));
  assert.ok(cl.includes(" /DMI_PADDING=1 "));
  assert.ok(cl.endsWith(" /link /DLL /ENTRY:heapshift_entry kernel32.lib"), cl);
});

Deno.test("the MSVC script is ASCII whatever the paths: cmd reads a script in the console's OEM code page, the environment in Unicode", () => {
  const root = "C:/Users/Jürgen Müller/Документы/heapshift 100%";
  const { script, env } = msvcScript(
    {
      arch: "x64",
      root,
      mi: `${root}/third_party/mimalloc-3.4.1`,
      sources: [`${root}/dll/entry.c`],
      out: `${root}/build/.out-dir-1/heapshift.dll`,
      defs: ["NDEBUG"],
      scratch: `${root}/build/.out-dir-1`,
    },
    "D:\\Visual Stüdio\\VC\\Auxiliary\\Build\\vcvars64.bat",
    `${root}/build/.out-dir-1`,
  );
  assert.match(script, /^[\x20-\x7e\r\n]*$/, script);
  assert.ok(
    env.HEAPSHIFT_CL.includes(
      '"C:\\Users\\Jürgen Müller\\Документы\\heapshift 100%\\dll\\entry.c"',
    ),
  );
  assert.equal(
    env.HEAPSHIFT_VCVARS,
    "D:\\Visual Stüdio\\VC\\Auxiliary\\Build\\vcvars64.bat",
  );
});

Deno.test("the default toolchain: MSVC on Windows with the Visual Studio Installer, else mingw", () => {
  assert.equal(defaultToolchain(false, () => true), "mingw");
  assert.equal(defaultToolchain(true, () => true), "msvc");
  assert.equal(defaultToolchain(true, () => false), "mingw");
});

Deno.test("build-dll's relative paths are the user's, not the checkout's (deno task runs there)", () => {
  const o = parseArgs(
    ["--mimalloc", "../mi/", "--out-dir=out", "--arch", "x86"],
    "/home/u/work",
  );
  assert.equal(o.mimalloc, "/home/u/work/../mi");
  assert.equal(o.outDir, "/home/u/work/out");
  assert.equal(o.arch, "x86");
  // no trailing separator: cl's /I"C:\\mi\\" would quote the rest
  assert.equal(
    parseArgs(["--mimalloc", "C:\\mi\\"], "C:\\u").mimalloc,
    "C:\\mi",
  );
});

Deno.test("a rename across filesystems is told from other failures (the DLL is then copied beside its place and renamed)", () => {
  assert.ok(
    isCrossDevice(
      new Error(
        "Invalid cross-device link (os error 18): rename '/work/x/build/.out-dir-1/heapshift.dll' -> '/tmp/y/heapshift.dll'",
      ),
    ),
  );
  assert.ok(
    !isCrossDevice(new Error("Permission denied (os error 13): rename …")),
  );
});

Deno.test("deno task build-dll --help prints the usage and builds nothing; a bad argument is refused (exit 2), naming it, before any build", async () => {
  const run = (...args: string[]) =>
    runScript(`${repoRoot()}/tasks/build_dll.ts`, args);
  const help = await run("--arch", "x86", "--help");
  assert.equal(help.code, 0, help.stderr);
  assert.match(help.stdout, /^usage: deno task build-dll \[--arch /);
  assert.equal(help.stderr, "");
  for (
    const [args, says] of [
      [["--bogus"], "unknown option --bogus"],
      [["--arch", "x65"], "--arch must be x64, x86 or all, not 'x65'"],
      [["--mimalloc-version"], "--mimalloc-version needs a value"],
    ] as const
  ) {
    const r = await run(...args);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.equal(
      r.stderr,
      `error: ${says}\nrun \`deno task build-dll --help\` for the usage\n`,
    );
  }
  // (no value: the build went on into build/ before)
  for (const args of [["--out-dir"], ["--mimalloc="], ["--force=no"]]) {
    assert.throws(
      () => parseArgs(args),
      (e) =>
        e instanceof TaskArgsError &&
        /^--\S+ (needs a|takes no) value$/.test(e.message),
      args.join(" "),
    );
  }
});

// The README: colour only on a terminal. dax's log writes colours and the
// cursor codes that clear its progress area into a pipe too.
Deno.test("build-dll into a pipe writes plain lines: no colour or cursor codes", async () => {
  const r = await runScript(`${repoRoot()}/tasks/build_dll.ts`, []);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /^Building heapshift\.dll \(x64, /m);
  assert.ok(!r.stderr.includes("\x1b"), JSON.stringify(r.stderr));
});
