import assert from "node:assert/strict";
import { handoffWarning } from "./handoff.ts";

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
