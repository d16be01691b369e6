import assert from "node:assert/strict";
import {
  findSpecialK,
  globalIni,
  profileIni,
  readPlugin,
  removePlugin,
  specialKDirsInPrefix,
  upsertPlugin,
} from "./specialk_ini.ts";

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

Deno.test("a section header with a comment is the section; duplicates are all updated and all removed", () => {
  const commented =
    `[A]\nk=1\n\n[Import.heapshift] ; added by hand\nArchitecture=x64\nRole=ThirdParty\nWhen=PlugIn\nFilename=${DLL}\n`;
  const up = upsertPlugin(commented, { name: "heapshift", filename: DLL });
  assert.equal(up.changed, true);
  assert.equal(up.text, commented.replace("When=PlugIn", "When=Early"));
  assert.equal(readPlugin(commented, "heapshift")?.When, "PlugIn");
  assert.equal(
    removePlugin(commented, "heapshift").text,
    "[A]\nk=1\n",
  );

  const dup =
    "[Import.heapshift]\nFilename=C:\\a.dll\n\n[B]\nx=1\n\n[Import.heapshift]\nFilename=C:\\b.dll\n";
  const both = upsertPlugin(dup, { name: "heapshift", filename: DLL });
  assert.equal(both.text.split(`Filename=${DLL}`).length - 1, 2, both.text);
  assert.ok(
    !both.text.includes("C:\\a.dll") && !both.text.includes("C:\\b.dll"),
  );
  assert.equal(
    upsertPlugin(both.text, { name: "heapshift", filename: DLL }).changed,
    false,
  );
  assert.equal(removePlugin(both.text, "heapshift").text, "[B]\nx=1\n");
});

Deno.test("a name or value with CR, LF or other control characters is refused", () => {
  for (const name of ["heap\r\n[Evil]", "heap\nshift", "a]b", "", "x\0"]) {
    assert.throws(
      () => upsertPlugin("[A]\n", { name, filename: DLL }),
      /name/i,
      JSON.stringify(name),
    );
  }
  assert.throws(
    () =>
      upsertPlugin("[A]\n", { name: "heapshift", filename: "C:\\a\r\n[X]" }),
    /Filename/,
  );
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
    assert.deepEqual(profileIni(sk, "elden ring"), {
      path: `${sk}/Profiles/Elden Ring/SpecialK.ini`,
    });
    assert.deepEqual(profileIni(sk, "elden"), {
      path: `${sk}/Profiles/Elden Ring/SpecialK.ini`,
    });
    assert.deepEqual(profileIni(sk, "nope"), {});
    // Part of several names picks none; a whole name picks its own.
    for (const g of ["Dark Souls II", "Dark Souls III"]) {
      await Deno.mkdir(`${sk}/Profiles/${g}`, { recursive: true });
    }
    assert.deepEqual(profileIni(sk, "dark souls"), {
      ambiguous: ["Dark Souls II", "Dark Souls III"],
    });
    assert.deepEqual(profileIni(sk, "dark souls ii"), {
      path: `${sk}/Profiles/Dark Souls II/SpecialK.ini`,
    });
  } finally {
    await Deno.remove(prefix, { recursive: true });
  }
});
