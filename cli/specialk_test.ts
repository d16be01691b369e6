import assert from "node:assert/strict";
import {
  applyToFile,
  decodeIni,
  encodeIni,
  findSpecialK,
  globalIni,
  profileIni,
  readPlugin,
  removePlugin,
  specialKDirsInPrefix,
  upsertPlugin,
} from "./specialk.ts";

const SAMPLE = new URL("../tests/fixtures/cli_specialk.ini", import.meta.url);
const DLL = "C:\\tools\\heapshift\\heapshift.dll";

function crlf(s: string): string {
  return s.replaceAll("\n", "\r\n");
}

Deno.test("upsert adds an [Import.heapshift] section at the end", () => {
  const text = Deno.readTextFileSync(SAMPLE);
  const r = upsertPlugin(text, { name: "heapshift", filename: DLL });
  assert.equal(r.changed, true);
  assert.ok(r.text.startsWith(text.trimEnd()));
  assert.ok(
    r.text.endsWith(
      `\n\n[Import.heapshift]\nArchitecture=x64\nRole=ThirdParty\nWhen=Early\nFilename=${DLL}\n`,
    ),
  );
  assert.deepEqual(readPlugin(r.text, "heapshift"), {
    Architecture: "x64",
    Role: "ThirdParty",
    When: "Early",
    Filename: DLL,
  });
  // Other plug-ins untouched.
  assert.equal(
    readPlugin(r.text, "ReShade64")?.Filename,
    "C:\\Program Files\\ReShade\\ReShade64.dll",
  );
});

Deno.test("upsert is idempotent", () => {
  const text = Deno.readTextFileSync(SAMPLE);
  const once = upsertPlugin(text, { name: "heapshift", filename: DLL });
  const twice = upsertPlugin(once.text, { name: "heapshift", filename: DLL });
  assert.equal(twice.changed, false);
  assert.equal(twice.text, once.text);
});

Deno.test("upsert updates changed keys in place and keeps unmanaged ones", () => {
  const text =
    "[Import.heapshift]\nArchitecture=x64\nBlacklist=launcher.exe\nFilename=C:\\old\\heapshift.dll\nWhen=PlugIn\n\n[Other]\nA=1\n";
  const r = upsertPlugin(text, { name: "heapshift", filename: DLL });
  assert.equal(r.changed, true);
  assert.equal(
    r.text,
    `[Import.heapshift]\nArchitecture=x64\nBlacklist=launcher.exe\nFilename=${DLL}\nWhen=Early\nRole=ThirdParty\n\n[Other]\nA=1\n`,
  );
});

Deno.test("section names match case-insensitively", () => {
  const text =
    `[import.HeapShift]\nArchitecture=x64\nRole=ThirdParty\nWhen=Early\nFilename=${DLL}\n`;
  assert.equal(
    upsertPlugin(text, { name: "heapshift", filename: DLL }).changed,
    false,
  );
});

Deno.test("CRLF line endings are kept", () => {
  const text = crlf(Deno.readTextFileSync(SAMPLE));
  const r = upsertPlugin(text, { name: "heapshift", filename: DLL });
  assert.ok(!/[^\r]\n/.test(r.text), "every newline is CRLF");
  assert.ok(r.text.includes("[Import.heapshift]\r\nArchitecture=x64\r\n"));
});

Deno.test("remove takes the section out and restores the original text", () => {
  const text = Deno.readTextFileSync(SAMPLE);
  const added = upsertPlugin(text, { name: "heapshift", filename: DLL });
  const removed = removePlugin(added.text, "heapshift");
  assert.equal(removed.changed, true);
  assert.equal(removed.text.trimEnd(), text.trimEnd());
  assert.equal(removePlugin(text, "heapshift").changed, false);
  // A section in the middle.
  const mid = removePlugin(text, "ReShade64");
  assert.equal(
    mid.text,
    "[SpecialK.System]\nShowEULA=false\nGlobalInjectDelay=0.0\n\n[Render.FrameRate]\nTargetFPS=60.0\n",
  );
});

Deno.test("encodings round-trip: UTF-16LE with BOM, UTF-8 with and without BOM", () => {
  for (const encoding of ["utf16le", "utf8bom", "utf8"] as const) {
    const text = "[Über]\r\nKey=välue ✓\r\n";
    const bytes = encodeIni({ text, encoding });
    const back = decodeIni(bytes);
    assert.equal(back.encoding, encoding);
    assert.equal(back.text, text);
  }
  const u16 = encodeIni({ text: "[A]", encoding: "utf16le" });
  assert.deepEqual([...u16.subarray(0, 4)], [0xff, 0xfe, 0x5b, 0]);
});

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
    assert.ok(back.text.startsWith("[Import.heapshift]\n"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("finds Special K, its profiles and global ini inside a Wine prefix", async () => {
  const prefix = await Deno.makeTempDir();
  try {
    const sk =
      `${prefix}/drive_c/users/steamuser/AppData/Local/Programs/Special K`;
    await Deno.mkdir(`${sk}/Profiles/Elden Ring`, { recursive: true });
    await Deno.mkdir(`${sk}/Global`, { recursive: true });
    const found = findSpecialK(specialKDirsInPrefix(prefix));
    assert.equal(found, sk);
    assert.equal(globalIni(sk), `${sk}/Global/default_SpecialK.ini`);
    assert.equal(
      profileIni(sk, "elden ring"),
      `${sk}/Profiles/Elden Ring/SpecialK.ini`,
    );
    assert.equal(
      profileIni(sk, "elden"),
      `${sk}/Profiles/Elden Ring/SpecialK.ini`,
    );
    assert.equal(profileIni(sk, "nope"), undefined);
  } finally {
    await Deno.remove(prefix, { recursive: true });
  }
});
