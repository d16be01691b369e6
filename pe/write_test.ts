import assert from "node:assert/strict";
import { join } from "node:path";
import { OutputExistsError, PeFileError, PeFormatError } from "./errors.ts";
import { imports } from "./reader.ts";
import {
  defaultOutputPath,
  patchImports,
  removeImport,
  writeFileAtomic,
} from "./write.ts";
import { buildPe, DEFAULT_IMPORTS } from "./_test_pe.ts";
import { posixTest, withDir } from "./_test_dir.ts";
import { patchImportsBytes } from "./patch.ts";
import { removeImportBytes } from "./remove.ts";

async function listDir(dir: string): Promise<string[]> {
  return (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).sort();
}

/** The uid and gid of `nobody`, whom the tests run as when we are root. */
const NOBODY = 65534;

/**
 * Runs the Deno script `script` (only reads and writes allowed) with
 * `args`, as `nobody` when `asNobody` (setpriv); its output, trimmed, and
 * its stderr. `dir` holds its DENO_DIR (`dir/.deno`).
 */
async function runScript(
  script: string,
  args: readonly string[],
  options: { dir: string; asNobody: boolean },
): Promise<{ said: string; stderr: string }> {
  const deno = Deno.execPath();
  const run = [
    deno,
    "run",
    "--no-config",
    "--allow-read",
    "--allow-write",
    script,
    ...args,
  ];
  const cmd = options.asNobody
    ? [
      "setpriv",
      `--reuid=${NOBODY}`,
      `--regid=${NOBODY}`,
      "--clear-groups",
      ...run,
    ]
    : run;
  const r = await new Deno.Command(cmd[0], {
    args: cmd.slice(1),
    env: { DENO_DIR: `${options.dir}/.deno`, DENO_NO_UPDATE_CHECK: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { said: text(r.stdout).trim(), stderr: text(r.stderr) };
}

const dllsOf = async (p: string) => (await imports(p)).map((d) => d.dll);

Deno.test("defaultOutputPath() puts the tag before the extension", () => {
  assert.equal(defaultOutputPath("/a/game.exe"), "/a/game.heapshift.exe");
  assert.equal(
    defaultOutputPath("game.exe", "unpatched"),
    "game.unpatched.exe",
  );
  if (Deno.build.os === "windows") {
    assert.equal(defaultOutputPath("C:\\x.y\\game"), "C:\\x.y\\game.heapshift");
  } else {
    // A backslash is part of a POSIX file name, not a separator.
    assert.equal(
      defaultOutputPath("/a/back\\slash.exe"),
      "/a/back\\slash.heapshift.exe",
    );
  }
});

posixTest(
  "a file name with a backslash is patched next to itself on POSIX",
  async (dir) => {
    const exe = `${dir}/back\\slash.exe`;
    await Deno.writeFile(exe, buildPe());
    const r = await patchImports(exe);
    assert.equal(r.output, `${dir}/back\\slash.heapshift.exe`);
    assert.deepEqual(await listDir(dir), [
      "back\\slash.exe",
      "back\\slash.heapshift.exe",
    ]);
  },
);

Deno.test("patchImports() writes a new file next to the original", async () => {
  await withDir(async (dir) => {
    const exe = `${dir}/game.exe`;
    const original = buildPe();
    await Deno.writeFile(exe, original);
    const r = await patchImports(exe);
    assert.equal(r.action, "added");
    assert.equal(r.output, `${dir}/game.heapshift.exe`);
    assert.deepEqual(r.imports, [
      "heapshift.dll",
      ...DEFAULT_IMPORTS.map((d) => d.dll),
    ]);
    assert.deepEqual(await Deno.readFile(exe), original);
    assert.equal((await dllsOf(r.output!))[0], "heapshift.dll");
    assert.deepEqual(await listDir(dir), ["game.exe", "game.heapshift.exe"]);
    // The output exists now: refused without force, replaced with it.
    await assert.rejects(() => patchImports(exe), OutputExistsError);
    const forced = await patchImports(exe, { force: true });
    assert.equal(forced.output, r.output);
    // Patching the output again changes nothing and writes nothing.
    const again = await patchImports(r.output!, { output: `${dir}/x.exe` });
    assert.equal(again.changed, false);
    assert.equal(again.output, undefined);
    assert.deepEqual(await listDir(dir), ["game.exe", "game.heapshift.exe"]);
  });
});

Deno.test("patchImports({ inPlace }) keeps a backup; removeImport() restores", async () => {
  await withDir(async (dir) => {
    const exe = `${dir}/game.exe`;
    const original = buildPe({
      overlay: new Uint8Array(64).fill(9),
      symbols: 2,
    });
    await Deno.writeFile(exe, original);
    if (Deno.build.os !== "windows") await Deno.chmod(exe, 0o751);
    const r = await patchImports(exe, {
      inPlace: true,
      postfix: "-debug",
      allowOverlay: true,
    });
    assert.equal(r.output, exe);
    assert.equal(r.backup, `${exe}.bak`);
    assert.deepEqual(await Deno.readFile(`${exe}.bak`), original);
    assert.equal((await dllsOf(exe))[0], "heapshift-debug.dll");
    if (Deno.build.os !== "windows") {
      assert.equal((await Deno.stat(exe)).mode! & 0o777, 0o751);
    }
    // A second in-place patch is a no-op, so the backup is not in the way.
    assert.equal(
      (await patchImports(exe, { inPlace: true, postfix: "-debug" })).changed,
      false,
    );
    const u = await removeImport(exe, {
      inPlace: true,
      postfix: "-debug",
      backup: false,
    });
    assert.equal(u.action, "removed");
    assert.deepEqual(await Deno.readFile(exe), original);
    assert.deepEqual(await listDir(dir), ["game.exe", "game.exe.bak"]);
  });
});

Deno.test("patch in place, then remove in place, as the README shows: backups rotate", async () => {
  await withDir(async (dir) => {
    const exe = `${dir}/game.exe`;
    const original = buildPe();
    await Deno.writeFile(exe, original);
    const p = await patchImports(exe, { inPlace: true });
    assert.equal(p.backup, `${exe}.bak`);
    const patched = await Deno.readFile(exe);
    // The backup of the original is in the way of the undo's backup: the
    // undo keeps the patched file beside it instead of failing.
    const u = await removeImport(exe, { inPlace: true });
    assert.equal(u.action, "removed");
    assert.equal(u.backup, `${exe}.bak.1`);
    assert.deepEqual(await Deno.readFile(exe), original);
    assert.deepEqual(await Deno.readFile(`${exe}.bak`), original);
    assert.deepEqual(await Deno.readFile(`${exe}.bak.1`), patched);
    // Again: each backup already holds the bytes, and is reused.
    assert.equal((await patchImports(exe, { inPlace: true })).backup, p.backup);
    assert.equal((await removeImport(exe, { inPlace: true })).backup, u.backup);
    assert.deepEqual(await listDir(dir), [
      "game.exe",
      "game.exe.bak",
      "game.exe.bak.1",
    ]);
    // A backup path given explicitly is never overwritten without force.
    await assert.rejects(
      () => patchImports(exe, { inPlace: true, backup: `${exe}.bak` }),
      OutputExistsError,
    );
    const forced = await patchImports(exe, {
      inPlace: true,
      backup: `${exe}.bak.1`,
      force: true,
    });
    assert.equal(forced.backup, `${exe}.bak.1`);
    assert.deepEqual(await Deno.readFile(`${exe}.bak.1`), original);
  });
});

posixTest(
  "in place through a symbolic link: the file it points to is patched",
  async (dir) => {
    await Deno.mkdir(`${dir}/real`);
    const real = `${dir}/real/game.exe`;
    const link = `${dir}/game.exe`;
    const original = buildPe();
    await Deno.writeFile(real, original);
    await Deno.symlink("real/game.exe", link);
    const r = await patchImports(link, { inPlace: true });
    assert.equal(r.output, await Deno.realPath(real));
    assert.equal(r.backup, `${r.output}.bak`);
    assert.match(r.warnings.join("\n"), /game\.exe is a symbolic link/);
    assert.ok((await Deno.lstat(link)).isSymlink, "the link stays a link");
    assert.equal((await dllsOf(real))[0], "heapshift.dll");
    assert.deepEqual(await Deno.readFile(`${real}.bak`), original);
    // An output that is a link is written through too (with force).
    const out = `${dir}/out.exe`;
    await Deno.writeFile(`${dir}/real/out.exe`, new Uint8Array(1));
    await Deno.symlink("real/out.exe", out);
    await patchImports(`${real}.bak`, {
      output: out,
      force: true,
      dll: "other.dll",
    });
    assert.ok((await Deno.lstat(out)).isSymlink);
    assert.equal((await dllsOf(`${dir}/real/out.exe`))[0], "other.dll");
  },
);

posixTest(
  "a file with several hard links is not replaced under one name",
  async (dir) => {
    const exe = `${dir}/game.exe`;
    const original = buildPe();
    await Deno.writeFile(exe, original);
    await Deno.link(exe, `${dir}/other.exe`);
    await assert.rejects(
      () => patchImports(exe, { inPlace: true }),
      (e) =>
        e instanceof PeFileError && e.path === exe &&
        /2 hard links/.test(e.message),
    );
    await Deno.writeFile(`${dir}/a.exe`, original);
    await assert.rejects(
      () => patchImports(`${dir}/a.exe`, { output: exe, force: true }),
      (e) => e instanceof PeFileError && /hard links/.test(e.message),
    );
    assert.deepEqual(await Deno.readFile(exe), original);
    assert.deepEqual(await listDir(dir), ["a.exe", "game.exe", "other.exe"]);
  },
);

/** Rejects within 5 s (a FIFO or a device must not be read at all). */
async function rejectsPromptly(
  fn: () => Promise<unknown>,
  check: (e: unknown) => boolean,
): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error("still reading")), 5000);
  });
  try {
    await assert.rejects(() => Promise.race([fn(), late]), check);
  } finally {
    clearTimeout(timer);
  }
}

posixTest(
  "only regular files are read, and the message names the path",
  async (dir) => {
    const fifo = `${dir}/pipe.exe`;
    await new Deno.Command("mkfifo", { args: [fifo] }).output();
    const cases: [string, RegExp][] = [
      ["/dev/zero", /a character device, not a regular file/],
      [fifo, /a FIFO \(named pipe\), not a regular file/],
      [dir, /a directory, not a regular file/],
      [`${dir}/missing.exe`, /no such file/],
    ];
    for (const [path, why] of cases) {
      const check = (e: unknown) =>
        e instanceof PeFileError && e.path === path &&
        e.message.startsWith(`Cannot read ${path}: `) && why.test(e.message);
      await rejectsPromptly(() => imports(path), check);
      await rejectsPromptly(
        () => patchImports(path, { inPlace: true }),
        check,
      );
      await rejectsPromptly(() => removeImport(path, { list: true }), check);
    }
    assert.deepEqual(await listDir(dir), ["pipe.exe"]);
  },
);

Deno.test("a failed write names the output, never a temporary file", async () => {
  await withDir(async (dir) => {
    const exe = `${dir}/game.exe`;
    await Deno.writeFile(exe, buildPe());
    const out = `${dir}/no/such/dir/out.exe`;
    await assert.rejects(
      () => patchImports(exe, { output: out }),
      (e) =>
        e instanceof PeFileError && e.path === out &&
        e.message === `Cannot write ${out}: its directory does not exist`,
    );
    await assert.rejects(
      () => writeFileAtomic(out, new Uint8Array(1)),
      (e) => e instanceof PeFileError && !/\.tmp/.test(e.message),
    );
    // An output that exists but is not a file is refused up front.
    await Deno.mkdir(`${dir}/d.exe`);
    await assert.rejects(
      () => patchImports(exe, { output: `${dir}/d.exe`, force: true }),
      (e) =>
        e instanceof PeFileError &&
        e.message ===
          `Cannot write ${dir}/d.exe: it is a directory, not a regular file`,
    );
    assert.deepEqual(await listDir(dir), ["d.exe", "game.exe"]);
  });
});

Deno.test('a name too long for the temporary file it is written through says so and what to do, not a bare "file name too long" nor a missing directory; nothing is written', async () => {
  await withDir(async (dir) => {
    const exe = `${dir}/game.exe`;
    await Deno.writeFile(exe, buildPe());
    // 242 bytes: its temporary file, .<name>.<8 hex>.tmp, would be 256
    const out = `${dir}/${"g".repeat(238)}.exe`;
    // counted in UTF-16 units on Windows (the Windows Deno under Wine too)
    const unit = Deno.build.os === "windows" ? "characters" : "bytes";
    const says = (e: unknown) =>
      e instanceof PeFileError && e.path === out &&
      e.message ===
        `Cannot write ${out}: its name is 242 ${unit}, and the temporary file it is written through is named 14 longer, over the 255 a file name may have: choose a name of at most 241 ${unit}`;
    await assert.rejects(() => patchImports(exe, { output: out }), says);
    await assert.rejects(() => writeFileAtomic(out, new Uint8Array(1)), says);
    assert.deepEqual(await listDir(dir), ["game.exe"]);
    // a byte shorter: written
    const shorter = `${dir}/${"g".repeat(237)}.exe`;
    await patchImports(exe, { output: shorter });
    assert.deepEqual(
      await listDir(dir),
      [shorter.slice(dir.length + 1), "game.exe"].sort(),
    );
  });
});

Deno.test("list mode reports without writing", async () => {
  await withDir(async (dir) => {
    const exe = `${dir}/game.exe`;
    await Deno.writeFile(exe, buildPe());
    const r = await patchImports(exe, { list: true });
    assert.equal(r.action, "added");
    assert.equal(r.output, undefined);
    assert.deepEqual(r.imports, DEFAULT_IMPORTS.map((d) => d.dll));
    assert.equal(
      (await patchImports(exe, { list: true, dll: "ws2_32.dll" })).action,
      "moved",
    );
    assert.equal(
      (await patchImports(exe, { list: true, dll: "kernel32.dll" })).action,
      "unchanged",
    );
    assert.equal((await removeImport(exe, { list: true })).action, "unchanged");
    assert.deepEqual(await listDir(dir), ["game.exe"]);
  });
});

Deno.test("a malformed input writes no output and leaves no temp file", async () => {
  await withDir(async (dir) => {
    const exe = `${dir}/bad.exe`;
    await Deno.writeFile(exe, buildPe().slice(0, 0x300));
    await assert.rejects(() => patchImports(exe), PeFormatError);
    await assert.rejects(
      () => patchImports(exe, { inPlace: true }),
      PeFormatError,
    );
    await assert.rejects(() => removeImport(exe), PeFormatError);
    assert.deepEqual(await listDir(dir), ["bad.exe"]);
    // The message says which file, and that it is not an executable.
    const text = `${dir}/notes.exe`;
    await Deno.writeTextFile(text, "hello\n");
    for (const run of [() => patchImports(text), () => imports(text)]) {
      await assert.rejects(
        run,
        (e) =>
          e instanceof PeFormatError && e.file === text &&
          e.message.startsWith(
            `Cannot read ${text}: not a valid Windows executable or DLL (IMAGE_DOS_HEADER at 0x0: `,
          ),
      );
    }
  });
});

Deno.test("an output that is the input itself is refused, and the input stays as it was", async () => {
  await withDir(async (dir) => {
    const exe = `${dir}/game.exe`;
    const original = buildPe();
    await Deno.writeFile(exe, original);
    for (const output of [exe, `${dir}/./game.exe`]) {
      for (const force of [false, true]) {
        await assert.rejects(
          () => patchImports(exe, { output, force }),
          (e) =>
            e instanceof PeFileError &&
            e.message ===
              `Cannot write ${output}: it is ${exe} itself; to change that file, keeping a backup, edit it in place (inPlace, --inplace on the command line)`,
        );
      }
    }
    assert.deepEqual(await Deno.readFile(exe), original);
    assert.deepEqual(await listDir(dir), ["game.exe"]);
  });
});

posixTest(
  "an output that is a link to the input is refused too",
  async (dir) => {
    const exe = `${dir}/game.exe`;
    const original = buildPe();
    await Deno.writeFile(exe, original);
    await Deno.symlink("game.exe", `${dir}/soft.exe`);
    await Deno.link(exe, `${dir}/hard.exe`);
    for (const output of [`${dir}/soft.exe`, `${dir}/hard.exe`]) {
      await assert.rejects(
        () => patchImports(exe, { output, force: true }),
        (e) => e instanceof PeFileError && /itself/.test(e.message),
      );
    }
    assert.deepEqual(await Deno.readFile(exe), original);
    assert.deepEqual(await listDir(dir), ["game.exe", "hard.exe", "soft.exe"]);
  },
);

posixTest(
  "a read-only file (no write bit) is not replaced, even by root, who may open it for writing",
  async (dir) => {
    const original = buildPe();
    const exe = `${dir}/ro.exe`;
    const out = `${dir}/out.exe`;
    await Deno.writeFile(exe, original);
    await Deno.writeFile(out, original);
    await Deno.chmod(exe, 0o444);
    await Deno.chmod(out, 0o555);
    for (
      const [file, run] of [
        [exe, () => patchImports(exe, { inPlace: true })],
        [out, () => patchImports(exe, { output: out, force: true })],
      ] as const
    ) {
      await assert.rejects(run, (e) =>
        e instanceof PeFileError &&
        e.message ===
          `Cannot replace ${file}: it is read-only (mode ${
            file === exe ? "0444" : "0555"
          }); make it writable first (chmod u+w) if it is to change`);
    }
    assert.deepEqual(await Deno.readFile(exe), original);
    assert.deepEqual(await Deno.readFile(out), original);
    assert.deepEqual(await listDir(dir), ["out.exe", "ro.exe"]);
  },
);

posixTest(
  "a file its user may not write is not replaced (in place, or as an output with force)",
  async (dir) => {
    // As root every file is writable: the user is then `nobody`.
    const asNobody = Deno.uid() === 0;
    await Deno.chmod(dir, 0o777); // the directory is writable: a rename works
    const original = buildPe();
    const readOnly = `${dir}/ro.exe`; // the user's own, mode 0444
    const others = `${dir}/other.exe`; // someone else's, mode 0644
    await Deno.writeFile(readOnly, original, { mode: 0o444 });
    await Deno.chmod(readOnly, 0o444);
    await Deno.writeFile(others, original, { mode: 0o644 });
    if (asNobody) await Deno.chown(readOnly, NOBODY, NOBODY);
    else {
      // not root: a file of someone else's cannot be made here
      await Deno.remove(others);
    }
    const script = `${dir}/run.ts`;
    await Deno.writeTextFile(
      script,
      `import { patchImports } from ${
        JSON.stringify(new URL("./write.ts", import.meta.url).href)
      };
const [exe, out] = Deno.args;
try {
  await patchImports(out ? Deno.args[2] : exe, out ? { output: exe, force: true } : { inPlace: true });
  console.log("patched");
} catch (e) {
  console.log(e.message);
}`,
    );
    const cases: [string, string[]][] = [[readOnly, [readOnly]]];
    if (asNobody) {
      cases.push([others, [others]]);
      await Deno.writeFile(`${dir}/src.exe`, original, { mode: 0o644 });
      cases.push([others, [others, "out", `${dir}/src.exe`]]);
    }
    for (const [file, args] of cases) {
      const { said, stderr } = await runScript(script, args, {
        dir,
        asNobody,
      });
      assert.equal(
        said,
        file === readOnly
          ? `Cannot replace ${file}: it is read-only (mode 0444); make it writable first (chmod u+w) if it is to change`
          : `Cannot replace ${file}: permission denied (the file is read-only or not yours to write); make it writable first`,
        stderr,
      );
      assert.deepEqual(await Deno.readFile(file), original, file);
    }
    const left = (await listDir(dir)).filter((f) => f !== ".deno");
    assert.deepEqual(
      left,
      asNobody
        ? ["other.exe", "ro.exe", "run.ts", "src.exe"]
        : ["ro.exe", "run.ts"],
    );
  },
);

Deno.test("writeFileAtomic() never clobbers without overwrite", async () => {
  await withDir(async (dir) => {
    const p = `${dir}/f`;
    await writeFileAtomic(p, new Uint8Array([1]));
    await assert.rejects(
      () => writeFileAtomic(p, new Uint8Array([2])),
      OutputExistsError,
    );
    assert.deepEqual(await Deno.readFile(p), new Uint8Array([1]));
    await writeFileAtomic(p, new Uint8Array([3]), { overwrite: true });
    assert.deepEqual(await Deno.readFile(p), new Uint8Array([3]));
    assert.deepEqual(await listDir(dir), ["f"]);
  });
});

Deno.test("the file written is the bytes patchImportsBytes() gives", async () => {
  await withDir(async (dir) => {
    const crowded = buildPe({ extraSections: 12, debug: true, symbols: 1 });
    const stale = buildPe({ overlay: new Uint8Array(3000).fill(5) });
    const at = 0x80 + 24 + 64;
    stale[at] ^= 1;
    const inputs = [buildPe(), crowded, stale, buildPe({ certificate: 40 })];
    for (const [i, original] of inputs.entries()) {
      const exe = `${dir}/a${i}.exe`;
      await Deno.writeFile(exe, original);
      for (const dll of ["heapshift.dll", "WS2_32.dll"]) {
        const out = `${dir}/out.exe`;
        await patchImports(exe, { output: out, dll, allowOverlay: true });
        const want = patchImportsBytes(original, { dll, allowOverlay: true })
          .bytes;
        assert.deepEqual(await Deno.readFile(out), want, `${i} ${dll}`);
        const undo = { dll, allowForeign: true };
        await removeImport(out, { ...undo, inPlace: true, backup: false });
        const back = removeImportBytes(want, undo).bytes;
        assert.deepEqual(await Deno.readFile(out), back, `${i} ${dll} undo`);
        await Deno.remove(out);
      }
    }
  });
});

posixTest(
  "patching as root keeps the owner of the file, its backup and a new output",
  async (dir) => {
    // Only root can give a file away; others get their own files, as before.
    const root = Deno.uid() === 0;
    const owner = root ? 65534 : Deno.uid();
    const group = root ? 65534 : Deno.gid();
    const exe = `${dir}/game.exe`;
    await Deno.writeFile(exe, buildPe());
    await Deno.chown(exe, owner, group);
    await Deno.chmod(exe, 0o750);
    await patchImports(exe, { output: `${dir}/new.exe` });
    await patchImports(exe, { inPlace: true });
    for (const f of [exe, `${exe}.bak`, `${dir}/new.exe`]) {
      const info = await Deno.stat(f);
      assert.deepEqual([info.uid, info.gid, info.mode! & 0o777], [
        owner,
        group,
        0o750,
      ], f);
    }
  },
);

posixTest(
  "patchImports({ inPlace }) keeps the file's mode under a narrow umask",
  async (dir) => {
    const exe = `${dir}/game.exe`;
    await Deno.writeFile(exe, buildPe());
    await Deno.chmod(exe, 0o755);
    const old = Deno.umask(0o077);
    try {
      await patchImports(exe, { inPlace: true });
    } finally {
      Deno.umask(old);
    }
    assert.equal((await Deno.stat(exe)).mode! & 0o777, 0o755);
    assert.equal((await Deno.stat(`${exe}.bak`)).mode! & 0o777, 0o755);
  },
);

Deno.test("a write removes the temporary files a killed write to the same file left behind, not fresh or others'", async () => {
  await withDir(async (dir) => {
    const exe = `${dir}/game.exe`;
    await Deno.writeFile(exe, buildPe());
    const stale = `${dir}/.game.exe.0123abcd.tmp`;
    const fresh = `${dir}/.game.exe.89abcdef.tmp`;
    const other = `${dir}/.other.exe.0123abcd.tmp`;
    const hoursAgo = new Date(Date.now() - 2 * 3600_000);
    for (const f of [stale, fresh, other]) await Deno.writeTextFile(f, "x");
    for (const f of [stale, other]) await Deno.utime(f, hoursAgo, hoursAgo);
    await patchImports(exe, { inPlace: true });
    const left = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assert.deepEqual(left, [
      ".game.exe.89abcdef.tmp",
      ".other.exe.0123abcd.tmp",
      "game.exe",
      "game.exe.bak",
    ]);
  });
});

Deno.test({
  name:
    "an in-place write that fails after the backup removes the backup and says the file is unchanged",
  // A full disk needs a small file system: a tmpfs, which root can mount.
  ignore: Deno.build.os !== "linux" || Deno.uid() !== 0,
  fn: () =>
    withDir(async (dir) => {
      const mount = (args: string[]) =>
        new Deno.Command(args[0], { args: args.slice(1) }).output();
      const m = await mount([
        "mount",
        "-t",
        "tmpfs",
        "-o",
        "size=1m",
        "x",
        dir,
      ]);
      assert.equal(m.code, 0, new TextDecoder().decode(m.stderr));
      try {
        // Room for the backup, not for the patched copy too.
        const exe = `${dir}/game.exe`;
        const original = buildPe({ overlay: new Uint8Array(400_000) });
        await Deno.writeFile(exe, original);
        await assert.rejects(
          () => patchImports(exe, { inPlace: true }),
          (e) =>
            e instanceof PeFileError &&
            e.message ===
              `Cannot write ${exe}: no space left on device; ${exe} is unchanged`,
        );
        assert.deepEqual(await listDir(dir), ["game.exe"]);
        assert.deepEqual(await Deno.readFile(exe), original);
      } finally {
        await mount(["umount", dir]);
      }
    }),
});

Deno.test("an aborted patch removes its temporary file and backup, and rejects with the reason", async () => {
  await withDir(async (dir) => {
    const exe = `${dir}/game.exe`;
    const original = buildPe({ overlay: new Uint8Array(64 << 20) });
    await Deno.writeFile(exe, original);
    const stop = new AbortController();
    // Aborted while the patched copy (not the backup) is being written.
    const poll = setInterval(() => {
      listDir(dir).then((names) => {
        if (names.some((f) => /^\.game\.exe\.\w+\.tmp$/.test(f))) {
          stop.abort(new Error("stopped"));
        }
      }).catch(() => {});
    }, 1);
    try {
      await assert.rejects(
        () => patchImports(exe, { inPlace: true, signal: stop.signal }),
        (e) => e === stop.signal.reason,
      );
    } finally {
      clearInterval(poll);
    }
    assert.deepEqual(await listDir(dir), ["game.exe"]);
    assert.deepEqual(await Deno.readFile(exe), original);
    // Aborted before it starts: nothing is written at all.
    await assert.rejects(
      () => patchImports(exe, { signal: AbortSignal.abort() }),
      DOMException,
    );
    assert.deepEqual(await listDir(dir), ["game.exe"]);
  });
});

Deno.test("a program another process rewrites while it is patched is not written over, in place or beside it", async () => {
  await withDir(async (dir) => {
    const exe = `${dir}/game.exe`;
    const original = buildPe({ overlay: new Uint8Array(1 << 20) });
    for (const inPlace of [true, false]) {
      await Deno.writeFile(exe, original);
      // An updater's write lands while the patch is being written: the
      // signal is looked at between the steps of the write.
      const signal = new AbortController().signal;
      let looks = 0;
      Object.defineProperty(signal, "throwIfAborted", {
        value: () => {
          if (++looks === 2) Deno.utimeSync(exe, 1_000_000, 1_000_000);
        },
      });
      await assert.rejects(
        () => patchImports(exe, { inPlace, signal }),
        (e) =>
          e instanceof PeFileError &&
          /changed after it was read/.test(e.message),
      );
      assert.ok(looks >= 2);
      assert.deepEqual(await listDir(dir), ["game.exe"], `inPlace ${inPlace}`);
      assert.deepEqual(await Deno.readFile(exe), original);
    }
  });
});

Deno.test("a program cut short while it is patched is said to have changed, by name, and nothing is written", async () => {
  await withDir(async (dir) => {
    const exe = `${dir}/game.exe`;
    const original = buildPe();
    for (const inPlace of [true, false]) {
      await Deno.writeFile(exe, original);
      // Read and planned at once; cut before its bytes are copied (to the
      // backup, or to the output).
      const patching = patchImports(exe, { inPlace });
      Deno.truncateSync(exe, 0x600);
      await assert.rejects(
        () => patching,
        (e) =>
          e instanceof PeFileError && e.path === exe &&
          /changed after it was read/.test(e.message),
        `inPlace ${inPlace}`,
      );
      assert.deepEqual(await listDir(dir), ["game.exe"], `inPlace ${inPlace}`);
      assert.equal((await Deno.stat(exe)).size, 0x600);
    }
  });
});

Deno.test("patchImports() warns when the DLL beside the output would stop the program from starting", async () => {
  await withDir(async (dir) => {
    const exe = `${dir}/game.exe`;
    await Deno.writeFile(exe, buildPe());
    const anchor = { dll: "heapshift.dll", names: ["heapshift_anchor"] };
    const beside = (w: string[]) =>
      w.filter((s) => s.includes(join(dir, "heapshift.dll")));
    // None there yet: the copy hint says what to do, no warning.
    assert.deepEqual(
      beside((await patchImports(exe, { list: true })).warnings),
      [],
    );
    // A 32-bit DLL beside a 64-bit program.
    await Deno.writeFile(
      `${dir}/heapshift.dll`,
      buildPe({ format: "PE32", dll: true, exports: anchor }),
    );
    let w = beside((await patchImports(exe, { list: true })).warnings);
    assert.equal(w.length, 1, String(w));
    assert.match(w[0], /is built for x86, but the program is x64/);
    assert.match(w[0], /would not start/);
    // The right bitness, but not heapshift's DLL (no anchor export).
    await Deno.writeFile(
      `${dir}/heapshift.dll`,
      buildPe({ dll: true, exports: { dll: "other.dll", names: ["f"] } }),
    );
    w = beside((await patchImports(exe)).warnings);
    assert.equal(w.length, 1, String(w));
    assert.match(w[0], /does not export heapshift_anchor/);
    // The output may go elsewhere: the DLL is looked for beside it.
    await Deno.mkdir(`${dir}/out`);
    await Deno.writeFile(
      `${dir}/out/heapshift.dll`,
      buildPe({ format: "PE32", dll: true, exports: anchor }),
    );
    const r = await patchImports(exe, { output: `${dir}/out/game.exe` });
    assert.ok(
      r.warnings.some((s) =>
        s.includes(`${join(dir, "out", "heapshift.dll")} is built for x86`)
      ),
      String(r.warnings),
    );
    // heapshift's DLL for the program: nothing to say.
    await Deno.writeFile(
      `${dir}/heapshift.dll`,
      buildPe({ dll: true, exports: anchor }),
    );
    w = beside((await patchImports(exe, { inPlace: true })).warnings);
    assert.deepEqual(w, []);
  });
});

Deno.test("patchImports() of a DLL says a wrong DLL beside it matters only to a program that searches its folder", async () => {
  // Windows resolves a loaded DLL's static imports from the application's
  // directory (then the system's), not the importing DLL's, unless the
  // program loads it with LOAD_WITH_ALTERED_SEARCH_PATH: a wrong file in a
  // plugins/ folder does not stop "the program" from starting.
  await withDir(async (dir) => {
    const plugin = `${dir}/plugin.dll`;
    await Deno.writeFile(plugin, buildPe({ dll: true }));
    await Deno.writeFile(
      `${dir}/heapshift.dll`,
      buildPe({
        format: "PE32",
        dll: true,
        exports: { dll: "heapshift.dll", names: ["heapshift_anchor"] },
      }),
    );
    const r = await patchImports(plugin, { list: true });
    const w = r.warnings.filter((s) => s.includes(join(dir, "heapshift.dll")));
    assert.equal(w.length, 1, String(w));
    assert.match(
      w[0],
      /is built for x86, but plugin\.dll is x64: a program that loads plugin\.dll with its folder searched first \(LoadLibraryEx with LOAD_WITH_ALTERED_SEARCH_PATH\) would fail to load it/,
    );
    assert.doesNotMatch(w[0], /would not start/);
  });
});

Deno.test({
  name:
    "a directory its user may not create files in: the error says so, and the file stays as it was",
  // As root every directory is writable: the user is then `nobody`.
  ignore: Deno.build.os === "windows" || Deno.uid() !== 0,
  fn: () =>
    withDir(async (dir) => {
      await Deno.chmod(dir, 0o755); // root's: nobody may not create files
      const exe = `${dir}/game.exe`;
      const original = buildPe();
      await Deno.writeFile(exe, original, { mode: 0o644 });
      await Deno.chown(exe, NOBODY, NOBODY); // nobody's own, writable
      const script = `${dir}/run.ts`;
      await Deno.writeTextFile(
        script,
        `import { patchImports } from ${
          JSON.stringify(new URL("./write.ts", import.meta.url).href)
        };
try {
  await patchImports(Deno.args[0], Deno.args[1] ? {} : { inPlace: true });
  console.log("patched");
} catch (e) {
  console.log(e.message);
}`,
      );
      await Deno.mkdir(`${dir}/.deno`);
      await Deno.chown(`${dir}/.deno`, NOBODY, NOBODY);
      for (
        const [args, path] of [[[exe], `${exe}.bak`], [
          [exe, "out"],
          `${dir}/game.heapshift.exe`,
        ]] as const
      ) {
        const { said, stderr } = await runScript(script, args, {
          dir,
          asNobody: true,
        });
        assert.equal(
          said,
          `Cannot write ${path}: permission denied: this user may not create files in ${dir}`,
          stderr,
        );
        assert.deepEqual(await Deno.readFile(exe), original);
        assert.deepEqual(await listDir(dir), [".deno", "game.exe", "run.ts"]);
      }
    }),
});

Deno.test("writeFileAtomic() with unchangedSince writes nothing over a file another program changed or created meanwhile", async () => {
  await withDir(async (dir) => {
    const p = `${dir}/game.ini`;
    await Deno.writeFile(p, new Uint8Array([1]));
    const read = await Deno.stat(p);
    // what Special K writes as it exits, between our read and our write
    await Deno.writeFile(p, new Uint8Array([2, 2]));
    await assert.rejects(
      () =>
        writeFileAtomic(p, new Uint8Array([3]), {
          overwrite: true,
          unchangedSince: read,
        }),
      (e: unknown) =>
        e instanceof PeFileError && e.path === p &&
        /changed after it was read/.test(e.message),
    );
    assert.deepEqual(await Deno.readFile(p), new Uint8Array([2, 2]));
    assert.deepEqual(await listDir(dir), ["game.ini"]);
    // none there when read, one there now
    const q = `${dir}/new.ini`;
    await Deno.writeFile(q, new Uint8Array([4]));
    await assert.rejects(
      () =>
        writeFileAtomic(q, new Uint8Array([5]), {
          overwrite: true,
          unchangedSince: null,
        }),
      PeFileError,
    );
    assert.deepEqual(await Deno.readFile(q), new Uint8Array([4]));
    // unchanged: written
    await writeFileAtomic(p, new Uint8Array([6]), {
      overwrite: true,
      unchangedSince: await Deno.stat(p),
    });
    assert.deepEqual(await Deno.readFile(p), new Uint8Array([6]));
  });
});

// TypeScript takes an async function where `(from, to) => void` is asked
// for: such a hook was not waited for (the file took its place before it
// ran, and its temporary name was gone by then) and its rejection was
// unhandled, which ends a Deno program.
Deno.test("an async keepAttributes is waited for before the new file takes its place; its rejection fails the edit, the file as it was", async () => {
  await withDir(async (dir) => {
    const exe = `${dir}/game.exe`;
    const original = buildPe();
    await Deno.writeFile(exe, original);
    const seen: string[] = [];
    const kept = async (from: string, to: string) => {
      await new Promise((r) => setTimeout(r, 10));
      // still the temporary file, not yet renamed
      assert.equal((await Deno.stat(to)).isFile, true);
      seen.push(`${from} -> ${to.slice(dir.length + 1)}`);
    };
    const r = await patchImports(exe, { inPlace: true, keepAttributes: kept });
    assert.equal(r.changed, true);
    assert.equal(seen.length, 2, seen.join("\n")); // the backup, the program
    for (const s of seen) {
      assert.match(
        s,
        /^.*\/game\.exe -> \.game\.exe(\.bak)?\.[0-9a-f]{8}\.tmp$/,
      );
    }
    const patched = await Deno.readFile(exe);
    const failing = async () => {
      await new Promise((r) => setTimeout(r, 10));
      throw new Error("no attributes for you");
    };
    await assert.rejects(
      () => removeImport(exe, { inPlace: true, keepAttributes: failing }),
      (e) =>
        e instanceof PeFileError && /no attributes for you/.test(e.message),
    );
    assert.deepEqual(await Deno.readFile(exe), patched);
    assert.deepEqual(await listDir(dir), ["game.exe", "game.exe.bak"]);
  });
});

// The temporary file was named `${dir}/.name…`: after a \\?\ prefix a '/'
// is a character of the name, not a separator, and Windows refused it
// ("invalid name"), so no write to a \\?\ path (the way past MAX_PATH) could
// be done.
Deno.test({
  name:
    "a \\\\?\\ path (Windows) is written, new and over itself, and patched in place",
  ignore: Deno.build.os !== "windows",
  fn: () =>
    withDir(async (dir) => {
      const verbatim = (name: string) =>
        `\\\\?\\${dir.replaceAll("/", "\\")}\\${name}`;
      await writeFileAtomic(verbatim("x.bin"), new Uint8Array([1, 2, 3]));
      await writeFileAtomic(verbatim("x.bin"), new Uint8Array([4]), {
        overwrite: true,
      });
      assert.deepEqual(
        await Deno.readFile(`${dir}/x.bin`),
        new Uint8Array([4]),
      );
      await Deno.writeFile(`${dir}/game.exe`, buildPe());
      const r = await patchImports(verbatim("game.exe"), { inPlace: true });
      assert.equal(r.changed, true);
      assert.equal(r.backup, verbatim("game.exe.bak"));
      assert.deepEqual(await listDir(dir), [
        "game.exe",
        "game.exe.bak",
        "x.bin",
      ]);
    }),
});
