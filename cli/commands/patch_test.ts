// The `patch` and `imports` commands on Linux: the README's round trip,
// what -f and --allow-foreign mean, links, and one-line errors that name
// the path for what is not a regular file or cannot be written.
import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";
import { imports, patchImports } from "../../pe/mod.ts";
import { buildPe } from "../../pe/_test_pe.ts";
import { posixTest, withDir, withVar } from "../../pe/_test_dir.ts";
import { runCli as cli } from "../_test_utils.ts";
import { checkDllName, copyHint } from "./patch.ts";
import { UsageError } from "../output.ts";
import { builtDll } from "../dll.ts";
import {
  embeddedDll,
  releaseHeld,
  setEmbeddedDll,
  sha256Hex,
} from "../embed.ts";
import { join } from "node:path";

const CLI = fileURLToPath(new URL("../../cli.ts", import.meta.url));

async function listDir(dir: string): Promise<string[]> {
  return (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).sort();
}

const names = async (p: string) =>
  (await imports(p, { symbols: false })).map((d) => d.dll.toLowerCase());

/** Asserts a failed run with exit code 1 and one error line matching `re`. */
function oneLineError(
  r: { code: number; stdout: string; stderr: string },
  re: RegExp,
): void {
  assert.equal(r.code, 1, r.stdout + r.stderr);
  const lines = r.stderr.trim().split("\n");
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0], re);
}

Deno.test("patch -i, then patch --remove -i, as the README shows", async () => {
  await withDir(async (dir) => {
    const exe = `${dir}/game.exe`;
    const original = buildPe();
    await Deno.writeFile(exe, original);
    const p = await cli(["patch", exe, "--inplace"]);
    assert.equal(p.code, 0, p.stderr);
    assert.match(p.stdout, /heapshift\.dll added first/);
    assert.ok(p.stdout.includes(`backup   ${exe}.bak\n`), p.stdout);
    const r = await cli(["patch", exe, "--remove", "--inplace"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /heapshift\.dll removed/);
    assert.ok(r.stdout.includes(`backup   ${exe}.bak.1\n`), r.stdout);
    assert.deepEqual(await Deno.readFile(exe), original);
  });
});

Deno.test("patch refuses to move appended data without --allow-overlay, and writes nothing", async () => {
  await withDir(async (dir) => {
    const exe = `${dir}/setup.exe`;
    const original = buildPe({ overlay: new Uint8Array(100).fill(3) });
    await Deno.writeFile(exe, original);
    oneLineError(
      await cli(["patch", exe, "--inplace"]),
      /^error: Cannot patch .*setup\.exe: it carries 100 bytes of data after its sections .*--allow-overlay/,
    );
    assert.deepEqual(await Deno.readFile(exe), original);
    assert.equal([...Deno.readDirSync(dir)].length, 1, "nothing written");
    const ok = await cli(["patch", exe, "--allow-overlay"]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(
      ok.stdout,
      /warning {2}the data after the sections \(100 bytes\) moved from 0x/,
    );
  });
});

Deno.test("patch --dll of a DLL the program imports moves it first and gives no copy hint; --remove says where the original order is", async () => {
  await withDir(async (dir) => {
    const exe = `${dir}/game.exe`;
    await Deno.writeFile(exe, buildPe());
    const m = await cli(["patch", exe, "--dll", "WS2_32.dll", "--inplace"]);
    assert.equal(m.code, 0, m.stderr);
    assert.match(m.stdout, /WS2_32\.dll moved first/);
    // Copying heapshift.dll over a DLL the program needs would break it.
    assert.doesNotMatch(m.stdout, /copy build/);
    oneLineError(
      await cli(["patch", exe, "--remove", "--dll", "WS2_32.dll"]),
      /^error: .*WS2_32\.dll was not added by heapshift: the program imports it itself .*backup.*--allow-foreign/,
    );
  });
});

Deno.test("patch --remove of a DLL heapshift did not add needs --allow-foreign, not -f", async () => {
  await withDir(async (dir) => {
    const exe = `${dir}/game.exe`;
    await Deno.writeFile(exe, buildPe());
    const args = ["patch", exe, "--remove", "--dll", "WS2_32.dll"];
    for (const extra of [[], ["--force"]]) {
      oneLineError(
        await cli([...args, ...extra]),
        /^error: .*not added by heapshift.*--allow-foreign/,
      );
    }
    assert.equal([...Deno.readDirSync(dir)].length, 1, "nothing written");
    const ok = await cli([...args, "--allow-foreign", "--json"]);
    assert.equal(ok.code, 0, ok.stderr);
    const rep = JSON.parse(ok.stdout);
    assert.equal(rep.action, "removed");
    assert.equal(rep.machine, 0x8664);
    const left = await names(rep.output);
    assert.ok(!left.includes("ws2_32.dll") && left.includes("kernel32.dll"));
  });
});

posixTest(
  "patch -i of a symbolic link patches its target and says so",
  async (dir) => {
    await Deno.writeFile(`${dir}/real.exe`, buildPe());
    await Deno.symlink("real.exe", `${dir}/link.exe`);
    const r = await cli(["patch", `${dir}/link.exe`, "-i"]);
    assert.equal(r.code, 0, r.stderr);
    const real = await Deno.realPath(`${dir}/real.exe`);
    assert.ok(r.stdout.includes(`written  ${real}\n`), r.stdout);
    assert.match(
      r.stdout,
      /warning {2}.*link\.exe is a symbolic link: the file it points to, .*real\.exe, is the one written/,
    );
    assert.ok((await Deno.lstat(`${dir}/link.exe`)).isSymlink);
    assert.equal((await names(`${dir}/real.exe`))[0], "heapshift.dll");
  },
);

posixTest(
  "patch -i of a file with hard links is refused with the reason",
  async (dir) => {
    const exe = `${dir}/game.exe`;
    await Deno.writeFile(exe, buildPe());
    await Deno.link(exe, `${dir}/copy.exe`);
    oneLineError(
      await cli(["patch", exe, "-i"]),
      new RegExp(
        `^error: Cannot replace ${
          RegExp.escape(exe)
        }: it has 2 hard links, and a new file under this name would leave the other 1 with the old bytes`,
      ),
    );
    assert.deepEqual((await names(exe))[0], "kernel32.dll");
  },
);

posixTest(
  "what is not a regular file is refused up front, naming the path",
  async (dir) => {
    const fifo = `${dir}/pipe.exe`;
    await new Deno.Command("mkfifo", { args: [fifo] }).output();
    const cases: [string[], string][] = [
      [
        ["patch", "/dev/zero"],
        "Cannot read /dev/zero: it is a character device, not a regular file",
      ],
      [
        ["imports", fifo],
        `Cannot read ${fifo}: it is a FIFO (named pipe), not a regular file`,
      ],
      [
        ["imports", dir, "-s"],
        `Cannot read ${dir}: it is a directory, not a regular file`,
      ],
      [
        ["imports", `${dir}/none.exe`],
        `Cannot read ${dir}/none.exe: no such file`,
      ],
    ];
    for (const [args, msg] of cases) {
      oneLineError(
        await cli(args),
        new RegExp(`^error: ${RegExp.escape(msg)}$`),
      );
    }
  },
);

Deno.test("a failed write names the output path", async () => {
  await withDir(async (dir) => {
    const exe = `${dir}/game.exe`;
    await Deno.writeFile(exe, buildPe());
    const out = `${dir}/missing/out.exe`;
    oneLineError(
      await cli(["patch", exe, "-o", out]),
      new RegExp(
        `^error: Cannot write ${
          RegExp.escape(out)
        }: its directory does not exist$`,
      ),
    );
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), [
      "game.exe",
    ]);
  });
});

Deno.test("patch --remove takes out the DLL a --postfix patch added", async () => {
  await withDir(async (dir) => {
    const exe = `${dir}/game.exe`;
    const original = buildPe();
    await Deno.writeFile(exe, original);
    const p = await cli(["patch", exe, "-i", "--postfix", "-dbg"]);
    assert.equal(p.code, 0, p.stderr);
    const r = await cli(["patch", exe, "--remove", "-i"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^game\.exe: heapshift-dbg\.dll removed\n/);
    assert.deepEqual(await Deno.readFile(exe), original);
  });
});

Deno.test("patch refuses an option that does not apply: of the other half of the command, or of writing with --list (exit 2)", async () => {
  const cases: [string[], string][] = [
    [
      ["--allow-foreign"],
      "--allow-foreign applies with --remove: add --remove, or leave it out",
    ],
    [
      ["--remove", "--allow-overlay"],
      "--allow-overlay applies to adding the DLL, not with --remove: leave it out",
    ],
    // -l writes nothing: an option of what to write is not for it
    [
      ["-l", "-i"],
      "--inplace does not apply with --list, which writes nothing: leave one out",
    ],
    [
      ["--list", "-o", "out.exe"],
      "--out does not apply with --list, which writes nothing: leave one out",
    ],
    [
      ["-l", "--remove", "-f"],
      "--force does not apply with --list, which writes nothing: leave one out",
    ],
    // said so before what is wrong with the name, on Windows a stream's
    [
      ["--list", "-o", "a:b.exe"],
      "--out does not apply with --list, which writes nothing: leave one out",
    ],
  ];
  for (const [args, msg] of cases) {
    const r = await cli(["patch", "game.exe", ...args]);
    assert.deepEqual([r.code, r.stderr], [2, `error: ${msg}\n`]);
  }
});

posixTest(
  "a backslash in a file name is part of the name on POSIX",
  async (dir) => {
    const exe = `${dir}/back\\slash.exe`;
    await Deno.writeFile(exe, buildPe());
    const r = await cli(["patch", exe]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^back\\slash\.exe: heapshift\.dll added first\n/);
    assert.ok(r.stdout.includes(`written  ${dir}/back\\slash.heapshift.exe\n`));
  },
);

posixTest(
  "Ctrl+C while patch -i writes removes what it wrote and exits 130",
  async (dir) => {
    const exe = `${dir}/big.exe`;
    const head = buildPe();
    await Deno.writeFile(exe, head);
    // Zeros after the sections are padding, not a payload: the patch copies
    // them, which takes long enough to be interrupted.
    await Deno.truncate(exe, 1500 << 20);
    const before = await Deno.stat(exe);
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", CLI, "patch", exe, "-i"],
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    // The backup is written first: wait for the new file's own temporary.
    const temporary = /^\.big\.exe\.[0-9a-f]{8}\.tmp$/;
    while (!(await listDir(dir)).some((f) => temporary.test(f))) {
      await new Promise((r) => setTimeout(r, 10));
    }
    child.kill("SIGINT");
    const r = await child.output();
    assert.equal(r.code, 130, new TextDecoder().decode(r.stderr));
    assert.equal(
      new TextDecoder().decode(r.stderr),
      "error: Patch of big.exe interrupted: nothing was changed\n",
    );
    assert.deepEqual(await listDir(dir), ["big.exe"]);
    const after = await Deno.stat(exe);
    assert.deepEqual([after.ino, after.size], [before.ino, before.size]);
    using f = await Deno.open(exe);
    const start = new Uint8Array(head.length);
    await f.read(start);
    assert.deepEqual(start, head);
  },
);

Deno.test("patch in a compiled binary names the extracted DLL to copy, not build/ (which it has not)", async () => {
  // defaultExtractDir's base: LOCALAPPDATA on Windows
  const base = Deno.build.os === "windows" ? "LOCALAPPDATA" : "XDG_CACHE_HOME";
  await withVar(base, async (dir) => {
    Deno.env.set(base, dir);
    const bytes = buildPe({ dll: true });
    setEmbeddedDll({ bytes, sha256: await sha256Hex(bytes) });
    try {
      const hint = await copyHint("heapshift.dll", "x64", "/g/game.exe");
      const m = new RegExp(
        `^the loader looks for heapshift\\.dll next to game\\.exe: copy (${
          RegExp.escape(join(dir, "heapshift", "dll", "heapshift-"))
        }[0-9a-f]{16}\\.dll) there as heapshift\\.dll$`,
      ).exec(hint);
      assert.ok(m, hint);
      assert.deepEqual(await Deno.readFile(m[1]), bytes);
      // No embedded 32-bit DLL (a binary built with --dll): none to name.
      assert.equal(embeddedDll("x86"), undefined);
      assert.equal(
        await copyHint("heapshift.dll", "x86", "/g/game32.exe"),
        "the loader looks for heapshift.dll next to game32.exe: copy heapshift32.dll there as heapshift.dll (the program is 32-bit; this binary embeds no 32-bit DLL: build it from a checkout of heapshift with `deno task build-dll --arch x86`)",
      );
    } finally {
      setEmbeddedDll(undefined);
      releaseHeld();
    }
  });
});

Deno.test("patch from a checkout names build/'s DLL to copy", async () => {
  assert.equal(
    await copyHint("heapshift.dll", "x64", "/g/game.heapshift.exe"),
    "the loader looks for heapshift.dll next to game.heapshift.exe: copy build/heapshift.dll there",
  );
});

Deno.test("patch from elsewhere than the checkout's root names build/'s DLL by its whole path", async () => {
  const here = Deno.cwd();
  const dir = await Deno.makeTempDir();
  try {
    Deno.chdir(dir);
    assert.equal(
      await copyHint("heapshift.dll", "x64", "/g/game.heapshift.exe"),
      `the loader looks for heapshift.dll next to game.heapshift.exe: copy ${
        builtDll("x64")
      } there`,
    );
  } finally {
    Deno.chdir(here);
    await Deno.remove(dir);
  }
});

Deno.test("patch --remove --dll takes a name patch would refuse now (a program patched with it before has it to remove)", () => {
  checkDllName({ dll: "con.dll", remove: true });
  checkDllName({ dll: "x.dll.", remove: true });
  assert.throws(() => checkDllName({ dll: "con.dll" }), UsageError);
});

Deno.test("patch --dll NAME without an extension: the loader looks for NAME.dll, and the hint says to copy the DLL as that", async () => {
  assert.equal(
    await copyHint("hs", "x64", "/g/game.heapshift.exe"),
    "the loader looks for hs.dll next to game.heapshift.exe: copy build/heapshift.dll there as hs.dll",
  );
  assert.equal(
    await copyHint("heapshift", "x64", "/g/game.heapshift.exe"),
    "the loader looks for heapshift.dll next to game.heapshift.exe: copy build/heapshift.dll there",
  );
});

Deno.test("patch of a DLL says its import is looked for beside the program that loads it, not beside the DLL", async () => {
  await withDir(async (dir) => {
    const plugin = `${dir}/plugin.dll`;
    await Deno.writeFile(plugin, buildPe({ dll: true }));
    const r = await cli(["patch", plugin, "--inplace"]);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(
      r.stdout,
      /looks for heapshift\.dll next to plugin\.dll/,
    );
    assert.match(
      r.stdout,
      /looks for heapshift\.dll beside the program that loads plugin\.dll \(the application's directory\), not beside plugin\.dll: copy \S+ there/,
    );
  });
});

Deno.test("patch warns when heapshift is added to a program on another C runtime (nothing to take over), in the report and in --json; not for a UCRT program", async () => {
  await withDir(async (dir) => {
    const exe = `${dir}/old.exe`;
    await Deno.writeFile(
      exe,
      buildPe({
        imports: [
          { dll: "KERNEL32.dll", symbols: ["ExitProcess"] },
          { dll: "msvcrt.dll", symbols: ["malloc", "free"] },
        ],
      }),
    );
    const warning =
      /heapshift takes over the UCRT's allocator \(ucrtbase\.dll\), and old\.exe uses the old C runtime \(msvcrt\.dll\), none of its files the UCRT: heapshift\.dll would have nothing to take over unless the program loads a module that uses the UCRT \(a plugin\), though it reports itself live; a block such a module allocates is mimalloc's: should old\.exe free it with its own C runtime's free \(memory a plugin hands over\), Windows ends the program \(dll\/README\.md, Known limits\)$/m;
    const p = await cli(["patch", exe, "-l"]);
    assert.equal(p.code, 0, p.stderr);
    assert.match(p.stdout, warning);
    const j = await cli(["patch", exe, "-l", "--json"]);
    assert.equal(j.code, 0, j.stderr);
    assert.ok(
      JSON.parse(j.stdout).warnings.some((w: string) => warning.test(w)),
      j.stdout,
    );
    // --dll names heapshift's DLL under another name (the copy hint says so)
    const named = await cli(["patch", exe, "-l", "--dll", "hs.dll"]);
    assert.equal(named.code, 0, named.stderr);
    assert.match(named.stdout, /hs\.dll would have nothing to take over/);
    const ucrt = `${dir}/new.exe`;
    await Deno.writeFile(ucrt, buildPe());
    const u = await cli(["patch", ucrt, "-l"]);
    assert.equal(u.code, 0, u.stderr);
    assert.doesNotMatch(u.stdout, /nothing to take over/);
  });
});

Deno.test("patch warns when heapshift is added to a program that imports no C runtime DLL (a static C runtime, Rust's or Deno's own, none at all): nothing to take over", async () => {
  await withDir(async (dir) => {
    const exe = `${dir}/static.exe`;
    await Deno.writeFile(
      exe,
      buildPe({
        imports: [{ dll: "KERNEL32.dll", symbols: ["HeapAlloc", "HeapFree"] }],
      }),
    );
    const p = await cli(["patch", exe]);
    assert.equal(p.code, 0, p.stderr);
    assert.match(
      p.stdout,
      /warning {2}heapshift takes over the UCRT's allocator \(ucrtbase\.dll\), and static\.exe imports no C runtime DLL for its allocations \(it links one in, or uses none: neither it nor the DLLs it imports from beside it import ucrtbase\.dll or api-ms-win-crt-heap\), so heapshift\.dll would have nothing to take over unless the program loads a module that uses the UCRT \(a plugin\), though it reports itself live; a block such a module allocates is mimalloc's: should static\.exe free it with its own free \(memory a plugin hands over\), Windows ends the program \(dll\/README\.md, Known limits\)$/m,
    );
    // A DLL beside it that uses the UCRT is what heapshift takes over.
    await Deno.writeFile(
      `${dir}/engine.dll`,
      buildPe({ dll: true }),
    );
    await Deno.writeFile(
      exe,
      buildPe({
        imports: [
          { dll: "KERNEL32.dll", symbols: ["ExitProcess"] },
          { dll: "engine.dll", symbols: ["run"] },
        ],
      }),
    );
    const e = await cli(["patch", exe, "-l"]);
    assert.equal(e.code, 0, e.stderr);
    assert.doesNotMatch(e.stdout, /nothing to take over/);
  });
});

Deno.test("patch --dll given a path, drive-relative ones (C:x.dll) too, says to give the file name the program is to import", () => {
  for (
    const [dll, name] of [
      ["a/b.dll", "b.dll"],
      ["C:\\games\\hs.dll", "hs.dll"],
      // the file x.dll in drive C:'s current directory, not a name
      ["C:x.dll", "x.dll"],
      ["c:heapshift.dll", "heapshift.dll"],
      // a directory: no name to take from it
      ["C:.", "heapshift.dll"],
      ["dir\\..", "heapshift.dll"],
      // Windows drops a trailing dot
      ["C:\\games\\hs.dll.", "hs.dll"],
    ]
  ) {
    assert.throws(() => checkDllName({ dll }), (e: Error) => {
      assert.ok(e instanceof UsageError, String(e));
      assert.equal(
        e.message,
        `--dll: invalid DLL name ${
          JSON.stringify(dll)
        }: patch's --dll is the file name the program is to import, not a path (Windows looks for it next to the program): --dll ${name}, then copy the DLL there`,
      );
      return true;
    });
  }
  // a name with a ':' elsewhere is no path: only invalid, said why
  assert.throws(() => checkDllName({ dll: "ab:c.dll" }), (e: Error) => {
    assert.equal(
      e.message,
      `--dll: invalid DLL name "ab:c.dll": it holds ':', which a file name cannot: name the DLL otherwise, e.g. heapshift.dll`,
    );
    return true;
  });
  // a path with a postfix: the one hint that fits, the path's, naming
  // the --dll given
  assert.throws(
    () => checkDllName({ dll: "C:\\games\\hs.dll", postfix: "32" }),
    (e: Error) => {
      assert.equal(
        e.message,
        `--dll: invalid DLL name "C:\\\\games\\\\hs.dll": patch's --dll is the file name the program is to import, not a path (Windows looks for it next to the program): --dll hs.dll, then copy the DLL there`,
      );
      return true;
    },
  );
  // a postfix that makes the name invalid says so with pe/'s advice
  assert.throws(
    () => checkDllName({ dll: "hs.dll", postfix: "/x" }),
    (e: Error) => {
      assert.equal(
        e.message,
        `--dll/--postfix: invalid DLL name "hs/x.dll": it holds '/', which a file name cannot: name the DLL otherwise, e.g. heapshift.dll`,
      );
      return true;
    },
  );
});

/** A program in `dir` whose name is `length` characters (ASCII). */
async function programNamed(dir: string, length: number): Promise<string> {
  const exe = join(dir, `${"g".repeat(length - 4)}.exe`);
  await Deno.writeFile(exe, buildPe());
  return exe;
}

/** How names are counted: UTF-16 units on Windows (the Windows Deno under
 * Wine too), UTF-8 bytes elsewhere. */
const unit = Deno.build.os === "windows" ? "characters" : "bytes";

Deno.test("patch refuses, before it writes anything, a name too long to write through its temporary file (the copy, the backup, --out), saying what to do; one a byte shorter is written", async () => {
  await withDir(async (dir) => {
    const program = (length: number) => programNamed(dir, length);
    const why = (length: number) =>
      `its name is ${length} ${unit}, and the temporary file it is written through is named 14 longer, over the 255 a file name may have`;
    const refused = async (
      args: string[],
      message: string,
    ) => {
      const before = await listDir(dir);
      const r = await cli(["patch", ...args]);
      assert.equal(r.code, 2, r.stdout + r.stderr);
      assert.equal(r.stderr, `error: ${message}\n`);
      assert.deepEqual(await listDir(dir), before);
    };
    const written = async (args: string[]) => {
      const r = await cli(["patch", ...args]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
    };
    // the copy is the program's name and 10 more (.heapshift)
    const long = await program(232);
    const copy = long.replace(/\.exe$/, ".heapshift.exe");
    await refused(
      [long],
      `patch: the copy ${copy}: ${
        why(242)
      }: name it with --out PATH, at most 241 ${unit}`,
    );
    await written([await program(231)]);
    // the backup is the program's name and 4 more (.bak)
    const kept = await program(238);
    await refused(
      [kept, "--inplace"],
      `patch --inplace: the backup ${kept}.bak: ${
        why(242)
      }: patch a copy with --out PATH instead, at most 241 ${unit}`,
    );
    await written([await program(237), "--inplace"]);
    // --out as given
    const out = join(dir, `${"o".repeat(238)}.exe`);
    await refused(
      [await program(8), "--out", out],
      `--out ${out}: ${why(242)}: choose a name of at most 241 ${unit}`,
    );
    await written([
      await program(8),
      "--out",
      join(dir, `${"o".repeat(237)}.exe`),
    ]);
  });
});

Deno.test("patch --inplace checks the backup it will write: .bak.1 when .bak holds other bytes (refused before anything is written), none when .bak holds the same bytes (then only the program's own name counts)", async () => {
  await withDir(async (dir) => {
    const program = (length: number) => programNamed(dir, length);
    // 237 bytes: its .bak (241) passes, its .bak.1 (243) does not
    const taken = await program(237);
    await Deno.writeTextFile(`${taken}.bak`, "another program's backup");
    const before = await listDir(dir);
    const r = await cli(["patch", taken, "--inplace"]);
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.equal(
      r.stderr,
      `error: patch --inplace: the backup ${taken}.bak.1: its name is 243 ${unit}, and the temporary file it is written through is named 14 longer, over the 255 a file name may have: patch a copy with --out PATH instead, at most 241 ${unit}\n`,
    );
    assert.deepEqual(await listDir(dir), before);
    // 240 bytes, its .bak (244) the same bytes: reused, not written
    const kept = await program(240);
    await Deno.copyFile(kept, `${kept}.bak`);
    const w = await cli(["patch", kept, "--inplace"]);
    assert.equal(w.code, 0, w.stdout + w.stderr);
    assert.equal((await names(kept))[0], "heapshift.dll");
    assert.deepEqual(await Deno.readFile(`${kept}.bak`), buildPe());
    assert.ok(!(await listDir(dir)).some((n) => n.endsWith(".bak.1")));
  });
});

// Refused for a name only when a file is to be written: a program patched
// already has none, whatever the length of its name.
Deno.test("patch of a program patched already says there is nothing to do however long its name (its copy's, its backup's, its own too long to write), and writes nothing", async () => {
  await withDir(async (dir) => {
    const patched = async (length: number) => {
      const exe = await programNamed(dir, length);
      const short = join(dir, "p.exe");
      await Deno.rename(exe, short);
      await patchImports(short, { inPlace: true, backup: false });
      await Deno.rename(short, exe);
      return exe;
    };
    // 238: its .bak (242) too long; 242: itself; 255: its .bak over 255
    for (const length of [238, 242, 255]) {
      const exe = await patched(length);
      const before = await listDir(dir);
      for (const args of [[exe], [exe, "--inplace"]]) {
        const r = await cli(["patch", ...args]);
        assert.equal(r.code, 0, `${length} ${args}: ${r.stdout}${r.stderr}`);
        assert.match(
          r.stdout,
          /: heapshift\.dll is already first: nothing to do\n/,
        );
        assert.deepEqual(await listDir(dir), before);
      }
      await Deno.remove(exe);
    }
    // and removing a DLL from a program that does not import it
    const plain = await programNamed(dir, 250);
    const before = await listDir(dir);
    const r = await cli(["patch", plain, "--remove", "--inplace"]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /: heapshift\.dll is not imported: nothing to do\n/);
    assert.deepEqual(await listDir(dir), before);
  });
});

// pe/ looks for a copy before writing it: a name over 255 is refused for
// its length, not in the words of that look
Deno.test("patch of a program whose copy's name would be over 255 refuses it for its length, saying what to do; nothing is written", async () => {
  await withDir(async (dir) => {
    const exe = await programNamed(dir, 250);
    const copy = exe.replace(/\.exe$/, ".heapshift.exe");
    const before = await listDir(dir);
    const r = await cli(["patch", exe]);
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.equal(
      r.stderr,
      `error: patch: the copy ${copy}: its name is 260 ${unit}, and the temporary file it is written through is named 14 longer, over the 255 a file name may have: name it with --out PATH, at most 241 ${unit}\n`,
    );
    assert.deepEqual(await listDir(dir), before);
  });
});

posixTest(
  "patch --inplace of a symbolic link checks the names written beside the file it leads to, not the link's",
  async (dir) => {
    const real = join(dir, `${"r".repeat(236)}.exe`); // its .bak: 244 bytes
    await Deno.writeFile(real, buildPe());
    const link = join(dir, "game.exe");
    await Deno.symlink(real, link);
    const before = await listDir(dir);
    const r = await cli(["patch", link, "--inplace"]);
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(
      r.stderr,
      /^error: patch --inplace: the backup \S+r\.exe\.bak: its name is 244 bytes/,
    );
    assert.deepEqual(await listDir(dir), before);
  },
);

posixTest(
  "patch --out over a symbolic link (--force) checks the name written beside the file it leads to, not the link's",
  async (dir) => {
    const exe = join(dir, "game.exe");
    await Deno.writeFile(exe, buildPe());
    const real = join(dir, `${"r".repeat(238)}.exe`); // 242 bytes
    await Deno.writeFile(real, new Uint8Array([1]));
    const link = join(dir, "out.exe");
    await Deno.symlink(real, link);
    const before = await listDir(dir);
    const r = await cli(["patch", exe, "--out", link, "--force"]);
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(
      r.stderr,
      /^error: --out \S+out\.exe: the file it leads to, \S+r\.exe: its name is 242 bytes/,
    );
    assert.deepEqual(await listDir(dir), before);
    assert.deepEqual(await Deno.readFile(real), new Uint8Array([1]));
  },
);
