import assert from "node:assert/strict";
import {
  findSpecialK,
  globalIni,
  isSpecialKDir,
  profileIni,
  profiles,
  readPlugin,
  removePlugin,
  specialKDirs,
  specialKDirsInPrefix,
  specialKRegistry,
  upsertPlugin,
} from "./specialk_ini.ts";
import { specialKView } from "./specialk_test_utils.ts";

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

Deno.test("a section named in another case is the entry, renamed as Special K reads it (case-sensitively)", () => {
  const text =
    `[import.HeapShift]\nArchitecture=x64\nRole=ThirdParty\nWhen=Early\nFilename=${DLL}\n`;
  const r = upsertPlugin(text, { name: "heapshift", filename: DLL });
  assert.equal(r.changed, true);
  assert.equal(
    r.text,
    text.replace("[import.HeapShift]", "[Import.heapshift]"),
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

Deno.test("a section header with a comment is the section (its header made one Special K reads); duplicates are all updated and all removed", () => {
  const commented =
    `[A]\nk=1\n\n[Import.heapshift] ; added by hand\nArchitecture=x64\nRole=ThirdParty\nWhen=PlugIn\nFilename=${DLL}\n`;
  const up = upsertPlugin(commented, { name: "heapshift", filename: DLL });
  assert.equal(up.changed, true);
  assert.equal(
    up.text,
    commented.replace("When=PlugIn", "When=Early").replace(
      " ; added by hand",
      "",
    ),
  );
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
    // (compared with '/' throughout: on Windows a file in it is joined
    // with a backslash, and the Windows Deno's temporary folder has them)
    const slash = (p = "") => p.replaceAll("\\", "/");
    const at = (game: string) => ({
      path: slash(`${sk}/Profiles/${game}/SpecialK.ini`),
    });
    const ini = (game: string) => {
      const r = profileIni(sk, game);
      return r.path ? { path: slash(r.path) } : r;
    };
    assert.equal(
      slash(globalIni(sk)),
      slash(`${sk}/Global/default_SpecialK.ini`),
    );
    assert.deepEqual(ini("elden ring"), at("Elden Ring"));
    assert.deepEqual(ini("elden"), at("Elden Ring"));
    assert.deepEqual(ini("nope"), {});
    // Part of several names picks none; a whole name picks its own.
    for (const g of ["Dark Souls II", "Dark Souls III"]) {
      await Deno.mkdir(`${sk}/Profiles/${g}`, { recursive: true });
    }
    assert.deepEqual(ini("dark souls"), {
      ambiguous: ["Dark Souls II", "Dark Souls III"],
    });
    assert.deepEqual(ini("dark souls ii"), at("Dark Souls II"));
  } finally {
    await Deno.remove(prefix, { recursive: true });
  }
});

const WANT = {
  Architecture: "x64",
  Role: "ThirdParty",
  When: "Early",
  Filename: DLL,
};

/** The managed keys as Special K reads them from `text`. */
function skEntry(text: string): Record<string, string> | undefined {
  const keys = specialKView(text, "Import.heapshift");
  if (!keys) return undefined;
  return Object.fromEntries(
    Object.keys(WANT).filter((k) => k in keys).map((k) => [k, keys[k]]),
  );
}

Deno.test("an entry Special K would not read is rewritten until it does, not called up to date", () => {
  const entry =
    `Architecture=x64\nRole=ThirdParty\nWhen=Early\nFilename=${DLL}\n`;
  const cases: Record<string, string> = {
    "lower-case section name": `[import.HeapShift]\n${entry}`,
    "comment after the header": `[Import.heapshift] ; by hand\n${entry}`,
    "space before the header": `  [Import.heapshift]\n${entry}`,
    "space after the header": `[Import.heapshift]  \r\n${entry}`,
    "spaces around =":
      `[Import.heapshift]\nArchitecture = x64\nRole= ThirdParty\nWhen =Early\nFilename = ${DLL}\n`,
    "lower-case keys":
      `[Import.heapshift]\narchitecture=x64\nrole=ThirdParty\nwhen=Early\nfilename=${DLL}\n`,
    "value with trailing space": `[Import.heapshift]\n${
      entry.replace("When=Early", "When=Early ")
    }`,
    "comment inside":
      `[Import.heapshift]\nArchitecture=x64\n; why\nRole=ThirdParty\n\nWhen=Early\nFilename=${DLL}\n`,
  };
  for (const [what, text] of Object.entries(cases)) {
    const before = `[A]\nk=1\n\n${text}\n[B]\nx=2\n`;
    assert.notDeepEqual(skEntry(before), WANT, `${what}: the case is real`);
    const r = upsertPlugin(before, { name: "heapshift", filename: DLL });
    assert.equal(r.changed, true, what);
    assert.deepEqual(skEntry(r.text), WANT, `${what}:\n${r.text}`);
    // the other sections as they were
    assert.deepEqual(specialKView(r.text, "A"), { k: "1" }, what);
    assert.deepEqual(specialKView(r.text, "B"), { x: "2" }, what);
    const again = upsertPlugin(r.text, { name: "heapshift", filename: DLL });
    assert.equal(again.changed, false, what);
  }
});

Deno.test("what upsert writes, Special K reads (odd texts)", () => {
  const texts = [
    "",
    "[A]\nk=1",
    "[A]\r\nk=1\r\n",
    "[A]\nk=1\n  ",
    "; only a comment",
    `[Import.heapshift]\nBlacklist=launcher.exe\n[B]\nx=1\n`,
    `[Import.heapshift]\n\n\nBlacklist=a.exe\n\n[B]\nx=1\n`,
  ];
  for (const text of texts) {
    const r = upsertPlugin(text, { name: "heapshift", filename: DLL });
    assert.deepEqual(skEntry(r.text), WANT, JSON.stringify(text));
  }
});

Deno.test("specialKDirs: the installer's folder, SPECIALK_PATH, the registry's Path and the real Documents folder", () => {
  const vars: Record<string, string> = {
    LOCALAPPDATA: "C:\\Users\\Me\\AppData\\Local",
    ProgramFiles: "C:\\Program Files",
    USERPROFILE: "C:\\Users\\Me",
    SPECIALK_PATH: "E:\\SK\\",
  };
  const env = (k: string) => vars[k];
  assert.deepEqual(
    specialKDirs({
      installed: ["D:\\Tools\\Special K\\"],
      path: "%USERPROFILE%\\SK",
      // OneDrive backs up Documents: it is no longer in USERPROFILE
      documents: "%USERPROFILE%\\OneDrive\\Documents",
    }, env),
    [
      "D:\\Tools\\Special K",
      "C:\\Users\\Me\\AppData\\Local\\Programs\\Special K",
      "C:\\Program Files\\Special K",
      "E:\\SK",
      "C:\\Users\\Me\\SK",
      "C:\\Users\\Me\\OneDrive\\Documents\\My Mods\\SpecialK",
    ],
  );
  // Nothing in the registry: Documents in the user's profile.
  assert.deepEqual(
    specialKDirs({}, (k) => k === "USERPROFILE" ? "C:\\U" : undefined),
    [
      "C:\\U\\Documents\\My Mods\\SpecialK",
    ],
  );
});

Deno.test("specialKRegistry: a registry reg.exe read nothing of, not even User Shell Folders, is unreadable; one it read is not", async () => {
  const none = await specialKRegistry({ read: () => Promise.resolve({}) });
  assert.equal(none.unreadable, true);
  const shell: Record<string, string> = {
    Personal: "%USERPROFILE%\\Documents",
  };
  const read = await specialKRegistry({
    read: (key) =>
      Promise.resolve(key.endsWith("User Shell Folders") ? shell : {}),
  });
  assert.equal(read.unreadable, undefined);
  assert.equal(read.documents, "%USERPROFILE%\\Documents");
});

Deno.test("specialKRegistry: a read that fails (Ctrl+C) fails it only once every other read has cleaned up (the CLI exits right after)", async () => {
  let finished = 0;
  const err = await specialKRegistry({
    read: async (key) => {
      if (key.includes("Kaldaien")) throw new Error("interrupted");
      await new Promise((r) => setTimeout(r, 50)); // its folder removed
      finished++;
      return {};
    },
  }).catch((e: Error) => e);
  assert.equal((err as Error).message, "interrupted");
  assert.equal(finished, 4);
});

// Paths were joined as `${dir}/Profiles`: after a \\?\ prefix (Windows' way
// past MAX_PATH) a '/' is a character of a name, not a separator, so a
// Special K folder given as \\?\C:\… was not found, nor its profiles.
Deno.test({
  name:
    "a Special K folder given as a \\\\?\\ path (Windows) is found, with its profiles and global ini",
  ignore: Deno.build.os !== "windows",
  fn: async () => {
    const dir = await Deno.makeTempDir();
    try {
      const sk = `\\\\?\\${dir.replaceAll("/", "\\")}\\Special K`;
      await Deno.mkdir(`${dir}\\Special K\\Profiles\\Elden Ring`, {
        recursive: true,
      });
      await Deno.writeTextFile(`${dir}\\Special K\\SpecialK64.dll`, "");
      assert.equal(isSpecialKDir(sk), true);
      assert.equal(findSpecialK([sk]), sk);
      assert.deepEqual(profiles(sk), ["Elden Ring"]);
      const { path } = profileIni(sk, "elden");
      assert.equal(path, `${sk}\\Profiles\\Elden Ring\\SpecialK.ini`);
      await Deno.writeTextFile(path!, "[SpecialK.System]\r\n");
      await Deno.mkdir(`${sk}\\Global`);
      await Deno.writeTextFile(globalIni(sk), "");
      assert.equal(
        globalIni(sk),
        `${sk}\\Global\\default_SpecialK.ini`,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
