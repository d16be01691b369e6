// pe/ patching proven by running the result: a patched executable has
// heapshift.dll loaded before the C runtime at the first line of main,
// moving an import keeps it working, and removing the DLL gives back the
// original file and behaviour.
import {
  bytesSource,
  DIR,
  endOfSectionData,
  imports,
  patchImports,
  peChecksum,
  PeFileError,
  PeFormatError,
  PePatchError,
  readHeaders,
  removeImport,
} from "../../pe/mod.ts";
import { growRawData, windowsMapsIt } from "../../pe/_test_pe.ts";
import { assert, assertEquals, assertRejects } from "./assert.ts";
import { fixture, startTarget, test } from "./harness.ts";
import { runProgram } from "../../cli/_test_utils.ts";
import { openDenyingWrites } from "../../ffi/file.ts";

const EXE = "pe_first_import.exe";

async function run(
  exe: string,
  args: string[] = [],
): Promise<{ code: number; out: string }> {
  const r = await runProgram(exe, args);
  return { code: r.code, out: r.stdout };
}

async function withCopy(
  fn: (dir: string, exe: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "heapshift-pe-" });
  try {
    const exe = `${dir}\\game.exe`;
    await Deno.copyFile(fixture(EXE), exe);
    // The anchor DLL stands in for the hook DLL: same name, same export.
    await Deno.copyFile(fixture("pe_anchor.dll"), `${dir}\\heapshift.dll`);
    await fn(dir, exe);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

test("unpatched, the fixture does not load heapshift.dll", async () => {
  await withCopy(async (_dir, exe) => {
    const r = await run(exe);
    assertEquals(r.code, 1, r.out);
    assert(r.out.includes("loaded heapshift.dll no"), r.out);
  });
});

test("patchImports() makes heapshift.dll load before the CRT", async () => {
  await withCopy(async (dir, exe) => {
    const rep = await patchImports(exe);
    assertEquals(rep.action, "added");
    assertEquals(rep.output, `${dir}\\game.heapshift.exe`);
    assertEquals(rep.imports[0], "heapshift.dll");
    const r = await run(rep.output!);
    assertEquals(r.code, 0, r.out);
    assert(r.out.includes("first heapshift.dll yes"), r.out);
    assert(r.out.includes("anchor 42"), r.out);
    // Every static import is mapped before the first DllMain runs: the DLL
    // imported first already finds ucrtbase.dll in the process (the real
    // hook DLL also imports the UCRT itself, so ucrtbase is initialised
    // before it, too).
    assert(r.out.includes("saw-ucrt-at-attach 1"), r.out);
    // Twice is once.
    const again = await patchImports(rep.output!, { inPlace: true });
    assertEquals(again.changed, false);
  });
});

test("patch then remove gives back the original file and behaviour", async () => {
  await withCopy(async (_dir, exe) => {
    const original = await Deno.readFile(exe);
    const before = await run(exe);
    const rep = await patchImports(exe, { inPlace: true });
    assertEquals(rep.backup, `${exe}.bak`);
    assertEquals((await run(exe)).code, 0);
    const patched = await Deno.readFile(exe);
    // The README's round trip: the original's backup is in the way of the
    // undo's, which goes next to it.
    const un = await removeImport(exe, { inPlace: true });
    assertEquals(un.action, "removed");
    assertEquals(un.backup, `${exe}.bak.1`);
    assertEquals(await Deno.readFile(`${exe}.bak`), original);
    assertEquals(await Deno.readFile(`${exe}.bak.1`), patched);
    assertEquals(await Deno.readFile(exe), original);
    const after = await run(exe);
    assertEquals(after, before);
  });
});

test("moving a CRT import to the front keeps the program working", async () => {
  await withCopy(async (dir, exe) => {
    const crt = (await imports(exe)).find((d) =>
      /^api-ms-win-crt-stdio/i.test(d.dll)
    );
    assert(crt, "the fixture imports the UCRT stdio API set");
    const out = `${dir}\\moved.exe`;
    const rep = await patchImports(exe, { dll: crt.dll, output: out });
    assertEquals(rep.action, "moved");
    assertEquals((await imports(out))[0].dll, crt.dll);
    // The program behaves exactly as before: same modules in the same
    // order, same verdicts, same exit code (the file name aside).
    const args = ["ucrtbase.dll", "kernel32.dll"];
    const [was, r] = [await run(exe, args), await run(out, args)];
    assert(r.out.includes("loaded ucrtbase.dll yes"), r.out);
    assertEquals(
      { ...r, out: r.out.replace("moved.exe", "game.exe") },
      was,
    );
  });
});

test("a postfixed DLL name is imported and loaded", async () => {
  await withCopy(async (dir, exe) => {
    await Deno.copyFile(`${dir}\\heapshift.dll`, `${dir}\\heapshift-debug.dll`);
    const rep = await patchImports(exe, {
      postfix: "-debug",
      inPlace: true,
      backup: false,
    });
    assertEquals(rep.dll, "heapshift-debug.dll");
    const r = await run(exe, ["heapshift-debug.dll"]);
    assertEquals(r.code, 0, r.out);
  });
});

test("raw data past a section's mapped size: the program runs, patched and undone", async () => {
  await withCopy(async (_dir, exe) => {
    // Linkers round raw data to FileAlignment only; packers and editors
    // leave more. The loader maps VirtualSize rounded to SectionAlignment
    // and ignores the rest: here the raw data of .reloc (a middle section)
    // and of the last section runs a page past that.
    const sections = readHeaders(bytesSource(await Deno.readFile(exe)))
      .sections;
    const mid = sections.findIndex((s) => s.name === ".reloc");
    assert(mid > 0 && mid < sections.length - 1, "the fixture has .reloc");
    let grown: Uint8Array = await Deno.readFile(exe);
    for (const index of [mid, sections.length - 1]) {
      grown = growRawData(grown, { index, extra: 0x1000 });
    }
    await patchRunUndo(exe, grown);
  });
});

/**
 * Writes `original` to `exe`, which Windows would map, and shows that it
 * runs, runs with heapshift.dll first once patched in place (the patched
 * file one Windows would map too: Wine would run a gap before the new
 * section, Windows would not), and is given back byte for byte by
 * removeImport.
 */
async function patchRunUndo(exe: string, original: Uint8Array): Promise<void> {
  await Deno.writeFile(exe, original);
  windowsMapsIt(original);
  const before = await run(exe);
  assertEquals(before.code, 1, before.out);
  assert(before.out.includes("loaded heapshift.dll no"), before.out);
  const rep = await patchImports(exe, { inPlace: true, backup: false });
  assertEquals(rep.action, "added");
  windowsMapsIt(await Deno.readFile(exe));
  const r = await run(exe);
  assertEquals(r.code, 0, r.out);
  assert(r.out.includes("first heapshift.dll yes"), r.out);
  const un = await removeImport(exe, { inPlace: true, backup: false });
  assertEquals(un.action, "removed");
  assertEquals(await Deno.readFile(exe), original);
  assertEquals(await run(exe), before);
}

/** `b` with `edit` applied to its headers and the checksum made right. */
function edited(
  b: Uint8Array,
  edit: (b: DataView, h: ReturnType<typeof readHeaders>) => void,
): Uint8Array {
  const out = b.slice();
  const h = readHeaders(bytesSource(b));
  edit(new DataView(out.buffer), h);
  const sum = h.optionalHeaderOffset + 64;
  new DataView(out.buffer).setUint32(sum, peChecksum(out, sum), true);
  return out;
}

test("a SizeOfImage short of the last section by less than a page: the program runs, patched and undone", async () => {
  await withCopy(async (_dir, exe) => {
    // Windows rounds SizeOfImage up to pages before it maps the sections
    // into it (Wine's loader tests: 0x1f00 for a section ending at 0x2000
    // loads on every Windows): such a file is valid and is patched.
    const short = edited(await Deno.readFile(exe), (v, h) => {
      v.setUint32(h.optionalHeaderOffset + 56, h.sizeOfImage - 0x800, true);
    });
    await patchRunUndo(exe, short);
  });
});

test("COFF symbols where UPX leaves them (the header's pointer kept as the linker wrote it, past the end or away from the symbols, which follow the sections): the program runs, patched and undone", async () => {
  await withCopy(async (_dir, exe) => {
    // The fixture is MinGW's, with COFF symbols after its sections: UPX
    // packs the sections smaller and copies the symbols after them, but
    // keeps the header's pointer, which the loader never reads. Here: the
    // symbols cut off, the pointer then past the end; and the symbols
    // kept after the sections, the pointer a page away.
    const b = await Deno.readFile(exe);
    const h = readHeaders(bytesSource(b));
    assert(h.pointerToSymbolTable > 0, "the fixture has COFF symbols");
    const withSum = (x: Uint8Array) => {
      const sum = h.optionalHeaderOffset + 64;
      if (h.checksum !== 0) {
        new DataView(x.buffer).setUint32(sum, peChecksum(x, sum), true);
      }
      return x;
    };
    await patchRunUndo(exe, withSum(b.slice(0, endOfSectionData(h))));
    const away = b.slice();
    new DataView(away.buffer).setUint32(
      h.peOffset + 12,
      h.pointerToSymbolTable + 0x1000,
      true,
    );
    await patchRunUndo(exe, withSum(away));
  });
});

test("a gap between sections: Wine runs the program, patching refuses it naming the section and writes nothing", async () => {
  await withCopy(async (dir, exe) => {
    // The last section a page further on, SizeOfImage with it: Windows
    // refuses such a file ("not a valid Win32 application"), Wine runs it.
    const gapped = edited(await Deno.readFile(exe), (v, h) => {
      const last = h.sections[h.sections.length - 1];
      v.setUint32(last.headerOffset + 12, last.virtualAddress + 0x1000, true);
      v.setUint32(h.optionalHeaderOffset + 56, h.sizeOfImage + 0x1000, true);
    });
    await Deno.writeFile(exe, gapped);
    const ran = await run(exe);
    assertEquals(ran.code, 1, ran.out);
    assert(ran.out.includes("loaded heapshift.dll no"), ran.out);
    const h = readHeaders(bytesSource(await Deno.readFile(fixture(EXE))));
    const last = h.sections.length - 1;
    const name = JSON.stringify(h.sections[last].name);
    for (const options of [{ inPlace: true }, {}]) {
      const e = await assertRejects(
        () => patchImports(exe, options),
        PeFormatError,
      );
      assertEquals(
        e.field,
        `IMAGE_SECTION_HEADER[${last}] (${name}).VirtualAddress`,
      );
      assert(
        e.message.startsWith(
          `Cannot read ${exe}: not a valid Windows executable or DLL (IMAGE_SECTION_HEADER[${last}] (${name}).VirtualAddress at 0x`,
        ),
        e.message,
      );
      assert(
        /leaves a gap after the section before/.test(e.message),
        e.message,
      );
      assert(/Windows refuses to run this file/.test(e.message), e.message);
    }
    assertEquals(await Deno.readFile(exe), gapped);
    const left = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assertEquals(left, ["game.exe", "heapshift.dll"]);
  });
});

test("raw data in the headers (a packer's layout): the program runs, its imports read, patching refuses it naming the section and writes nothing", async () => {
  await withCopy(async (dir, exe) => {
    // SizeOfHeaders over the first section's raw data, as upack lays files
    // out: Windows loads it (Wine's loader tests), and so does Wine.
    const packed = edited(await Deno.readFile(exe), (v, h) => {
      const first = h.sections[0];
      assert(first.pointerToRawData === h.sizeOfHeaders, "packed back to back");
      v.setUint32(
        h.optionalHeaderOffset + 60,
        first.pointerToRawData + 0x200,
        true,
      );
    });
    await Deno.writeFile(exe, packed);
    const ran = await run(exe);
    assertEquals(ran.code, 1, ran.out);
    assert(ran.out.includes("loaded heapshift.dll no"), ran.out);
    assertEquals(
      (await imports(exe)).map((d) => d.dll),
      (await imports(fixture(EXE))).map((d) => d.dll),
    );
    const h = readHeaders(bytesSource(packed));
    const name = JSON.stringify(h.sections[0].name);
    for (const options of [{ inPlace: true }, {}]) {
      const e = await assertRejects(
        () => patchImports(exe, options),
        PePatchError,
      );
      assert(
        e.message.includes(
          `section 0 (${name}) has its raw data at 0x${
            h.sections[0].pointerToRawData.toString(16)
          }, inside the headers (SizeOfHeaders 0x${
            h.sizeOfHeaders.toString(16)
          }), as packers lay files out`,
        ),
        e.message,
      );
      assert(/Load heapshift with launch or inject/.test(e.message), e.message);
    }
    assertEquals(await Deno.readFile(exe), packed);
    const left = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assertEquals(left, ["game.exe", "heapshift.dll"]);
  });
});

test("raw data that starts inside its sector (mapped from the sector, as Windows and Wine do): the program runs, patched and undone", async () => {
  await withCopy(async (_dir, exe) => {
    // Windows reads a section from PointerToRawData rounded down to 512
    // bytes: the first section's 0x10 bytes later, 0x10 bytes shorter, maps
    // the same bytes, and the patcher must move them as a whole.
    const inSector = edited(await Deno.readFile(exe), (v, h) => {
      const first = h.sections[0];
      v.setUint32(first.headerOffset + 16, first.sizeOfRawData - 0x10, true);
      v.setUint32(first.headerOffset + 20, first.pointerToRawData + 0x10, true);
    });
    await patchRunUndo(exe, inSector);
  });
});

/** IMAGE_FILE_RELOCS_STRIPPED, IMAGE_FILE_LARGE_ADDRESS_AWARE. */
const RELOCS_STRIPPED = 0x1;
const LARGE_ADDRESS_AWARE = 0x20;

/**
 * The 32-bit (PE32) fixture as built, or edited: large-address-aware, or
 * without relocations (no base relocation directory, not dynamic-base,
 * relocations stripped: it loads at its preferred base or not at all).
 */
function pe32Variant(
  bytes: Uint8Array,
  variant: "built" | "laa" | "norelocs",
): Uint8Array {
  const out = bytes.slice();
  const v = new DataView(out.buffer);
  const h = readHeaders(bytesSource(out));
  assertEquals(h.format, "PE32");
  const characteristics = h.peOffset + 4 + 18;
  if (variant === "laa") {
    v.setUint16(
      characteristics,
      v.getUint16(characteristics, true) | LARGE_ADDRESS_AWARE,
      true,
    );
  } else if (variant === "norelocs") {
    const reloc = h.dataDirectoryOffset + 8 * DIR.BASERELOC;
    assert(v.getUint32(reloc, true) !== 0, "the fixture has relocations");
    v.setBigUint64(reloc, 0n, true);
    const dllChars = h.optionalHeaderOffset + 70; // PE32
    v.setUint16(dllChars, v.getUint16(dllChars, true) & ~0x40, true);
    v.setUint16(
      characteristics,
      v.getUint16(characteristics, true) | RELOCS_STRIPPED,
      true,
    );
  }
  return out;
}

for (const variant of ["built", "laa", "norelocs"] as const) {
  test(`a patched 32-bit (PE32) program runs with heapshift.dll first: ${variant}`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "heapshift-pe32-" });
    try {
      const exe = `${dir}\\game.exe`;
      const original = pe32Variant(
        await Deno.readFile(fixture(EXE, "x86")),
        variant,
      );
      await Deno.writeFile(exe, original);
      await Deno.copyFile(
        fixture("pe_anchor.dll", "x86"),
        `${dir}\\heapshift.dll`,
      );
      const before = await run(exe);
      assertEquals(before.code, 1, before.out);
      const rep = await patchImports(exe, { inPlace: true, backup: false });
      assertEquals(rep.action, "added");
      const patched = await Deno.readFile(exe);
      const h = readHeaders(bytesSource(patched));
      const was = readHeaders(bytesSource(original));
      assertEquals(h.format, "PE32");
      assertEquals(h.characteristics, was.characteristics);
      assertEquals(
        h.dataDirectories[DIR.BASERELOC],
        was.dataDirectories[DIR.BASERELOC],
      );
      const r = await run(exe);
      assertEquals(r.code, 0, r.out);
      assert(r.out.includes("first heapshift.dll yes"), r.out);
      assert(r.out.includes("anchor 42"), r.out);
      assert(r.out.includes("saw-ucrt-at-attach 1"), r.out);
      // and back
      const un = await removeImport(exe, { inPlace: true, backup: false });
      assertEquals(un.action, "removed");
      assertEquals(await Deno.readFile(exe), original);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

test("a patched sleeper fixture still runs", async () => {
  await withCopy(async (dir) => {
    const sleeper = `${dir}\\sleeper.exe`;
    await Deno.copyFile(fixture("sleeper.exe"), sleeper);
    await patchImports(sleeper, { inPlace: true, backup: false });
    const child = new Deno.Command(sleeper, { stdout: "piped", stderr: "null" })
      .spawn();
    const reader = child.stdout.pipeThrough(new TextDecoderStream())
      .getReader();
    const first = await reader.read();
    child.kill();
    await child.status;
    await reader.cancel();
    assert(/^ready \d+/.test(first.value ?? ""), `got ${first.value}`);
  });
});

test("a patched copy of the Windows deno.exe runs with heapshift.dll first", async () => {
  await withCopy(async (dir) => {
    const exe = `${dir}\\deno.exe`;
    await Deno.copyFile(Deno.execPath(), exe);
    const rep = await patchImports(exe, { inPlace: true, backup: false });
    assertEquals(rep.action, "added");
    assertEquals(rep.imports[0], "heapshift.dll");
    const r = await run(exe, ["--version"]);
    assertEquals(r.code, 0, r.out);
    assert(/^deno \d/.test(r.out), r.out);
  });
});

test("stacked patches fill the headers, move section data, and all undo", async () => {
  await withCopy(async (dir, exe) => {
    const original = await Deno.readFile(exe);
    const before = await run(exe);
    // Each added DLL adds a section header, until the header area is full
    // and the section data has to move down.
    const added: string[] = [];
    let moved = false;
    for (let i = 0; i < 40 && !moved; i++) {
      const dll = `hs${String(i).padStart(2, "0")}.dll`;
      await Deno.copyFile(`${dir}\\heapshift.dll`, `${dir}\\${dll}`);
      const rep = await patchImports(exe, {
        dll,
        inPlace: true,
        backup: false,
        allowSecond: true,
      });
      assertEquals(rep.action, "added");
      moved = rep.warnings.some((w) => /moved down/.test(w));
      added.push(dll);
    }
    assert(moved, `no header shift after ${added.length} sections`);
    const r = await run(exe, [added.at(-1)!]);
    assertEquals(r.code, 0, r.out);
    for (const dll of added) {
      assert(r.out.includes(` ${dll}`), `${dll} not loaded: ${r.out}`);
    }
    for (const dll of added.toReversed()) {
      const un = await removeImport(exe, { dll, inPlace: true, backup: false });
      assertEquals(un.action, "removed");
    }
    assertEquals(await Deno.readFile(exe), original);
    assertEquals(await run(exe), before);
  });
});

test("a directory or a missing file is refused with its path", async () => {
  await withCopy(async (dir) => {
    await assertRejects(
      () => patchImports(dir, { inPlace: true }),
      PeFileError,
      `Cannot read ${dir}: it is a directory, not a regular file`,
    );
    const missing = `${dir}\\missing.exe`;
    await assertRejects(
      () => imports(missing),
      PeFileError,
      `Cannot read ${missing}: no such file`,
    );
    const out = `${dir}\\no\\such\\out.exe`;
    await assertRejects(
      () => patchImports(`${dir}\\game.exe`, { output: out }),
      PeFileError,
      `Cannot write ${out}: its directory does not exist`,
    );
  });
});

test("patching a running program in place says it is in use, and leaves it and no backup", async () => {
  await withCopy(async (dir) => {
    const sleeper = `${dir}\\sleeper.exe`;
    await Deno.copyFile(fixture("sleeper.exe"), sleeper);
    const before = await Deno.readFile(sleeper);
    await using _running = await startTarget(sleeper);
    await assertRejects(
      () => patchImports(sleeper, { inPlace: true }),
      PeFileError,
      "it is in use by another process (is the program running? close it and retry)",
    );
    assertEquals(await Deno.readFile(sleeper), before);
    const left = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assertEquals(left, ["game.exe", "heapshift.dll", "sleeper.exe"]);
  });
});

test("a file a scanner holds for a moment is patched in place once it lets go", async () => {
  await withCopy(async (dir, exe) => {
    // A virus scanner or indexer opens a new or changed program briefly,
    // sharing it for reading only: writing or renaming over it fails
    // meanwhile with a sharing violation.
    const held = openDenyingWrites(exe);
    const release = setTimeout(() => held.close(), 300);
    try {
      const rep = await patchImports(exe, { inPlace: true });
      assertEquals(rep.action, "added");
    } finally {
      clearTimeout(release);
      held.close();
    }
    assertEquals((await imports(exe))[0].dll, "heapshift.dll");
    const left = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assertEquals(left, ["game.exe", "game.exe.bak", "heapshift.dll"]);
  });
});

test("a program under a non-ASCII path is patched in place and runs", async () => {
  await withCopy(async (dir, exe) => {
    const sub = `${dir}\\Spiele – ゲーム`;
    await Deno.mkdir(sub);
    const game = `${sub}\\spiel ü.exe`;
    await Deno.rename(exe, game);
    await Deno.copyFile(`${dir}\\heapshift.dll`, `${sub}\\heapshift.dll`);
    const rep = await patchImports(game, { inPlace: true });
    assertEquals(rep.backup, `${game}.bak`);
    const r = await run(game);
    assertEquals(r.code, 0, r.out);
    assert(r.out.includes("first heapshift.dll yes"), r.out);
  });
});

// Windows refuses to open a read-only file for writing, so the check
// before the backup says so; Wine, run as root here, lets the open through
// and refuses only the final rename: either way the file stays as it was.
test("a read-only program is refused in place, and nothing is left behind", async () => {
  await withCopy(async (dir, exe) => {
    const before = await Deno.readFile(exe);
    const attrib = (flag: string) =>
      new Deno.Command("cmd.exe", { args: ["/c", "attrib", flag, exe] })
        .output();
    await attrib("+r");
    try {
      await assertRejects(
        () => patchImports(exe, { inPlace: true }),
        PeFileError,
        "permission denied",
      );
    } finally {
      await attrib("-r");
    }
    assertEquals(await Deno.readFile(exe), before);
    const left = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assertEquals(left, ["game.exe", "heapshift.dll"]);
  });
});

// A rename puts a new file under one name only: the program's other hard
// link would keep the old bytes, so the edit is refused, on Windows too.
test("a program with a second hard link is refused in place, both names left as they were", async () => {
  await withCopy(async (dir, exe) => {
    const before = await Deno.readFile(exe);
    const other = `${dir}\\other.exe`;
    await Deno.link(exe, other);
    await assertRejects(
      () => patchImports(exe, { inPlace: true }),
      PeFileError,
      "it has 2 hard links",
    );
    assertEquals(await Deno.readFile(exe), before);
    assertEquals(await Deno.readFile(other), before);
    const left = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assertEquals(left, ["game.exe", "heapshift.dll", "other.exe"]);
  });
});
