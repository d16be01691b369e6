// Which running processes would write a Special K ini back over an edit.
import assert from "node:assert/strict";
import {
  type LoadedFiles,
  specialKActive,
  specialKEventName,
  specialKWriters,
  writerDlls,
  writersAmong,
} from "./specialk_running.ts";
import { createNamedEvent, isWindows, processSessionId } from "../ffi/mod.ts";

const SK = "C:\\Users\\Me\\AppData\\Local\\Programs\\Special K";
const PROFILE = `${SK}\\Profiles\\ELDEN RING\\SpecialK.ini`;

function proc(pid: number, name: string, ...paths: string[]): LoadedFiles {
  return { pid, name, paths: ["C:\\Windows\\System32\\ntdll.dll", ...paths] };
}

Deno.test("specialk: a profile is written by a game with its install's Special K loaded", () => {
  const list = [
    proc(10, "eldenring.exe", `${SK.toUpperCase()}\\SPECIALK64.DLL`),
    proc(11, "old32.exe", `${SK}/SpecialK32.dll`),
    proc(12, "other.exe", "D:\\Other Special K\\SpecialK64.dll"),
    proc(13, "notepad.exe"),
    // Special K's injection tools: Special K loaded, no profile (SKIF's
    // service hosts, SKIM, the older rundll32 service)
    proc(14, "rundll32.exe", `${SK}\\SpecialK64.dll`),
    proc(15, "SKIFsvc64.exe", `${SK}\\SpecialK64.dll`),
    proc(16, "SKIFsvc32.exe", `${SK}\\SpecialK32.dll`),
    proc(17, "SKIF.exe", `${SK}\\SpecialK64.dll`),
    proc(18, "SKIM64.exe", `${SK}\\SpecialK64.dll`),
  ];
  assert.deepEqual(
    writersAmong(PROFILE, list).map((g) => [g.pid, g.name]),
    [[10, "eldenring.exe"], [11, "old32.exe"]],
  );
  // the same as a resolved path may spell it
  assert.equal(writersAmong(`\\\\?\\${PROFILE}`, list).length, 2);
  // the same with forward slashes (a path joined from --sk-dir)
  assert.deepEqual(
    writersAmong(`${SK}/Profiles/ELDEN RING/SpecialK.ini`, list).length,
    2,
  );
});

Deno.test("specialk: a game whose modules cannot be read (elevated), with Special K active, counts for any profile", () => {
  const list = [{ pid: 50, name: "elevated.exe" }];
  assert.deepEqual(writersAmong(PROFILE, list), [
    { pid: 50, name: "elevated.exe" },
  ]);
  assert.deepEqual(
    writersAmong(`${SK}\\Global\\default_SpecialK.ini`, list),
    [],
  );
});

Deno.test("specialk: the global defaults have no writer; a local copy writes the ini beside it", () => {
  assert.deepEqual(writerDlls(`${SK}\\Global\\default_SpecialK.ini`), []);
  const list = [
    proc(20, "game.exe", "D:\\Games\\Game\\dxgi.dll", `${SK}\\SpecialK64.dll`),
  ];
  assert.deepEqual(
    writersAmong(`${SK}\\Global\\default_SpecialK.ini`, list),
    [],
  );
  assert.deepEqual(
    writersAmong("D:\\Games\\Game\\dxgi.ini", list),
    [{ pid: 20, name: "game.exe", dll: "D:\\Games\\Game\\dxgi.dll" }],
  );
  assert.deepEqual(writersAmong("D:\\Games\\Game\\d3d11.ini", list), []);
});

Deno.test("specialk: under Wine a game's DLLs are Linux paths in a prefix", () => {
  const sk = "/home/me/.wine/drive_c/users/me/AppData/Local/Programs/Special K";
  const list = [proc(30, "game.exe", `${sk}/SpecialK64.dll`)];
  assert.equal(
    writersAmong(`${sk}/Profiles/Game/SpecialK.ini`, list).length,
    1,
  );
});

Deno.test("specialk: the defaults are never checked against the running processes", async () => {
  let listed = false;
  const games = await specialKWriters(`${SK}\\Global\\default_SpecialK.ini`, {
    list: () => {
      listed = true;
      return Promise.resolve([]);
    },
  });
  assert.deepEqual(games, []);
  assert.equal(listed, false);
});

Deno.test({
  name:
    "specialk: an ini named relatively or through a link is matched where it really is",
  ignore: Deno.build.os === "windows",
  fn: async () => {
    const dir = await Deno.realPath(await Deno.makeTempDir());
    const cwd = Deno.cwd();
    try {
      await Deno.writeTextFile(`${dir}/dxgi.ini`, "[Render.DXGI]\n");
      await Deno.symlink(`${dir}/dxgi.ini`, `${dir}/link.ini`);
      const list = () =>
        Promise.resolve([{
          pid: 40,
          name: "game.exe",
          paths: [`${dir}/dxgi.dll`],
        }]);
      Deno.chdir(dir);
      assert.equal((await specialKWriters("dxgi.ini", { list })).length, 1);
      // a link elsewhere edits the game's dxgi.ini
      Deno.chdir(cwd);
      assert.equal(
        (await specialKWriters(`${dir}/link.ini`, { list })).length,
        1,
      );
    } finally {
      Deno.chdir(cwd);
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "specialk: a game that loaded its Special K through a link to the ini's folder (a library moved by a junction) counts",
  ignore: Deno.build.os === "windows",
  fn: async () => {
    const dir = await Deno.realPath(await Deno.makeTempDir());
    try {
      await Deno.mkdir(`${dir}/real`);
      await Deno.writeTextFile(`${dir}/real/dxgi.ini`, "[Render.DXGI]\n");
      await Deno.writeTextFile(`${dir}/real/dxgi.dll`, "");
      await Deno.symlink(`${dir}/real`, `${dir}/link`);
      // the loader names a DLL by the path the game was started from
      const list = () =>
        Promise.resolve([{
          pid: 41,
          name: "game.exe",
          paths: [`${dir}/link/dxgi.dll`, `${dir}/link/gone.dll`],
        }]);
      assert.equal(
        (await specialKWriters(`${dir}/real/dxgi.ini`, { list })).length,
        1,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/** A shared object of this Linux's, to map as a DLL. */
const LIBM = Deno.build.os !== "linux" ? undefined : [
  `/lib/${Deno.build.arch}-linux-gnu/libm.so.6`,
  "/lib64/libm.so.6",
  "/usr/lib/libm.so.6",
].find((f) => {
  try {
    return Deno.statSync(f).isFile;
  } catch {
    return false;
  }
});

Deno.test({
  name:
    "specialk: on Linux a process with the install's Special K mapped (as Wine maps a DLL) is found in /proc, named by its program",
  ignore: LIBM === undefined,
  fn: async () => {
    const dir = await Deno.realPath(await Deno.makeTempDir());
    // (LD_PRELOAD takes no space in a path)
    const profile = `${dir}/SK/Profiles/Game/SpecialK.ini`;
    await Deno.mkdir(`${dir}/SK/Profiles/Game`, { recursive: true });
    await Deno.writeTextFile(profile, "[SpecialK.System]\n");
    // any shared object, named as Special K's DLL, mapped by a program
    const dll = `${dir}/SK/SpecialK64.dll`;
    await Deno.copyFile(LIBM!, dll);
    const child = new Deno.Command("sleep", {
      args: ["30"],
      env: { LD_PRELOAD: dll },
    }).spawn();
    try {
      let games: Awaited<ReturnType<typeof specialKWriters>> = [];
      for (let i = 0; i < 50 && !games.length; i++) {
        await new Promise((r) => setTimeout(r, 20));
        games = await specialKWriters(profile);
      }
      assert.deepEqual(games, [{ pid: child.pid, name: "sleep", dll }]);
    } finally {
      child.kill();
      await child.status;
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("specialk: Special K's event is looked for in the game's session: ours as Local\\, another as Session\\<id>\\, session 0 as Global\\", () => {
  const name = (target?: number, own?: number) =>
    specialKEventName(1234, { target, own });
  assert.equal(name(1, 1), "Local\\SK_InjectedPid_1234");
  // a session that cannot be told: ours, as before
  assert.equal(name(undefined, 1), "Local\\SK_InjectedPid_1234");
  assert.equal(name(2, undefined), "Local\\SK_InjectedPid_1234");
  // another user's game was looked for in our own session: never found
  assert.equal(name(2, 1), "Session\\2\\SK_InjectedPid_1234");
  assert.equal(name(0, 1), "Global\\SK_InjectedPid_1234");
});

Deno.test({
  name:
    "specialk: a game in another session is found by its event there; a session whose names cannot be reached counts no game",
  ignore: !isWindows,
  fn: () => {
    // Under Wine every program runs in one session: the test says which
    // session the game and this process are in. No process has this pid.
    const own = processSessionId(Deno.pid);
    const game = 0x7fff_fff0;
    using _event = createNamedEvent(`Local\\SK_InjectedPid_${game}`);
    const seenFrom = (reader: number, target: number) => (pid: number) =>
      pid === game ? target : reader;
    // from another session (99), the game's own (ours) holds the event
    assert.equal(specialKActive(game, { session: seenFrom(99, own) }), true);
    assert.equal(
      specialKActive(game + 1, { session: seenFrom(99, own) }),
      false,
    );
    // no session 77 here: its names cannot be reached (path not found),
    // which is no sign of Special K in every one of its programs
    assert.equal(specialKActive(game, { session: seenFrom(own, 77) }), false);
  },
});
