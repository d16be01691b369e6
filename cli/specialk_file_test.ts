import assert from "node:assert/strict";
import { readPlugin } from "./specialk_ini.ts";
import { decodeIni, encodeIni } from "./specialk_encoding.ts";
import { applyToFile } from "./specialk_file.ts";
import { utf16 } from "./specialk_test_utils.ts";
import { posixTest, withDir } from "../pe/_test_dir.ts";

const SAMPLE = new URL("../tests/fixtures/cli_specialk.ini", import.meta.url);
const DLL = "C:\\tools\\heapshift\\heapshift.dll";
const enc = new TextEncoder();

function crlf(s: string): string {
  return s.replaceAll("\n", "\r\n");
}

const ADD = { upsert: { name: "heapshift", filename: DLL } };
const REMOVE = { remove: "heapshift" };

Deno.test("applyToFile: writes a backup, keeps UTF-16, is idempotent, removes", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const ini = `${dir}/SpecialK.ini`;
    const original = encodeIni({
      text: crlf(Deno.readTextFileSync(SAMPLE)),
      encoding: "utf16le",
    });
    await Deno.writeFile(ini, original);
    const first = await applyToFile(ini, {
      upsert: { name: "heapshift", filename: DLL },
    });
    assert.equal(first.action, "added");
    assert.equal(first.encoding, "utf16le");
    assert.equal(first.backup, `${ini}.heapshift-backup`);
    assert.deepEqual(await Deno.readFile(first.backup!), original);
    const after = decodeIni(await Deno.readFile(ini));
    assert.equal(after.encoding, "utf16le");
    assert.equal(readPlugin(after.text, "heapshift")?.Filename, DLL);

    const again = await applyToFile(ini, {
      upsert: { name: "heapshift", filename: DLL },
    });
    assert.equal(again.action, "unchanged");
    assert.equal(again.backup, undefined);

    const moved = await applyToFile(ini, {
      upsert: { name: "heapshift", filename: "D:\\heapshift.dll" },
    });
    assert.equal(moved.action, "updated");
    // The backup is still the file as it was before heapshift.
    assert.equal(moved.backup, first.backup);
    assert.deepEqual(await Deno.readFile(first.backup!), original);

    const gone = await applyToFile(ini, { remove: "heapshift" });
    assert.equal(gone.action, "removed");
    const finalText = decodeIni(await Deno.readFile(ini)).text;
    assert.equal(readPlugin(finalText, "heapshift"), undefined);
    assert.equal(
      (await applyToFile(ini, { remove: "heapshift" })).action,
      "absent",
    );
    // No temporary files left behind.
    const names = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assert.deepEqual(names, ["SpecialK.ini", "SpecialK.ini.heapshift-backup"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("applyToFile creates a missing file only when asked", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const ini = `${dir}/default_SpecialK.ini`;
    await assert.rejects(
      applyToFile(ini, { upsert: { name: "heapshift", filename: DLL } }),
      Deno.errors.NotFound,
    );
    const r = await applyToFile(ini, {
      upsert: { name: "heapshift", filename: DLL },
    }, {
      create: true,
    });
    assert.equal(r.created, true);
    assert.equal(r.action, "added");
    const back = decodeIni(await Deno.readFile(ini));
    assert.equal(back.encoding, "utf16le");
    // A new file is as Special K writes one: UTF-16LE, CRLF.
    assert.ok(
      back.text.startsWith("[Import.heapshift]\r\nArchitecture=x64\r\n"),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const ODD_TEXTS: Record<string, string> = {
  "no final newline": "[A]\r\nk=1",
  "trailing blank lines": "[A]\nk=1\n\n\n",
  "mixed line endings": "[A]\r\nk=1\n[B]\r\nj=2\n\n",
  "duplicate sections": "[A]\nk=1\n\n[B]\nx=1\n\n[A]\nk=2\n",
  "empty": "",
  "only blank lines": "\n\n",
  "whitespace last line": "[A]\nk=1\n  ",
  "comment last, no newline": "[A]\r\nk=1\r\n; the end",
  "lone CR inside": "[A]\nk=a\rb\n",
};

Deno.test("add then --remove gives back the exact original bytes (odd texts × encodings)", async () => {
  await withDir(async (dir) => {
    const ini = `${dir}/SpecialK.ini`;
    for (const [what, text] of Object.entries(ODD_TEXTS)) {
      const forms: Record<string, Uint8Array> = {
        utf8: enc.encode(text),
        utf8bom: new Uint8Array([0xef, 0xbb, 0xbf, ...enc.encode(text)]),
        utf16le: utf16(text, "le"),
        utf16be: utf16(text, "be"),
      };
      for (const [encoding, original] of Object.entries(forms)) {
        const label = `${what} (${encoding})`;
        await Deno.writeFile(ini, original);
        const added = await applyToFile(ini, ADD);
        assert.equal(added.action, "added", label);
        const after = decodeIni(await Deno.readFile(ini));
        assert.equal(after.encoding, encoding, label);
        assert.ok(after.text.startsWith(text), `${label}: only appends`);
        assert.equal(readPlugin(after.text, "heapshift")?.Filename, DLL, label);
        const again = await applyToFile(ini, ADD);
        assert.equal(again.action, "unchanged", label);
        const removed = await applyToFile(ini, REMOVE);
        assert.equal(removed.action, "removed", label);
        assert.deepEqual(await Deno.readFile(ini), original, label);
      }
    }
  });
});

Deno.test("strict decoding: binary, BOM-less UTF-16 and bad UTF-8/UTF-16 are refused, the file untouched", async () => {
  await withDir(async (dir) => {
    const ini = `${dir}/SpecialK.ini`;
    const cases: [string, Uint8Array, RegExp][] = [
      [
        "binary",
        new Uint8Array([0x4d, 0x5a, 0x90, 0, 3, 0, 0, 0, 4, 0]),
        /not a text file|binary/i,
      ],
      [
        "UTF-16LE without BOM",
        utf16("[A]\r\nk=1\r\n", "le", false),
        /UTF-16.*byte-order mark/i,
      ],
      [
        "UTF-16BE without BOM",
        utf16("[A]\r\nk=1\r\n", "be", false),
        /UTF-16.*byte-order mark/i,
      ],
      [
        "bad UTF-8 after a BOM",
        new Uint8Array([0xef, 0xbb, 0xbf, 0x5b, 0xe9, 0x5d]),
        /UTF-8.*0xe9.*offset 4/i,
      ],
      [
        "odd-length UTF-16LE",
        new Uint8Array([0xff, 0xfe, 0x5b, 0, 0x41]),
        /UTF-16/i,
      ],
      ["lone surrogate", utf16("[A]\ud800x\n", "le"), /UTF-16/i],
      [
        "control characters",
        enc.encode("[A]\nk=\x01\x02\n"),
        /not a text file|control/i,
      ],
    ];
    for (const [what, bytes, pattern] of cases) {
      await Deno.writeFile(ini, bytes);
      await assert.rejects(applyToFile(ini, ADD), pattern, what);
      assert.deepEqual(await Deno.readFile(ini), bytes, what);
      assert.deepEqual(
        [...Deno.readDirSync(dir)].map((e) => e.name),
        ["SpecialK.ini"],
        `${what}: no backup or temp file`,
      );
    }
  });
});

Deno.test("a cp1252 file, which Special K cannot read, is refused an entry (untouched) but an entry is removed from it byte for byte", async () => {
  await withDir(async (dir) => {
    const ini = `${dir}/SpecialK.ini`;
    // "[Game]\r\nName=Pokémon\r\n" in cp1252: é is the single byte 0xE9.
    const original = new Uint8Array([
      ...enc.encode("[Game]\r\nName=Pok"),
      0xe9,
      ...enc.encode("mon\r\n"),
    ]);
    await Deno.writeFile(ini, original);
    // Special K decodes a BOM-less ini as UTF-8 only: this one it backs up
    // and ignores, entry and all.
    await assert.rejects(
      applyToFile(ini, ADD),
      /Special K.*UTF-8.*0xE9 at offset 16.*save it as UTF-16/,
    );
    assert.deepEqual(await Deno.readFile(ini), original);
    assert.deepEqual(
      [...Deno.readDirSync(dir)].map((e) => e.name),
      ["SpecialK.ini"],
      "no backup or temp file",
    );
    const withEntry = new Uint8Array([
      ...original,
      ...enc.encode(`\r\n[Import.heapshift]\r\nFilename=${DLL}\r\n`),
    ]);
    await Deno.writeFile(ini, withEntry);
    assert.equal((await applyToFile(ini, REMOVE)).action, "removed");
    assert.deepEqual(await Deno.readFile(ini), original);
  });
});

posixTest(
  "backup and temp files never write through a symlink",
  async (dir) => {
    const ini = `${dir}/SpecialK.ini`;
    const victim = `${dir}/victim.txt`;
    await Deno.writeTextFile(victim, "precious");
    await Deno.writeTextFile(ini, "[A]\nk=1\n");
    await Deno.symlink(victim, `${ini}.heapshift-backup`);
    await applyToFile(ini, ADD);
    assert.equal(await Deno.readTextFile(victim), "precious");
    assert.equal(
      await Deno.readTextFile(`${ini}.heapshift-backup`),
      "[A]\nk=1\n",
    );
    assert.ok(!(await Deno.lstat(`${ini}.heapshift-backup`)).isSymlink);
    // A link planted at the very name the temporary file gets (its random
    // part made known): the write fails rather than follow it.
    const uuid = crypto.randomUUID;
    crypto.randomUUID = () => "0badc0de-0000-4000-8000-000000000000";
    try {
      await Deno.symlink(victim, `${dir}/.SpecialK.ini.0badc0de.tmp`);
      await assert.rejects(() => applyToFile(ini, REMOVE));
    } finally {
      crypto.randomUUID = uuid;
    }
    assert.equal(await Deno.readTextFile(victim), "precious");
  },
);

posixTest(
  "the ini's mode is kept (and the backup's is the same)",
  async (dir) => {
    const ini = `${dir}/SpecialK.ini`;
    await Deno.writeTextFile(ini, "[A]\nk=1\n");
    for (const mode of [0o600, 0o664, 0o640]) {
      await Deno.chmod(ini, mode);
      // (a backup there is kept as it is: the first one)
      await Deno.remove(`${ini}.heapshift-backup`).catch(() => {});
      await applyToFile(ini, ADD);
      assert.equal((await Deno.stat(ini)).mode! & 0o777, mode);
      assert.equal(
        (await Deno.stat(`${ini}.heapshift-backup`)).mode! & 0o777,
        mode,
      );
      await applyToFile(ini, REMOVE);
      assert.equal((await Deno.stat(ini)).mode! & 0o777, mode);
    }
  },
);

posixTest(
  "the ini's owner is kept (and the backup's is the same) when run as root",
  async (dir) => {
    // Only root can give a file away; others get their own files, as before.
    const owner = Deno.uid() === 0 ? 65534 : Deno.uid();
    const group = Deno.uid() === 0 ? 65534 : Deno.gid();
    const ini = `${dir}/SpecialK.ini`;
    await Deno.writeTextFile(ini, "[A]\nk=1\n");
    await Deno.chown(ini, owner, group);
    await applyToFile(ini, ADD);
    for (const f of [ini, `${ini}.heapshift-backup`]) {
      const info = await Deno.stat(f);
      assert.deepEqual([info.uid, info.gid], [owner, group], f);
    }
  },
);

posixTest(
  "a symlinked ini is edited at its target and stays a link; hard links and non-files are refused",
  async (dir) => {
    await Deno.mkdir(`${dir}/real`);
    const real = `${dir}/real/SpecialK.ini`;
    const link = `${dir}/SpecialK.ini`;
    await Deno.writeTextFile(real, "[A]\nk=1\n");
    await Deno.symlink(real, link);
    const r = await applyToFile(link, ADD);
    assert.equal(r.action, "added");
    assert.ok((await Deno.lstat(link)).isSymlink, "still a link");
    assert.equal(await Deno.readLink(link), real);
    assert.equal(r.target, real);
    assert.equal(r.backup, `${real}.heapshift-backup`);
    assert.equal(
      readPlugin(await Deno.readTextFile(real), "heapshift")?.Filename,
      DLL,
    );
    await Deno.symlink(`${dir}/missing.ini`, `${dir}/dangling.ini`);
    await assert.rejects(
      applyToFile(`${dir}/dangling.ini`, ADD, { create: true }),
      /symbolic link to a file that does not exist/,
    );

    const hard = `${dir}/hard.ini`;
    await Deno.link(real, hard);
    await assert.rejects(applyToFile(hard, REMOVE), /hard link/);
    assert.ok((await Deno.readTextFile(real)).includes("[Import.heapshift]"));
    await Deno.remove(hard);

    await assert.rejects(applyToFile(dir, ADD), /not a regular file/);
    const fifo = `${dir}/fifo.ini`;
    const mk = await new Deno.Command("mkfifo", { args: [fifo] }).output();
    assert.equal(mk.code, 0);
    await assert.rejects(applyToFile(fifo, ADD), /not a regular file/);
  },
);

Deno.test("a file far larger than any Special K ini is refused without reading it", async () => {
  await withDir(async (dir) => {
    const ini = `${dir}/SpecialK.ini`;
    await Deno.writeTextFile(ini, "[A]\n");
    await Deno.truncate(ini, 17 << 20); // sparse: NULs after the header
    await assert.rejects(applyToFile(ini, ADD), /is not a Special K ini/);
    assert.equal((await Deno.stat(ini)).size, 17 << 20);
  });
});

posixTest(
  "a read-only ini is refused and left as it is, with no backup",
  async (dir) => {
    const ini = `${dir}/SpecialK.ini`;
    await Deno.writeTextFile(ini, "[A]\nk=1\n");
    await Deno.chmod(ini, 0o444);
    await assert.rejects(
      applyToFile(ini, ADD),
      /Cannot edit .*SpecialK\.ini: it is read-only or not yours to write/,
    );
    assert.equal(await Deno.readTextFile(ini), "[A]\nk=1\n");
    assert.equal((await Deno.stat(ini)).mode! & 0o777, 0o444);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), [
      "SpecialK.ini",
    ]);
  },
);

posixTest(
  "an ini its user may not read is refused in one line that says to make it readable",
  async (dir) => {
    // As root every file is readable: the user is then `nobody`.
    const asNobody = Deno.uid() === 0;
    await Deno.chmod(dir, 0o777);
    const ini = `${dir}/SpecialK.ini`;
    await Deno.writeTextFile(ini, "[A]\nk=1\n");
    await Deno.chmod(ini, 0o000);
    const script = `${dir}/run.ts`;
    await Deno.writeTextFile(
      script,
      `import { applyToFile } from ${
        JSON.stringify(new URL("./specialk_file.ts", import.meta.url).href)
      };
try {
  await applyToFile(Deno.args[0], { remove: "heapshift" });
  console.log("read");
} catch (e) {
  console.log(\`\${e.name}: \${e.message}\`);
}`,
    );
    const deno = Deno.execPath();
    const nobody = [
      "setpriv",
      "--reuid=65534",
      "--regid=65534",
      "--clear-groups",
    ];
    const argv = [
      ...(asNobody ? nobody : []),
      deno,
      "run",
      "--no-config",
      "--allow-read",
      "--allow-write",
      script,
      ini,
    ];
    const r = await new Deno.Command(argv[0], {
      args: argv.slice(1),
      env: { DENO_DIR: `${dir}/.deno`, DENO_NO_UPDATE_CHECK: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(
      new TextDecoder().decode(r.stdout).trim(),
      `CliError: Cannot read ${ini}: permission denied (make it readable)`,
      new TextDecoder().decode(r.stderr),
    );
  },
);

Deno.test("a text file that is not an ini (no [section] line) is refused, untouched", async () => {
  await withDir(async (dir) => {
    const notes = `${dir}/notes.txt`;
    const text = "# My notes\n\nSee [the docs](https://example.com).\nx = 1\n";
    await Deno.writeTextFile(notes, text);
    await assert.rejects(
      applyToFile(notes, ADD),
      /Cannot edit .*notes\.txt: it has no \[section\] line: it is not a Special K ini/,
    );
    assert.equal(await Deno.readTextFile(notes), text);
    assert.deepEqual(
      [...Deno.readDirSync(dir)].map((e) => e.name),
      ["notes.txt"],
    );
    // empty or blank: an ini with nothing in it yet
    for (const blank of ["", "\r\n \n"]) {
      await Deno.writeTextFile(notes, blank);
      assert.equal((await applyToFile(notes, ADD)).action, "added");
    }
  });
});

Deno.test("applyToFile: an ini Special K rewrites between the read and the write is not overwritten, and the backup made for it is dropped", async () => {
  await withDir(async (dir) => {
    const ini = `${dir}/SpecialK.ini`;
    await Deno.writeFile(ini, enc.encode("[SpecialK.System]\nVersion=1\n"));
    // Special K saving its config as the game exits, mid-edit
    const saved = enc.encode("[SpecialK.System]\nVersion=1\nSilent=true\n");
    await assert.rejects(
      () =>
        applyToFile(ini, { upsert: { name: "heapshift", filename: DLL } }, {
          beforeWrite: () => Deno.writeFile(ini, saved),
        }),
      /changed after it was read/,
    );
    assert.deepEqual(await Deno.readFile(ini), saved);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), [
      "SpecialK.ini",
    ]);
    // run again: it edits what Special K saved
    const ok = await applyToFile(ini, {
      upsert: { name: "heapshift", filename: DLL },
    });
    assert.equal(ok.action, "added");
    assert.deepEqual(await Deno.readFile(ok.backup!), saved);
  });
});
