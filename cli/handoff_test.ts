import assert from "node:assert/strict";
import { descendants, gameOf, handoffWarning, isHelper } from "./handoff.ts";

Deno.test("handoffWarning names what a launcher left running and the command to take it over", () => {
  assert.equal(
    handoffWarning("Launcher.exe", {
      pid: 10,
      exitCode: 0,
      children: [{ pid: 20, name: "Game-Win64-Shipping.exe" }],
      dlls: ["heapshift.dll"],
    }),
    "Launcher.exe (pid 10) ended (exit 0) leaving running a program it started, without heapshift.dll: Game-Win64-Shipping.exe (pid 20). If Launcher.exe is a launcher that hands over to Game-Win64-Shipping.exe, take Game-Win64-Shipping.exe over instead: run `inject Game-Win64-Shipping.exe --wait`, then start Launcher.exe",
  );
  const two = handoffWarning("a.exe", {
    pid: 1,
    exitCode: 3,
    children: [{ pid: 2, name: "b.exe" }, { pid: 4, name: "c.exe" }],
    dlls: ["heapshift.dll", "x.dll"],
  });
  assert.match(
    two!,
    /^a\.exe \(pid 1\) ended \(exit 3\) leaving running programs it started, without heapshift\.dll, x\.dll: b\.exe \(pid 2\), c\.exe \(pid 4\)\. /,
  );
});

Deno.test("handoffWarning says nothing of a program that left nothing running", () => {
  assert.equal(
    handoffWarning("a.exe", {
      pid: 1,
      exitCode: 0,
      children: [],
      dlls: ["heapshift.dll"],
    }),
    undefined,
  );
});

Deno.test("handoffWarning: a game that had Steam start it again is to be started from Steam", () => {
  const w = handoffWarning("Game.exe", {
    pid: 1,
    exitCode: 0,
    children: [{ pid: 2, name: "Steam.exe" }],
    dlls: ["heapshift.dll"],
  });
  assert.equal(
    w,
    "Game.exe (pid 1) ended (exit 0) having had Steam start it (steam.exe, pid 2): a game that Steam must start, started otherwise, has Steam start it again and exits. To take it over, start Game.exe from Steam while `inject Game.exe --wait` waits for it",
  );
});

Deno.test("handoffWarning quotes a program name with a space in the command it gives", () => {
  const w = handoffWarning("My Launcher.exe", {
    pid: 1,
    exitCode: 0,
    children: [{ pid: 2, name: "Hollow Knight.exe" }],
    dlls: ["heapshift.dll"],
  });
  assert.match(
    w!,
    /run `inject "Hollow Knight\.exe" --wait`, then start My Launcher\.exe$/,
  );
  const steam = handoffWarning("Hollow Knight.exe", {
    pid: 1,
    exitCode: 0,
    children: [{ pid: 2, name: "steam.exe" }],
    dlls: ["heapshift.dll"],
  });
  assert.match(
    steam!,
    /while `inject "Hollow Knight\.exe" --wait` waits for it$/,
  );
});

Deno.test("handoffWarning: a DLL the user named (--dll) is named in the command it gives", () => {
  const dll = "C:\\my tools\\heapshift.dll";
  const w = handoffWarning("Launcher.exe", {
    pid: 1,
    exitCode: 0,
    children: [{ pid: 2, name: "Game.exe" }],
    dlls: ["heapshift.dll"],
    dll,
  });
  assert.match(
    w!,
    /run `inject Game\.exe --wait --dll "C:\\my tools\\heapshift\.dll"`, then start Launcher\.exe$/,
  );
  const steam = handoffWarning("Game.exe", {
    pid: 1,
    exitCode: 0,
    children: [{ pid: 2, name: "steam.exe" }],
    dlls: ["heapshift.dll"],
    dll,
  });
  assert.match(
    steam!,
    /while `inject Game\.exe --wait --dll "C:\\my tools\\heapshift\.dll"` waits for it$/,
  );
});

Deno.test("handoffWarning: a program that ended within the watch leaving nothing running is said, with the command for a game a running launcher starts", () => {
  const w = handoffWarning("Game Launcher.exe", {
    pid: 10,
    exitCode: 0,
    children: [],
    dlls: ["heapshift.dll"],
    dll: "C:\\t\\heapshift.dll",
    endedWithinWatch: true,
  });
  assert.equal(
    w,
    'Game Launcher.exe (pid 10) ended (exit 0) right after its start, leaving nothing it started running: heapshift.dll ended with it. If Game Launcher.exe hands over to a launcher that runs already (a game that Steam must start, with Steam running, does), that launcher starts the game without heapshift.dll: run `inject "Game Launcher.exe" --wait --dll C:\\t\\heapshift.dll` (with the game\'s name, if it is another program), then start Game Launcher.exe again (a Steam game from Steam)',
  );
});

// Without --wait-exit a console program's output goes nowhere: a tool
// that just ran is told how to see it.
Deno.test("handoffWarning: a console program that ended within the watch, its output unseen, is told --wait-exit shows it", () => {
  const w = handoffWarning("tool.exe", {
    pid: 10,
    exitCode: 0,
    children: [],
    dlls: ["heapshift.dll"],
    endedWithinWatch: true,
    unseenConsole: true,
  });
  assert.match(
    w!,
    /^tool\.exe \(pid 10\) ended \(exit 0\) right after its start, .*\(a Steam game from Steam\)\. If tool\.exe is a console tool that just ran to its end, its output was not shown: `launch` with --wait-exit shows it, and its exit code$/,
  );
});

Deno.test("handoffWarning: of several programs left running, a crash reporter is not the one to take over", () => {
  const w = handoffWarning("Launcher.exe", {
    pid: 1,
    exitCode: 0,
    children: [
      { pid: 2, name: "UnityCrashHandler64.exe" },
      { pid: 3, name: "Game.exe" },
      { pid: 4, name: "CrashReportClient.exe" },
    ],
    dlls: ["heapshift.dll"],
  });
  assert.match(
    w!,
    /: UnityCrashHandler64\.exe \(pid 2\), Game\.exe \(pid 3\), CrashReportClient\.exe \(pid 4\)\. If Launcher\.exe is a launcher that hands over to Game\.exe, take Game\.exe over instead: run `inject Game\.exe --wait`, then start Launcher\.exe$/,
  );
  // All helpers: gameOf gives the first (the warning names none).
  assert.equal(
    gameOf([{ pid: 2, name: "crashpad_handler.exe" }])?.name,
    "crashpad_handler.exe",
  );
  // A game whose name has "crash" in it is no helper.
  assert.equal(isHelper("Crash Bandicoot.exe"), false);
});

Deno.test("handoffWarning: a launcher's launcher that runs on is passed over for the game it started", () => {
  const w = handoffWarning("Launcher.exe", {
    pid: 1,
    exitCode: 0,
    children: [
      { pid: 2, name: "Store.exe", depth: 1 },
      { pid: 3, name: "Game.exe", depth: 2 },
    ],
    dlls: ["heapshift.dll"],
  });
  assert.match(
    w!,
    /take Game\.exe over instead: run `inject Game\.exe --wait`/,
  );
});

Deno.test("descendants follows children's children to a bounded depth, each created after its parent", () => {
  const created = new Map<number, bigint>([
    [20, 110n], // the launcher's child (cmd.exe, ended: still listed to it)
    [30, 120n], // its child: the game
    [40, 50n], // an older process whose parent had the launcher's pid
    [41, 60n], // its child
    [31, 115n], // created before 30, its parent by pid: another's
  ]);
  // a chain 50 → 51 → … → 56 below the root's child 20
  for (let i = 0; i < 7; i++) created.set(50 + i, 130n + BigInt(i));
  const list = [
    { pid: 20, parentPid: 10, name: "cmd.exe" },
    { pid: 30, parentPid: 20, name: "game.exe" },
    { pid: 40, parentPid: 10, name: "old.exe" },
    { pid: 41, parentPid: 40, name: "oldchild.exe" },
    { pid: 31, parentPid: 30, name: "reused.exe" },
    { pid: 50, parentPid: 20, name: "l1.exe" },
    ...[1, 2, 3, 4, 5, 6].map((i) => ({
      pid: 50 + i,
      parentPid: 49 + i,
      name: `l${i + 1}.exe`,
    })),
  ];
  const found = descendants({ pid: 10, created: 100n }, list, {
    createdOf: (pid) => created.get(pid),
  });
  assert.deepEqual(
    found.map((d) => [d.name, d.depth]),
    [
      ["cmd.exe", 1],
      ["game.exe", 2],
      ["l1.exe", 2],
      ["l2.exe", 3],
      ["l3.exe", 4],
    ],
  );
  // A process that cannot be opened is left out, and what it started.
  assert.deepEqual(
    descendants({ pid: 10, created: 100n }, list.slice(0, 2), {
      createdOf: (pid) => pid === 20 ? undefined : created.get(pid),
    }),
    [],
  );
});

Deno.test("descendants takes adopted programs as the root's grandchildren, with what they started", () => {
  const created = new Map<number, bigint>([[30, 120n], [31, 130n]]);
  const list = [
    { pid: 30, parentPid: 20, name: "start.exe" }, // 20: gone unseen
    { pid: 31, parentPid: 30, name: "game.exe" },
  ];
  const adopted = [{
    pid: 30,
    parentPid: 20,
    name: "start.exe",
    created: 120n,
  }];
  const found = descendants({ pid: 10, created: 100n }, list, {
    createdOf: (pid) => created.get(pid),
    adopted,
  });
  assert.deepEqual(found.map((d) => [d.name, d.depth]), [
    ["start.exe", 2],
    ["game.exe", 3],
  ]);
  // One created before the root is not its own.
  assert.deepEqual(
    descendants({ pid: 10, created: 125n }, list, {
      createdOf: (pid) => created.get(pid),
      adopted,
    }),
    [],
  );
});

Deno.test("handoffWarning: a crash reporter left running alone is no game to take over", () => {
  const children = [{ pid: 2, name: "UnityCrashHandler64.exe" }];
  assert.equal(
    handoffWarning("Game.exe", {
      pid: 1,
      exitCode: 0,
      children,
      dlls: ["heapshift.dll"],
    }),
    undefined,
  );
  const w = handoffWarning("Game.exe", {
    pid: 1,
    exitCode: 0,
    children,
    dlls: ["heapshift.dll"],
    endedWithinWatch: true,
  });
  assert.match(
    w!,
    /^Game\.exe \(pid 1\) ended \(exit 0\) right after its start, leaving nothing it started running but UnityCrashHandler64\.exe \(pid 2\), which is a helper \(a crash reporter, …\): heapshift\.dll ended with it\. .*run `inject Game\.exe --wait` /,
  );
});
