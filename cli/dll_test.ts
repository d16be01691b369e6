// Which hook DLL the CLI picks: the target's bitness decides when --dll
// is not given; a missing one is built with the right arguments, and a
// failed build is a clear error.
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  buildArgs,
  buildMissingDlls,
  builtDll,
  distinctDlls,
  dllForTarget,
  fileArch,
  HOOK_DLL,
  isConsoleProgram,
  rebuildStaleDlls,
  resolveDll,
  staleBuild,
  warnStaleDlls,
} from "./dll.ts";
import { dllSourcesDigest } from "../src/_dll_sources.ts";
import { repoRoot } from "../src/_repo.ts";
import { CliError } from "./output.ts";
import { underWine } from "./wine_bridge.ts";

// The Windows CLI under Wine leaves building the DLL to the Linux side
// (resolveDll); natively on Windows and on Linux it builds.
const BUILDS_ON_LINUX = underWine() !== null;
import { buildPe } from "../pe/_test_pe.ts";
import { runCli } from "./_test_utils.ts";
import { setEmbeddedDll, sha256Hex } from "./embed.ts";

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "heapshift-cli-dll-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** The checkout's mimalloc 3 tree and the digest of its DLL's sources now. */
async function checkoutSources(): Promise<{ mi: string; now: string }> {
  const mi = `${repoRoot()}/third_party/mimalloc-3.4.1`;
  return { mi, now: await dllSourcesDigest(repoRoot(), mi) };
}

/**
 * Writes the record build-dll keeps beside `dir/name`: its header lines
 * (toolchain, mimalloc tree, version, _msize, sources) and a build record.
 */
function writeStamp(dir: string, name: string, lines: string[]) {
  return Deno.writeTextFile(
    `${dir}/.${name}.stamp`,
    [...lines, '{"inputs":"x","size":1,"mtime":0}', ""].join("\n"),
  );
}

Deno.test("the default DLL is heapshift.dll for x64, heapshift32.dll for x86", () => {
  assert.deepEqual(HOOK_DLL, { x64: "heapshift.dll", x86: "heapshift32.dll" });
  assert.match(builtDll(), /[\\/]build[\\/]heapshift\.dll$/);
  assert.match(builtDll("x86"), /[\\/]build[\\/]heapshift32\.dll$/);
  assert.equal(builtDll("x86", "/tmp/b/"), "/tmp/b/heapshift32.dll");
  assert.deepEqual(buildArgs("x64"), []);
  assert.deepEqual(buildArgs("x86"), ["--arch", "x86"]);
});

Deno.test("resolveDll picks the built DLL of the target's architecture", async () => {
  await withDir(async (dir) => {
    await Deno.writeFile(join(dir, "heapshift.dll"), new Uint8Array(1));
    await Deno.writeFile(join(dir, "heapshift32.dll"), new Uint8Array(1));
    assert.equal(
      await resolveDll(undefined, { dir }),
      join(dir, "heapshift.dll"),
    );
    assert.equal(
      await resolveDll(undefined, { dir, arch: "x86" }),
      join(dir, "heapshift32.dll"),
    );
    // --dll wins whatever the target.
    assert.equal(
      await resolveDll(join(dir, "heapshift.dll"), { dir, arch: "x86" }),
      join(dir, "heapshift.dll"),
    );
  });
});

Deno.test("a missing x86 DLL is built with --arch x86", {
  ignore: BUILDS_ON_LINUX,
}, async () => {
  await withDir(async (dir) => {
    const calls: string[][] = [];
    const dll = await resolveDll(undefined, {
      dir,
      arch: "x86",
      builder: async (args) => {
        calls.push(args);
        await Deno.writeFile(join(dir, "heapshift32.dll"), new Uint8Array(1));
        return 0;
      },
    });
    assert.equal(dll, join(dir, "heapshift32.dll"));
    assert.deepEqual(calls, [["--arch", "x86"]]);
  });
});

Deno.test(
  "a checkout's DLL built from other sources than the checkout's is rebuilt as it was built; one without a record is used as it is",
  { ignore: BUILDS_ON_LINUX },
  async () => {
    await withDir(async (dir) => {
      const root = repoRoot();
      const { mi, now } = await checkoutSources();
      const stamp = (name: string, lines: string[]) =>
        writeStamp(dir, name, lines);
      const calls: string[][] = [];
      const builder = (args: string[]) => {
        calls.push(args);
        return Promise.resolve(0);
      };
      await Deno.writeFile(join(dir, "heapshift.dll"), new Uint8Array(1));
      await Deno.writeFile(join(dir, "heapshift32.dll"), new Uint8Array(1));
      // put there by hand: no record
      assert.equal(
        await resolveDll(undefined, { dir, builder }),
        join(dir, "heapshift.dll"),
      );
      assert.equal(await staleBuild(join(dir, "heapshift.dll")), undefined);
      // built from these very sources
      await stamp("heapshift.dll", [
        "mingw",
        mi,
        "30401",
        "exact",
        `sources ${now}`,
      ]);
      assert.equal(await staleBuild(join(dir, "heapshift.dll")), undefined);
      await resolveDll(undefined, { dir, builder });
      assert.deepEqual(calls, []);
      // from other sources: rebuilt with its toolchain, tree and _msize
      await stamp("heapshift.dll", [
        "mingw",
        mi,
        "30401",
        "usable",
        `sources ${"0".repeat(64)}`,
      ]);
      await resolveDll(undefined, { dir, builder });
      assert.deepEqual(calls, [
        [
          "--toolchain",
          "mingw",
          "--msize",
          "usable",
          "--mimalloc-version",
          "3",
        ],
      ]);
      // a tree of the user's (--mimalloc) is kept, whatever its name
      const mine = `${dir}/patched/third_party/mimalloc-3.4.1`;
      await Deno.mkdir(`${mine}/src`, { recursive: true });
      await Deno.writeTextFile(`${mine}/src/static.c`, "/* mine */\n");
      const lines = ["mingw", mine, "30401", "exact"];
      await stamp("heapshift.dll", [...lines, `sources ${"0".repeat(64)}`]);
      assert.deepEqual(await staleBuild(join(dir, "heapshift.dll")), [
        "--toolchain",
        "mingw",
        "--msize",
        "exact",
        "--mimalloc",
        mine,
      ]);
      const digest = await dllSourcesDigest(root, mine);
      await stamp("heapshift.dll", [...lines, `sources ${digest}`]);
      assert.equal(await staleBuild(join(dir, "heapshift.dll")), undefined);
      await stamp("heapshift.dll", [
        "mingw",
        mi,
        "30401",
        "usable",
        `sources ${"0".repeat(64)}`,
      ]);
      // recorded before sources were (an older build-dll), its tree gone:
      // rebuilt from the checkout's tree of that major version
      calls.length = 0;
      await stamp("heapshift32.dll", [
        "mingw",
        "/gone/mimalloc",
        "212",
        "exact",
      ]);
      assert.deepEqual(
        await buildMissingDlls(["x64", "x86"], { dir, builder }),
        [
          join(dir, "heapshift.dll"),
          join(dir, "heapshift32.dll"),
        ],
      );
      assert.deepEqual(calls, [
        [
          "--toolchain",
          "mingw",
          "--msize",
          "usable",
          "--mimalloc-version",
          "3",
        ],
        [
          "--arch",
          "x86",
          "--toolchain",
          "mingw",
          "--msize",
          "exact",
          "--mimalloc-version",
          "2",
        ],
      ]);
      // no rebuild where none may run (build: false; under Wine)
      calls.length = 0;
      assert.equal(
        await resolveDll(undefined, { dir, builder, build: false }),
        join(dir, "heapshift.dll"),
      );
      assert.deepEqual(calls, []);
      // a failed rebuild says how to use the DLL as it is
      await assert.rejects(
        resolveDll(undefined, { dir, builder: () => Promise.resolve(1) }),
        (e: Error) =>
          e instanceof CliError &&
          e.message.includes(
            `Rebuilding the 64-bit hook DLL (${join(dir, "heapshift.dll")})`,
          ) &&
          e.message.includes(
            `pass --dll ${join(dir, "heapshift.dll")} to use it as it is`,
          ),
      );
    });
  },
);

Deno.test("a DLL built from the checkout's own mimalloc tree follows the checkout when it is moved, or its build/ copied from another checkout", async () => {
  // build-dll names its inputs relative to the checkout and the tree, so a
  // moved checkout's DLL is up to date for it (and build-dll leaves its
  // record as it is): the record's tree path, gone or another checkout's,
  // must not make every command run build-dll again, nor pin the build to
  // another checkout's tree.
  await withDir(async (dir) => {
    const { now } = await checkoutSources();
    const other = `${dir}/other-checkout/third_party/mimalloc-3.4.1`;
    await Deno.mkdir(`${other}/src`, { recursive: true });
    await Deno.writeTextFile(`${other}/src/static.c`, "/* another tree */\n");
    await Deno.mkdir(`${dir}/other-checkout/dll`);
    await Deno.writeTextFile(`${dir}/other-checkout/dll/mimalloc_unit.c`, "");
    await Deno.writeFile(join(dir, "heapshift.dll"), new Uint8Array(1));
    for (const mi of ["/gone/checkout/third_party/mimalloc-3.4.1", other]) {
      const stamp = (sources: string) =>
        writeStamp(dir, "heapshift.dll", [
          "mingw",
          mi,
          "30401",
          "usable",
          `sources ${sources}`,
        ]);
      await stamp(now);
      assert.equal(await staleBuild(join(dir, "heapshift.dll")), undefined, mi);
      // sources changed: rebuilt from this checkout's tree of that version
      await stamp("0".repeat(64));
      assert.deepEqual(await staleBuild(join(dir, "heapshift.dll")), [
        "--toolchain",
        "mingw",
        "--msize",
        "usable",
        "--mimalloc-version",
        "3",
      ], mi);
    }
  });
});

Deno.test("warnStaleDlls warns of a DLL built from other sources, for a prefix of the user's (nothing is built for one)", async () => {
  await withDir(async (dir) => {
    const { mi, now: sources } = await checkoutSources();
    await Deno.writeFile(join(dir, "heapshift.dll"), new Uint8Array(1));
    await Deno.writeFile(join(dir, "heapshift32.dll"), new Uint8Array(1));
    for (
      const [name, digest] of [["heapshift.dll", "f".repeat(64)], [
        "heapshift32.dll",
        sources,
      ]]
    ) {
      await writeStamp(dir, name, [
        "mingw",
        mi,
        "30401",
        "exact",
        `sources ${digest}`,
      ]);
    }
    const said: string[] = [];
    const error = console.error;
    console.error = (m: string) => said.push(m);
    try {
      await warnStaleDlls(["x64", "x86"], { dir });
    } finally {
      console.error = error;
    }
    assert.equal(said.length, 1, said.join("\n"));
    assert.match(
      said[0],
      /warning: .*heapshift\.dll was built from other sources than the checkout's/,
    );
    assert.match(
      said[0],
      /run `deno task build-dll --toolchain mingw --msize exact --mimalloc-version 3`/,
    );
  });
});

Deno.test(
  "the progress and warning lines of building the DLL show the checkout's path escaped as shown() does (a folder named with U+202E cannot reverse them)",
  {
    ignore: BUILDS_ON_LINUX,
  },
  async () => {
    await withDir(async (top) => {
      const dir = join(top, "a\u202eb");
      await Deno.mkdir(dir);
      const said: string[] = [];
      const error = console.error;
      console.error = (m: string) => said.push(m);
      try {
        // a stale one: warned of
        const { mi } = await checkoutSources();
        await Deno.writeFile(join(dir, "heapshift.dll"), new Uint8Array(1));
        await writeStamp(dir, "heapshift.dll", [
          "mingw",
          mi,
          "30401",
          "exact",
          `sources ${"f".repeat(64)}`,
        ]);
        await warnStaleDlls(["x64"], { dir });
        await Deno.remove(join(dir, "heapshift.dll"));
        // missing ones: one built, one whose build failed (a warning)
        const builder = async (args: string[]) => {
          if (args.includes("x86")) return 1;
          await Deno.writeFile(join(dir, "heapshift.dll"), new Uint8Array(1));
          return 0;
        };
        await buildMissingDlls(["x64", "x86"], { dir, builder });
      } finally {
        console.error = error;
      }
      assert.equal(said.length, 5, said.join("\n"));
      for (const line of said) {
        assert.doesNotMatch(line, /\u202e/, line);
        assert.match(line, /a\\u202eb/, line);
      }
    });
  },
);

Deno.test("buildMissingDlls builds each missing default DLL, and only those", {
  ignore: BUILDS_ON_LINUX,
}, async () => {
  await withDir(async (dir) => {
    const calls: string[][] = [];
    const builder = async (args: string[]) => {
      calls.push(args);
      const name = args.includes("x86") ? "heapshift32.dll" : "heapshift.dll";
      await Deno.writeFile(`${dir}/${name}`, new Uint8Array(1));
      return 0;
    };
    const both = ["x64", "x86"] as const;
    assert.deepEqual(await buildMissingDlls(["x86"], { dir, builder }), [
      join(dir, "heapshift32.dll"),
    ]);
    assert.deepEqual(await buildMissingDlls(both, { dir, builder }), [
      join(dir, "heapshift.dll"),
    ]);
    assert.deepEqual(calls, [["--arch", "x86"], []]);
    await Deno.remove(join(dir, "heapshift32.dll"));
    assert.deepEqual(await buildMissingDlls(["x64"], { dir, builder }), []);
    assert.deepEqual(await buildMissingDlls(both, { dir, builder }), [
      join(dir, "heapshift32.dll"),
    ]);
    assert.deepEqual(calls, [["--arch", "x86"], [], ["--arch", "x86"]]);
  });
});

Deno.test(
  "buildMissingDlls: a failed build stops the command only when it was the one architecture asked for",
  { ignore: BUILDS_ON_LINUX },
  async () => {
    await withDir(async (dir) => {
      const builder = async (args: string[]) => {
        if (args.includes("x86")) return 1; // the 32-bit build fails
        await Deno.writeFile(join(dir, "heapshift.dll"), new Uint8Array(1));
        return 0;
      };
      assert.deepEqual(
        await buildMissingDlls(["x64", "x86"], { dir, builder }),
        [join(dir, "heapshift.dll")],
      );
      await assert.rejects(
        buildMissingDlls(["x86"], { dir, builder }),
        /Building the 32-bit hook DLL .* failed \(exit 1\)/,
      );
    });
  },
);

Deno.test("a failed build is an error naming the DLL and the command", {
  ignore: BUILDS_ON_LINUX,
}, async () => {
  await withDir(async (dir) => {
    const e = await resolveDll(undefined, {
      dir,
      arch: "x86",
      builder: () => Promise.resolve(1),
    }).catch((e) => e);
    assert.ok(e instanceof CliError);
    assert.equal(
      e.message,
      `Building the 32-bit hook DLL (${
        join(dir, "heapshift32.dll")
      }) with \`deno task build-dll --arch x86\` failed (exit 1); see the build output above`,
    );
    // A build that "succeeds" without producing the file is no success.
    const quiet = await resolveDll(undefined, {
      dir,
      arch: "x86",
      builder: () => Promise.resolve(0),
    }).catch((e) => e);
    assert.match(quiet.message, /exit 0, but heapshift32\.dll is not there/);
    const off = await resolveDll(undefined, { dir, arch: "x86", build: false })
      .catch((e) => e);
    assert.equal(
      off.message,
      `The 32-bit hook DLL is not built (${
        join(dir, "heapshift32.dll")
      }): run \`deno task build-dll --arch x86\`, or pass --dll PATH`,
    );
  });
});

Deno.test("fileArch reads a program's or DLL's bitness", async () => {
  await withDir(async (dir) => {
    await Deno.writeFile(`${dir}/a64.exe`, buildPe({ format: "PE32+" }));
    await Deno.writeFile(`${dir}/a32.exe`, buildPe({ format: "PE32" }));
    await Deno.writeTextFile(`${dir}/text.exe`, "not a program");
    assert.equal(fileArch(`${dir}/a64.exe`), "x64");
    assert.equal(fileArch(`${dir}/a32.exe`), "x86");
    assert.equal(fileArch(`${dir}/text.exe`), undefined);
    assert.equal(fileArch(`${dir}/missing.exe`), undefined);
  });
});

Deno.test("dllForTarget asks for the architecture only without --dll", async () => {
  let asked = 0;
  const arch = () => {
    asked++;
    return "x64" as const;
  };
  const e = await dllForTarget("/no/such/x.dll", arch).catch((e) => e);
  assert.match(e.message, /No DLL at \/no\/such\/x\.dll/);
  assert.equal(asked, 0);
  const dir = await Deno.makeTempDir();
  try {
    const d = await dllForTarget(dir, arch).catch((e) => e);
    assert.equal(
      d.message,
      `Cannot use DLL ${dir}: it is a directory; give the DLL file (for example build/heapshift.dll)`,
    );
  } finally {
    await Deno.remove(dir);
  }
});

Deno.test("specialk registers a 32-bit DLL as Architecture=Win32, under a name of its own", async () => {
  await withDir(async (dir) => {
    const dll32 = `${dir}/h32.dll`;
    const dll64 = `${dir}/h64.dll`;
    await Deno.writeFile(dll32, buildPe({ format: "PE32", dll: true }));
    await Deno.writeFile(dll64, buildPe({ format: "PE32+", dll: true }));
    const ini = `${dir}/SpecialK.ini`;
    const r = await runCli([
      "specialk",
      "--ini",
      ini,
      "--create",
      "--dll",
      dll32,
      "--json",
    ]);
    assert.equal(r.code, 0, r.stderr);
    // Special K's own encoding: UTF-16LE with a BOM.
    const bytes = await Deno.readFile(ini);
    const text = new TextDecoder("utf-16le").decode(bytes);
    assert.match(text, /\[Import\.heapshift32\]\r?\nArchitecture=Win32\r?\n/);
    const bad = await runCli([
      "specialk",
      "--ini",
      ini,
      "--arch",
      "x86",
      "--dll",
      dll64,
    ]);
    assert.equal(bad.code, 1);
    assert.match(
      bad.stderr,
      /h64\.dll is a 64-bit \(x64\) DLL but the game \(--arch x86\) is 32-bit \(x86\): it needs heapshift32\.dll/,
    );
    assert.deepEqual(await Deno.readFile(ini), bytes, "the ini is unchanged");
  });
});

Deno.test("patch of a 32-bit program says to copy heapshift32.dll under the imported name", async () => {
  await withDir(async (dir) => {
    await Deno.writeFile(`${dir}/a32.exe`, buildPe({ format: "PE32" }));
    await Deno.writeFile(`${dir}/a64.exe`, buildPe({ format: "PE32+" }));
    const r32 = await runCli(["patch", `${dir}/a32.exe`]);
    assert.equal(r32.code, 0, r32.stderr);
    assert.match(
      r32.stdout,
      /the loader looks for heapshift\.dll next to a32\.heapshift\.exe: copy build\/heapshift32\.dll there as heapshift\.dll \(the program is 32-bit\)/,
    );
    const named = await runCli([
      "patch",
      `${dir}/a32.exe`,
      "--dll",
      "heapshift32.dll",
      "-o",
      `${dir}/b32.exe`,
    ]);
    assert.match(named.stdout, /copy build\/heapshift32\.dll there \(/);
    const r64 = await runCli(["patch", `${dir}/a64.exe`]);
    assert.match(
      r64.stdout,
      /the loader looks for heapshift\.dll next to a64\.heapshift\.exe: copy build\/heapshift\.dll there\n/,
    );
  });
});

Deno.test("isConsoleProgram: a console program gets our Ctrl+C, a GUI one does not", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const pe = buildPe(); // subsystem 3: console
    await Deno.writeFile(`${dir}/cui.exe`, pe);
    const gui = pe.slice();
    const view = new DataView(gui.buffer);
    const opt = view.getUint32(0x3c, true) + 24; // the optional header
    view.setUint16(opt + 68, 2, true); // IMAGE_SUBSYSTEM_WINDOWS_GUI
    await Deno.writeFile(`${dir}/gui.exe`, gui);
    assert.equal(isConsoleProgram(`${dir}/cui.exe`), true);
    assert.equal(isConsoleProgram(`${dir}/gui.exe`), false);
    assert.equal(isConsoleProgram(`${dir}/none.exe`), false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a binary compiled without the x86 DLL says so for a 32-bit program, and uses no checkout's DLL or build", async () => {
  const dir = await Deno.makeTempDir();
  const built: string[][] = [];
  try {
    // a checkout's build/ holding one: a compiled binary has none to use
    await Deno.writeFile(join(dir, "heapshift32.dll"), new Uint8Array(100));
    const bytes = new Uint8Array([0x4d, 0x5a, 1, 2]);
    setEmbeddedDll({ bytes, sha256: await sha256Hex(bytes) });
    await assert.rejects(
      resolveDll(undefined, {
        arch: "x86",
        dir,
        builder: (args) => {
          built.push(args);
          return Promise.resolve(0);
        },
      }),
      (e: Error) =>
        e instanceof CliError &&
        e.message ===
          "This heapshift binary was compiled without the 32-bit hook DLL (heapshift32.dll): pass --dll PATH to one, or compile it with both (deno task compile without --dll)",
    );
    assert.deepEqual(built, []);
  } finally {
    setEmbeddedDll(undefined);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test(
  "rebuildStaleDlls (before inject --wait) rebuilds the DLLs that are there but stale, and only those; a failure is a warning",
  { ignore: BUILDS_ON_LINUX },
  async () => {
    await withDir(async (dir) => {
      const { mi, now } = await checkoutSources();
      const stamp = (name: string, sources: string) =>
        writeStamp(dir, name, [
          "mingw",
          mi,
          "30401",
          "exact",
          `sources ${sources}`,
        ]);
      const calls: string[][] = [];
      const builder = (args: string[]) => {
        calls.push(args);
        return Promise.resolve(args.includes("x86") ? 1 : 0);
      };
      // x64 there and current: nothing; x86 missing: left for later
      await Deno.writeFile(join(dir, "heapshift.dll"), new Uint8Array(1));
      await stamp("heapshift.dll", now);
      assert.deepEqual(
        await rebuildStaleDlls(["x64", "x86"], { dir, builder }),
        [],
      );
      assert.deepEqual(calls, []);
      // both there and stale: both rebuilt; x86's failure is a warning
      await Deno.writeFile(join(dir, "heapshift32.dll"), new Uint8Array(1));
      await stamp("heapshift.dll", "0".repeat(64));
      await stamp("heapshift32.dll", "0".repeat(64));
      const said: string[] = [];
      const error = console.error;
      console.error = (m: string) => said.push(m);
      try {
        assert.deepEqual(
          await rebuildStaleDlls(["x64", "x86"], { dir, builder }),
          [join(dir, "heapshift.dll")],
        );
      } finally {
        console.error = error;
      }
      assert.equal(calls.length, 2);
      assert.ok(said.some((m) => /warning: Rebuilding the 32-bit/.test(m)));
    });
  },
);

Deno.test("distinctDlls keeps each file once, its first spelling: the same path twice, a link to it, another case on Windows", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const a = join(dir, "a.dll");
    const b = join(dir, "b.dll");
    await Deno.writeFile(a, new Uint8Array(1));
    await Deno.writeFile(b, new Uint8Array(1));
    const link = join(dir, "link.dll");
    await Deno.symlink(a, link);
    // A link is the file it names where realPath resolves it (Linux,
    // Windows); the Windows Deno under Wine does not (link.dll stays
    // itself), and then it is a name of its own, as a second file is.
    let resolved = false;
    try {
      resolved = Deno.realPathSync(link) === Deno.realPathSync(a);
    } catch {
      // under Wine realPath finds no file behind the link
    }
    assert.equal(resolved, !underWine(), "realPath resolves the link");
    assert.deepEqual(
      distinctDlls([a, b, a, link], { windows: false }),
      resolved ? [a, b] : [a, b, link],
    );
    // Windows names files in any case (a file that is not there: by name)
    assert.deepEqual(
      distinctDlls(["C:\\x\\P.dll", "c:\\X\\p.DLL", "\\\\?\\C:\\x\\p.dll"], {
        windows: true,
      }),
      ["C:\\x\\P.dll"],
    );
    // Two files whose names differ in case only (a case-sensitive directory
    // on Windows, a Linux one under Wine) are two DLLs: the file system
    // told them apart, so both are loaded.
    const lower = join(dir, "c.dll");
    const upper = join(dir, "C.dll");
    await Deno.writeFile(lower, new Uint8Array(1));
    await Deno.writeFile(upper, new Uint8Array(2));
    // (a file system that ignores case, as Windows' and Wine's do in a
    // directory of theirs, made one file of them: then it is one DLL)
    const names = [...Deno.readDirSync(dir)].map((e) => e.name);
    const two = names.includes("c.dll") && names.includes("C.dll");
    assert.deepEqual(
      distinctDlls([lower, upper], { windows: true }),
      two ? [lower, upper] : [lower],
    );
    assert.deepEqual(
      distinctDlls(["C:\\x\\P.dll", "c:\\X\\p.DLL"], { windows: false }),
      ["C:\\x\\P.dll", "c:\\X\\p.DLL"],
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
