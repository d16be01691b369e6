import assert from "node:assert/strict";
import { HeapshiftError } from "./heapshift_error.ts";
import { patchImports, removeImport } from "./import_patch.ts";
import { buildPe } from "../pe/_test_pe.ts";

// From JavaScript (no type checks there), or options read from a JSON
// file: a value of the wrong type is a bad-argument error before the file
// is read, not a TypeError from deep inside, nor taken for what it is not
// (`inPlace: "no"` is truthy).
Deno.test("patchImports and removeImport refuse option values of the wrong type with a bad-argument error, before anything is read", async () => {
  const dir = await Deno.makeTempDir({ prefix: "heapshift-patch-" });
  try {
    const exe = `${dir}/game.exe`;
    const bytes = buildPe();
    await Deno.writeFile(exe, bytes);
    const patch = (o: unknown) => () =>
      patchImports(exe, o as Parameters<typeof patchImports>[1]);
    const remove = (o: unknown) => () =>
      removeImport(exe, o as Parameters<typeof removeImport>[1]);
    const doing = `Cannot patch ${exe}`;
    const undoing = `Cannot remove an import from ${exe}`;
    const cases: [() => Promise<unknown>, string][] = [
      [patch({ dll: 5 }), `${doing}: dll must be a string, not a number`],
      [patch({ dll: null }), `${doing}: dll must be a string, not null`],
      [
        patch({ postfix: 5 }),
        `${doing}: postfix must be a string, not a number`,
      ],
      [patch({ output: 5 }), `${doing}: output must be a string, not a number`],
      [
        patch({ sectionName: 5 }),
        `${doing}: sectionName must be a string, not a number`,
      ],
      [
        patch({ inPlace: true, backup: 5 }),
        `${doing}: backup must be a string or false, not a number`,
      ],
      [
        patch({ inPlace: true, backup: true }),
        `${doing}: backup must be a string or false, not a boolean`,
      ],
      [
        patch({ symbol: null }),
        `${doing}: symbol must be a string or a number, not null`,
      ],
      [
        patch({ inPlace: "no" }),
        `${doing}: inPlace must be true or false, not a string`,
      ],
      [
        patch({ list: 1 }),
        `${doing}: list must be true or false, not a number`,
      ],
      [
        patch({ force: "false" }),
        `${doing}: force must be true or false, not a string`,
      ],
      [
        patch({ allowOverlay: "yes" }),
        `${doing}: allowOverlay must be true or false, not a string`,
      ],
      [
        patch({ signal: "x" }),
        `${doing}: signal must be an AbortSignal, not a string`,
      ],
      [remove({ dll: 5 }), `${undoing}: dll must be a string, not a number`],
      [
        remove({ allowForeign: "no" }),
        `${undoing}: allowForeign must be true or false, not a string`,
      ],
      [
        remove({ output: {} }),
        `${undoing}: output must be a string, not an object`,
      ],
    ];
    for (const [call, message] of cases) {
      await assert.rejects(call, (e: unknown) => {
        assert.ok(e instanceof HeapshiftError, String(e));
        assert.equal(e.kind, "bad-argument");
        assert.equal(e.message, message);
        return true;
      });
    }
    // Nothing was written, the input untouched.
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), [
      "game.exe",
    ]);
    assert.deepEqual(await Deno.readFile(exe), bytes);
    // Well-typed options still work.
    const r = await patchImports(exe, { dll: "heapshift.dll", list: true });
    assert.equal(r.action, "added");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// inject and launch take a DLL's path; patchImports' dll is the name the
// program is to import: a script that passes the path it passes elsewhere
// is told the difference.
Deno.test("patchImports and removeImport: a dll given as a path is a bad-argument error that says to give its file name", async () => {
  const dir = await Deno.makeTempDir({ prefix: "heapshift-patch-" });
  try {
    const exe = `${dir}/game.exe`;
    await Deno.writeFile(exe, buildPe());
    // C:heapshift.dll: the file in drive C:'s current directory
    for (
      const dll of [
        "build/heapshift.dll",
        "C:\\games\\heapshift.dll",
        "C:heapshift.dll",
      ]
    ) {
      for (
        const [call, doing] of [
          [() => patchImports(exe, { dll }), "patch"],
          [() => removeImport(exe, { dll }), "remove an import from"],
        ] as const
      ) {
        await assert.rejects(call, (e: unknown) => {
          assert.ok(e instanceof HeapshiftError, String(e));
          assert.equal(e.kind, "bad-argument");
          assert.equal(
            e.message,
            `Cannot ${doing} ${exe}: dll is the file name the program is to import, not a path (${
              JSON.stringify(dll)
            }): Windows looks for it beside the program, so pass { dll: "heapshift.dll" } and copy the DLL there`,
          );
          return true;
        });
      }
    }
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), [
      "game.exe",
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// pe/ writes a file through a temporary one beside it, 14 longer in name
// (`.<name>.<8 hex>.tmp`): a name over 241 cannot be written, and the
// system's words for it (Linux "file name too long", Wine "not found")
// said nothing of why or what to do.
Deno.test("patchImports and removeImport: a file to write whose name is too long for its temporary file is a bad-path error naming it, saying what to do; nothing is written", async () => {
  const dir = await Deno.makeTempDir({ prefix: "heapshift-patch-" });
  try {
    // a program whose name is `length` bytes; counted in UTF-16 units on
    // Windows (the Windows Deno under Wine too)
    const unit = Deno.build.os === "windows" ? "characters" : "bytes";
    const program = async (length: number) => {
      const exe = `${dir}/${"g".repeat(length - 4)}.exe`;
      await Deno.writeFile(exe, buildPe());
      return exe;
    };
    const why =
      `its name is 242 ${unit}, and the temporary file it is written through is named 14 longer, over the 255 a file name may have`;
    const refused = async (
      call: () => Promise<unknown>,
      message: string,
    ) => {
      await assert.rejects(call, (e: unknown) => {
        assert.ok(e instanceof HeapshiftError, String(e));
        assert.equal(e.message, message);
        assert.equal(e.kind, "bad-path");
        return true;
      });
    };
    const exe = await program(8);
    const out = `${dir}/${"o".repeat(238)}.exe`;
    await refused(
      () => patchImports(exe, { output: out }),
      `Cannot patch ${exe}: output ${out}: ${why}: choose a name of at most 241 ${unit}`,
    );
    const bak = `${dir}/${"b".repeat(238)}.bak`;
    await refused(
      () => patchImports(exe, { inPlace: true, backup: bak }),
      `Cannot patch ${exe}: backup ${bak}: ${why}: choose a name of at most 241 ${unit}`,
    );
    // the copy beside it, named from the program's
    const long = await program(232);
    await refused(
      () => patchImports(long),
      `Cannot patch ${long}: the copy ${
        long.slice(0, -4)
      }.heapshift.exe: ${why}: name it with output, at most 241 ${unit}`,
    );
    await refused(
      () => removeImport(long, { allowForeign: true, dll: "KERNEL32.dll" }),
      `Cannot remove an import from ${long}: the copy ${
        long.slice(0, -4)
      }.unpatched.exe: ${why}: name it with output, at most 241 ${unit}`,
    );
    // in place: its backup, or the program itself
    const kept = await program(238);
    await refused(
      () => patchImports(kept, { inPlace: true }),
      `Cannot patch ${kept}: the backup ${kept}.bak: ${why}: write to a copy with output instead, at most 241 ${unit}`,
    );
    // a backup name over 255 itself: looking for one there fails first
    // (Linux "file name too long", Windows an invalid name)
    const longer = await program(252);
    await refused(
      () => patchImports(longer, { inPlace: true }),
      `Cannot patch ${longer}: the backup ${longer}.bak: ${
        why.replace("242", "256")
      }: write to a copy with output instead, at most 241 ${unit}`,
    );
    const itself = await program(242);
    await refused(
      () => patchImports(itself, { inPlace: true, backup: false }),
      `Cannot patch ${itself}: ${itself}, written in place: ${why}: write to a copy with output instead, at most 241 ${unit}`,
    );
    const names = () => [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assert.deepEqual(
      names(),
      [exe, long, kept, longer, itself].map((p) => p.slice(dir.length + 1))
        .sort(),
    );
    // Nothing to write, nothing refused: a program patched already.
    await patchImports(exe, { output: `${dir}/patched.exe` });
    await Deno.rename(`${dir}/patched.exe`, itself);
    const again = await patchImports(itself, { inPlace: true });
    assert.equal(again.changed, false);
    // Nor is one whose copy would be over 255, or its own name too long.
    for (const length of [238, 242, 255]) {
      const named = `${dir}/${"p".repeat(length - 4)}.exe`;
      await Deno.copyFile(itself, named);
      assert.equal((await patchImports(named)).changed, false);
      assert.equal(
        (await patchImports(named, { inPlace: true })).changed,
        false,
      );
      await Deno.remove(named);
    }
    // A copy's name over 255 is refused for its length too, not in the
    // words of the look for one there (Linux "file name too long").
    const longest = await program(250);
    await refused(
      () => patchImports(longest),
      `Cannot patch ${longest}: the copy ${
        longest.slice(0, -4)
      }.heapshift.exe: ${
        why.replace("242", "260")
      }: name it with output, at most 241 ${unit}`,
    );
    await Deno.remove(longest);
    // A byte shorter is written.
    const shorter = await program(231);
    await patchImports(shorter);
    assert.ok(
      names().includes(`${"g".repeat(227)}.heapshift.exe`),
      names().join(" "),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
