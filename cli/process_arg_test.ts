import assert from "node:assert/strict";
import { CliError, UsageError } from "./output.ts";
import { parseProcessArg, pickProcess } from "./process_arg.ts";

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
