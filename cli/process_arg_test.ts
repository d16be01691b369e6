import assert from "node:assert/strict";
import { CliError, UsageError } from "./output.ts";
import {
  notRunning,
  parseProcessArg,
  pickProcess,
  runningName,
} from "./process_arg.ts";

const RUNNING = [
  { pid: 10, name: "game.exe" },
  { pid: 11, name: "Game.exe" },
  { pid: 20, name: "tool.exe" },
];
// As findProcesses: case-insensitive, `.exe` optional.
const find = (name: string) =>
  RUNNING.filter((p) =>
    [name.toLowerCase(), `${name.toLowerCase()}.exe`].includes(
      p.name.toLowerCase(),
    )
  );

Deno.test("pickProcess: a pid, a name, a path; several need --pid", () => {
  assert.deepEqual(pickProcess("42", { find }), { pid: 42 });
  assert.deepEqual(pickProcess("tool.exe", { find }), RUNNING[2]);
  assert.deepEqual(pickProcess("C:\\bin\\tool.exe", { find }), RUNNING[2]);
  assert.equal(pickProcess("nothing.exe", { find }), undefined);
  assert.throws(
    () => pickProcess("game.exe", { find }),
    (e) =>
      e instanceof CliError && e.exitCode === 1 &&
      /2 processes are named game\.exe: 10, 11; pick one with --pid/.test(
        e.message,
      ),
  );
  // a command that says more (inject --wait)
  assert.throws(
    () => pickProcess("game.exe", { find, several: "why" }),
    (e) =>
      e instanceof CliError &&
      e.message ===
        "2 processes are named game.exe: 10, 11; pick one with --pid (why)",
  );
  assert.deepEqual(pickProcess("game", { find, pid: 11 }), RUNNING[1]);
  assert.throws(
    () => pickProcess("tool.exe", { find, pid: 10 }),
    /Process 10 is not named tool\.exe/,
  );
  assert.deepEqual(pickProcess("10", { find, pid: 10 }), { pid: 10 });
  assert.throws(() => pickProcess("10", { find, pid: 11 }), UsageError);
});

Deno.test("parseProcessArg: names pass, bad pids and empty names are usage errors", () => {
  assert.equal(parseProcessArg("game.exe"), "game.exe");
  assert.equal(parseProcessArg("1234"), "1234");
  for (const bad of ["0", "-5", "+7", "99999999999", "", " ", "C:\\games\\"]) {
    assert.throws(
      () => parseProcessArg(bad),
      (e) => (e as Error).name === "InvalidArgumentError",
      JSON.stringify(bad),
    );
  }
});

Deno.test("pickProcess: a path matches only processes running that file; the CLI's own process never matches", () => {
  const paths: Record<number, string> = {
    10: "/games/a/game.exe",
    11: "/games/b/Game.exe",
    20: "/bin/tool.exe",
  };
  const pathOf = (pid: number) => {
    if (!(pid in paths)) throw new Error("access denied");
    return paths[pid];
  };
  // the other game.exe is left alone; a copy elsewhere is not running
  assert.deepEqual(
    pickProcess("/games/b/game.exe", { find, pathOf }),
    RUNNING[1],
  );
  assert.equal(
    pickProcess("/elsewhere/tool.exe", { find, pathOf }),
    undefined,
  );
  // a path that cannot be read might be the one: say so
  delete paths[20];
  assert.throws(
    () => pickProcess("/bin/tool.exe", { find, pathOf }),
    (e) =>
      e instanceof CliError &&
      /Cannot tell whether \/bin\/tool\.exe is the program running as 20/
        .test(e.message),
  );
  // a name: every process with it but this one
  assert.deepEqual(pickProcess("tool.exe", { find, self: 20 }), undefined);
  assert.deepEqual(pickProcess("game.exe", { find, self: 10 }), RUNNING[1]);
});

Deno.test("pickProcess: --pid with a path whose process cannot be read takes the pid; no match names the others", () => {
  const pathOf = (pid: number): string => {
    if (pid === 11) throw new Error("access denied");
    return "/games/a/game.exe";
  };
  assert.deepEqual(
    pickProcess("/games/b/game.exe", { find, pathOf, pid: 11 }),
    RUNNING[1],
  );
  assert.equal(
    notRunning("/elsewhere/game.exe", find),
    "No process runs /elsewhere/game.exe; game.exe runs from another path as 10, 11 (give its pid to act on it)",
  );
  assert.equal(
    notRunning("game2.exe", find),
    "No process named game2.exe is running",
  );
});

Deno.test("runningName: a pid no process has is said so, with where to look", () => {
  assert.equal(runningName(20, RUNNING), "tool.exe");
  assert.throws(
    () => runningName(99999, RUNNING),
    (e) =>
      e instanceof CliError && e.exitCode === 1 &&
      e.message ===
        "No process 99999 is running (`heapshift ps` lists those that are)",
  );
});

Deno.test("a pid written in hex or with an exponent, matching no name, is said to be one", () => {
  const none = () => [];
  assert.equal(
    notRunning("0x10", none),
    "No process named 0x10 is running (to give a pid, write it in decimal digits: 16)",
  );
  assert.equal(
    notRunning("1e3", none),
    "No process named 1e3 is running (to give a pid, write it in decimal digits: 1000)",
  );
  assert.equal(notRunning("12abc", none), "No process named 12abc is running");
  assert.equal(notRunning("0x", none), "No process named 0x is running");
});
