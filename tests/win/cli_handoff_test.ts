// A game's launcher starts the real game and exits: `launch launcher.exe`
// (or `inject launcher.exe`) loads heapshift into the launcher only. The
// CLI says so, names what it left running, and the command that takes the
// game over instead. cli_handoff.exe is such a launcher; sleeper.exe, the
// game. And `inject NAME --wait` of a game that has Steam start it again
// takes over the instance that keeps running.
import { assert, assertEquals } from "./assert.ts";
import { fixture, hookDll, test } from "./harness.ts";
import { waitingInject } from "./waiting_inject.ts";
import { type FirstInstance, startOutsideSteam } from "./steam_restart.ts";
import { runCli as cli } from "../../cli/_test_utils.ts";
import { findProcesses, quoteArg } from "../../mod.ts";
import { processes, processPath } from "../../cli/api.ts";
import { DescentWatch } from "../../cli/handoff.ts";

/** A folder with a launcher and its uniquely named game beside it. */
async function handoffDir(): Promise<
  { launcher: string; game: string } & AsyncDisposable
> {
  const dir = await Deno.makeTempDir({ prefix: "heapshift handoff " });
  const name = `launcher_${crypto.randomUUID().slice(0, 8)}`;
  const game = `${name}_game.exe`;
  await Deno.copyFile(fixture("sleeper.exe"), `${dir}\\${game}`);
  await Deno.copyFile(fixture("cli_handoff.exe"), `${dir}\\${name}.exe`);
  return {
    launcher: `${dir}\\${name}.exe`,
    game,
    async [Symbol.asyncDispose]() {
      for (const exe of [game, `${name}.exe`]) {
        for (const p of findProcesses(exe)) Deno.kill(p.pid, "SIGKILL");
      }
      for (let i = 0; i < 20; i++) {
        try {
          return await Deno.remove(dir, { recursive: true });
        } catch {
          await new Promise((r) => setTimeout(r, 250));
        }
      }
    },
  };
}

/**
 * A second launcher beside `launcher` (`<launcher>_mid.exe`, a copy of
 * cli_handoff.exe), and their folder.
 */
async function midLauncher(
  launcher: string,
): Promise<{ dir: string; mid: string }> {
  const mid = `${launcher.slice(0, -4)}_mid.exe`;
  await Deno.copyFile(fixture("cli_handoff.exe"), mid);
  return { dir: launcher.slice(0, launcher.lastIndexOf("\\")), mid };
}

/**
 * A crash reporter beside `launcher` (`UnityCrashHandler64.exe`, a copy of
 * sleeper.exe), and their folder; disposing of it ends the reporters
 * started since.
 */
async function crashReporterBeside(
  launcher: string,
): Promise<{ dir: string; reporter: string } & Disposable> {
  const dir = launcher.slice(0, launcher.lastIndexOf("\\"));
  const reporter = `${dir}\\UnityCrashHandler64.exe`;
  await Deno.copyFile(fixture("sleeper.exe"), reporter);
  const before = new Set(
    findProcesses("UnityCrashHandler64.exe").map((p) => p.pid),
  );
  return {
    dir,
    reporter,
    [Symbol.dispose]() {
      for (const p of findProcesses("UnityCrashHandler64.exe")) {
        if (!before.has(p.pid)) Deno.kill(p.pid, "SIGKILL");
      }
    },
  };
}

/**
 * `oneLine` names the command that waits for `game`: `inject GAME --wait`,
 * with the --dll the tests give (the user's, not the default build).
 */
function assertWaitCommand(oneLine: string, game: string): void {
  const m = oneLine.match(/`inject (.+?) --wait --dll (.+?)`/);
  assert(m !== null && m[1] === quoteArg(game), oneLine);
  const dll = m[2].replace(/^"(.*)"$/, "$1");
  assertEquals(Deno.realPathSync(dll), Deno.realPathSync(hookDll()), oneLine);
}

/** `stderr` names the game left running, and the command to use. */
function assertHandoff(stderr: string, game: string): void {
  const started = findProcesses(game);
  assertEquals(started.length, 1, `${game} runs: ${stderr}`);
  const oneLine = stderr.replace(/\s*\n\s*/g, " ");
  const launcher = game.replace(/_game\.exe$/, ".exe");
  for (
    const part of [
      `${launcher} (pid `,
      "ended (exit 0) leaving running a program it started, without heapshift.dll:",
      `${game} (pid ${started[0].pid})`,
    ]
  ) assert(oneLine.includes(part), `${part} in: ${stderr}`);
  assertWaitCommand(oneLine, game);
}

/** `launch launcher --wait-exit` with heapshift.dll, the launcher given
 * `program` to start. */
function launchWaiting(launcher: string, program: string) {
  return cli([
    "launch",
    launcher,
    "--dll",
    hookDll(),
    "--wait-exit",
    "--",
    program,
  ]);
}
/** A copy of console program `exe` at `to` marked a GUI program. */
async function guiCopy(exe: string, to: string): Promise<void> {
  const bytes = await Deno.readFile(exe);
  const v = new DataView(bytes.buffer);
  const optional = v.getUint32(0x3c, true) + 24;
  v.setUint16(optional + 68, 2, true); // IMAGE_SUBSYSTEM_WINDOWS_GUI
  await Deno.writeFile(to, bytes);
}

test("cli: launch of a launcher that starts the game and exits names the game and how to take it over", async () => {
  await using d = await handoffDir();
  const r = await cli(["launch", d.launcher, "--dll", hookDll()]);
  assertEquals(r.code, 0, r.stderr);
  assert(/exit +0/.test(r.stdout), `the launcher's end is told: ${r.stdout}`);
  assertHandoff(r.stderr, d.game);
});

test("cli: launch --wait-exit of a launcher names the game it left running; of a program that started nothing, nothing", async () => {
  await using d = await handoffDir();
  const r = await cli([
    "launch",
    d.launcher,
    "--dll",
    hookDll(),
    "--wait-exit",
  ]);
  assertEquals(r.code, 0, r.stderr);
  assertHandoff(r.stderr, d.game);
  await using e = await handoffDir();
  const none = await launchWaiting(e.launcher, "none");
  assertEquals(none.code, 0, none.stderr);
  assert(!/warning/.test(none.stderr), `nothing left running: ${none.stderr}`);
});

test("cli: inject of a launcher executable that is not running names the game it left running", async () => {
  await using d = await handoffDir();
  const r = await cli(["inject", d.launcher, "--dll", hookDll()]);
  assertEquals(r.code, 0, r.stderr);
  assert(/exit +0 \(ended\)/.test(r.stdout), `told: ${r.stdout}`);
  assertHandoff(r.stderr, d.game);
});

test("cli: launch --json and inject --json of a launcher list the programs it left running (startedPrograms)", async () => {
  for (const command of ["launch", "inject"]) {
    await using d = await handoffDir();
    const r = await cli([command, d.launcher, "--dll", hookDll(), "--json"]);
    assertEquals(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    const started = findProcesses(d.game);
    assertEquals(started.length, 1, `${d.game} runs: ${r.stderr}`);
    assertEquals(out.exitCode, 0, r.stdout);
    assertEquals(
      out.startedPrograms,
      [{ pid: started[0].pid, name: d.game }],
      `${command}: ${r.stdout}`,
    );
    assertHandoff(r.stderr, d.game); // and the warning, on stderr
  }
});

// Windows starts conhost.exe as the child of a console program that has
// a console of its own, and WerFault.exe as the child of one that
// crashes: they are Windows' own, and end with it (or a moment later),
// no game. A program of System32 is not named.
test("cli: a program of Windows' own that a launched program left running is not taken for a game", async () => {
  await using d = await handoffDir();
  const root = Deno.env.get("SystemRoot") ?? "C:\\Windows";
  const own = `${root}\\System32\\${d.game}`;
  try {
    await Deno.copyFile(fixture("sleeper.exe"), own);
  } catch (e) {
    if (!(e instanceof Deno.errors.PermissionDenied)) throw e;
    console.log(`skipped: ${own} cannot be written without elevation`);
    return;
  }
  try {
    const r = await launchWaiting(d.launcher, own);
    assertEquals(r.code, 0, r.stderr);
    assertEquals(findProcesses(d.game).length, 1, "it runs");
    assert(!/warning/.test(r.stderr), `not named: ${r.stderr}`);
  } finally {
    for (const p of findProcesses(d.game)) Deno.kill(p.pid, "SIGKILL");
    for (let i = 0; i < 20; i++) {
      try {
        await Deno.remove(own);
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  }
});

// A game that Steam must start, started otherwise, has Steam start it
// again (steam.exe, its child when Steam was not running) and exits: the
// game to wait for is the same program, started from Steam. (Named with a
// space, as games often are: the command quotes it.)
test("cli: a program that had Steam start it again is told to be started from Steam, not steam.exe taken over", async () => {
  await using d = await handoffDir();
  const dir = d.launcher.slice(0, d.launcher.lastIndexOf("\\"));
  const game = d.game.replace(/_game\.exe$/, " start.exe");
  await Deno.copyFile(fixture("cli_handoff.exe"), `${dir}\\${game}`);
  await Deno.copyFile(fixture("sleeper.exe"), `${dir}\\steam.exe`);
  const before = new Set(findProcesses("steam.exe").map((p) => p.pid));
  try {
    const r = await launchWaiting(`${dir}\\${game}`, `${dir}\\steam.exe`);
    assertEquals(r.code, 0, r.stderr);
    const oneLine = r.stderr.replace(/\s*\n\s*/g, " ");
    assert(
      oneLine.includes(`had Steam start it (steam.exe, pid `) &&
        oneLine.includes(
          `start ${game} from Steam while \`inject "${game}" --wait`,
        ) &&
        oneLine.includes("` waits for it") &&
        !oneLine.includes("inject steam.exe"),
      r.stderr,
    );
    assertWaitCommand(oneLine, game);
  } finally {
    for (const p of findProcesses("steam.exe")) {
      if (!before.has(p.pid)) Deno.kill(p.pid, "SIGKILL");
    }
  }
});

// Without --wait-exit the command is done before a player sees the game
// go: a program that crashed within the watch is said to have crashed.
test({
  name:
    "cli: launch (without --wait-exit) of a program that crashes right after its start says it crashed",
  crashes: "sleeper crash ends in an access violation, on purpose",
  fn: async () => {
    const r = await cli([
      "launch",
      fixture("sleeper.exe"),
      "--dll",
      hookDll(),
      "--",
      "crash",
    ]);
    assertEquals(r.code, 0, r.stderr);
    assert(/exit +3221225477/.test(r.stdout), r.stdout);
    const oneLine = r.stderr.replace(/\s*\n\s*/g, " ");
    assert(
      /warning: sleeper\.exe \(pid \d+\) crashed \(0xC0000005, access violation\) right after its start/
        .test(oneLine),
      r.stderr,
    );
  },
});

// Game executables' names often hold spaces ("Hollow Knight.exe"): the
// command said must work as pasted into a prompt (cmd or PowerShell),
// where an unquoted space splits the name into two arguments.
test("cli: the command a launcher's handoff names quotes a program name with a space", async () => {
  await using d = await handoffDir();
  const dir = d.launcher.slice(0, d.launcher.lastIndexOf("\\"));
  const game = d.game.replace(/_game\.exe$/, " game.exe");
  await Deno.copyFile(fixture("sleeper.exe"), `${dir}\\${game}`);
  try {
    const r = await launchWaiting(d.launcher, `${dir}\\${game}`);
    assertEquals(r.code, 0, r.stderr);
    const oneLine = r.stderr.replace(/\s*\n\s*/g, " ");
    assert(oneLine.includes(`\`inject "${game}" --wait`), r.stderr);
    assertWaitCommand(oneLine, game);
  } finally {
    for (const p of findProcesses(game)) Deno.kill(p.pid, "SIGKILL");
  }
});

/** The end of a game that had Steam start it again (`cli_handoff restart`). */
interface Restarted {
  /** The first instance, which exited. */
  first: FirstInstance;
  /** The instance Steam started: the one running. */
  running: number;
}

/**
 * Starts `game` (cli_handoff.exe) as a user does, not from Steam: it has
 * steam.exe (cli_handoff.exe beside it) start it again and exits, once
 * taken over with `options.afterTakeover`, else at once.
 */
async function restartOutsideSteam(
  game: string,
  options: { afterTakeover?: boolean } = {},
): Promise<Restarted> {
  const first = await startOutsideSteam(game, options);
  const name = game.slice(game.lastIndexOf("\\") + 1);
  // steam.exe's start of the game may follow the first's end
  for (let i = 0; i < 200 && findProcesses(name).length === 0; i++) {
    await new Promise((r) => setTimeout(r, 50));
  }
  const running = findProcesses(name);
  assertEquals(
    running.length,
    1,
    `the game Steam started runs: ${first.stderr}`,
  );
  return { first, running: running[0].pid };
}

// SteamAPI_RestartAppIfNecessary: a game that Steam must start, started
// otherwise, has Steam start it again and exits within a second or so.
// `inject game.exe --wait` found the first instance, which ends: it must
// go on to the instance Steam started, the game that runs.
test("cli: inject NAME --wait of a game that has Steam start it again, exiting once taken over, takes over the instance Steam started", async () => {
  await using d = await handoffDir();
  const name = d.game.replace(/_game\.exe$/, ".exe");
  const run = await waitingInject(name, ["--dll", hookDll(), "--json"]);
  const { first, running } = await restartOutsideSteam(d.launcher, {
    afterTakeover: true,
  });
  assertEquals(first.code, 0, `taken over, then restarted: ${first.stderr}`);
  const { code, stdout, said } = await run.end();
  assertEquals(code, 0, said.join("\n"));
  const r = JSON.parse(stdout);
  assertEquals([r.pid, r.state, r.exitCode], [running, "live", undefined]);
  assertEquals(r.endedInstances, [
    { pid: first.pid, exitCode: 0, takenOver: true },
  ], stdout);
  const oneLine = said.join(" ");
  for (
    const part of [
      `${name} (pid ${first.pid}) ended (exit 0) right after its takeover`,
      `waiting up to 60 s for another ${name} to start`,
    ]
  ) assert(oneLine.includes(part), `${part} in: ${said.join("\n")}`);
});

test("cli: inject NAME --wait of a game that has Steam start it again at once takes over the instance Steam started", async () => {
  await using d = await handoffDir();
  const name = d.game.replace(/_game\.exe$/, ".exe");
  const run = await waitingInject(name, ["--dll", hookDll(), "--json"]);
  const { first, running } = await restartOutsideSteam(d.launcher);
  assertEquals(first.code, 0, first.stderr);
  const { code, stdout, said } = await run.end();
  assertEquals(code, 0, said.join("\n"));
  const r = JSON.parse(stdout);
  // The first may have been gone before it was seen, or before its
  // takeover: whichever, the game that runs is the one taken over.
  assertEquals([r.pid, r.state, r.exitCode], [running, "live", undefined]);
  for (const e of r.endedInstances ?? []) {
    assertEquals([e.pid, e.exitCode], [first.pid, 0], stdout);
  }
});

// A launcher often is 32-bit and its game 64-bit, or the other way round:
// the --dll given for the launcher cannot load into the game, and the
// command said must not name it (inject would refuse it for its bitness).
test("cli: the command a launcher's handoff names leaves out a --dll of another bitness than the game's", async () => {
  await using d = await handoffDir();
  const dir = d.launcher.slice(0, d.launcher.lastIndexOf("\\"));
  await Deno.copyFile(fixture("sleeper.exe", "x86"), `${dir}\\${d.game}`);
  const r = await launchWaiting(d.launcher, `${dir}\\${d.game}`);
  assertEquals(r.code, 0, r.stderr);
  const oneLine = r.stderr.replace(/\s*\n\s*/g, " ");
  assert(oneLine.includes(`run \`inject ${d.game} --wait\`, then`), r.stderr);
});

// cmd /c start game.exe: cmd starts the game (under Wine through
// start.exe) and ends; the launcher's child is gone, the game its
// grandchild's. A launcher that starts a launcher that starts the game
// is the same.
test("cli: launch of a launcher that hands over through cmd /c start names the game", async () => {
  await using d = await handoffDir();
  const dir = d.launcher.slice(0, d.launcher.lastIndexOf("\\"));
  const root = Deno.env.get("SystemRoot") ?? "C:\\Windows";
  const r = await cli([
    "launch",
    d.launcher,
    "--dll",
    hookDll(),
    "--",
    `${root}\\System32\\cmd.exe`,
    `/c start "" "${dir}\\${d.game}"`,
  ]);
  assertEquals(r.code, 0, r.stderr);
  for (let i = 0; i < 40 && findProcesses(d.game).length === 0; i++) {
    await new Promise((r) => setTimeout(r, 50));
  }
  assertHandoff(r.stderr, d.game);
});

// (Each at work a moment before it hands over, as launchers are: one
// that ends before launch has confirmed its DLLs is not seen.)
test("cli: launch of a launcher that starts a second launcher that starts the game names the game", async () => {
  await using d = await handoffDir();
  const { dir, mid } = await midLauncher(d.launcher);
  try {
    const r = await cli([
      "launch",
      d.launcher,
      "--dll",
      hookDll(),
      "--",
      "after",
      "300",
      mid,
      `after 300 "${dir}\\${d.game}"`,
    ]);
    assertEquals(r.code, 0, r.stderr);
    assertHandoff(r.stderr, d.game);
  } finally {
    const midName = mid.slice(mid.lastIndexOf("\\") + 1);
    for (const p of findProcesses(midName)) Deno.kill(p.pid, "SIGKILL");
  }
});

// A launcher (or the game) starts a crash reporter beside the game: the
// game is the one to take over, whichever Toolhelp lists first.
test("cli: of the programs a launcher left running, the command names the game, not its crash reporter", async () => {
  await using d = await handoffDir();
  using reporters = await crashReporterBeside(d.launcher);
  const { dir, reporter } = reporters;
  const r = await cli([
    "launch",
    d.launcher,
    "--dll",
    hookDll(),
    "--",
    "both",
    reporter,
    `${dir}\\${d.game}`,
  ]);
  assertEquals(r.code, 0, r.stderr);
  const oneLine = r.stderr.replace(/\s*\n\s*/g, " ");
  assert(
    /UnityCrashHandler64\.exe \(pid \d+\)/.test(oneLine) &&
      oneLine.includes(`hands over to ${d.game}, take ${d.game} over`),
    r.stderr,
  );
  assertWaitCommand(oneLine, d.game);
});

// With Steam running already, a game that Steam must start, started
// otherwise, asks it to start the game and exits: Steam's child, not its
// own. So does a launcher that hands over to a launcher that runs
// already. Nothing of its own is left to name: that it ended at once,
// leaving nothing running, is said, with what to do; a console program
// run to its end (--wait-exit) is not warned of.
test("cli: launch and inject of a program that ends within the watch leaving nothing running say so, and what to do", async () => {
  await using d = await handoffDir();
  const name = d.launcher.slice(d.launcher.lastIndexOf("\\") + 1);
  const r = await cli(["launch", d.launcher, "--dll", hookDll(), "--", "none"]);
  assertEquals(r.code, 0, r.stderr);
  const oneLine = r.stderr.replace(/\s*\n\s*/g, " ");
  assert(
    oneLine.includes(
      `${name} (pid ${
        /pid (\d+)/.exec(r.stdout)?.[1]
      }) ended (exit 0) right after its start, leaving nothing it started running: heapshift.dll ended with it.`,
    ) &&
      // (the fixture is a console program, launched without our streams)
      oneLine.includes(
        `If ${name} is a console tool that just ran to its end, its output was not shown: \`launch\` with --wait-exit shows it, and its exit code`,
      ),
    r.stderr,
  );
  assertWaitCommand(oneLine, name);
  // inject of the executable, whose game is missing: it ends (exit 3)
  await Deno.remove(`${d.launcher.slice(0, -4)}_game.exe`);
  const i = await cli(["inject", d.launcher, "--dll", hookDll()]);
  assertEquals(i.code, 0, i.stderr);
  assert(
    /ended \(exit 3\) right after its start, leaving nothing it started running/
      .test(i.stderr.replace(/\s*\n\s*/g, " ")),
    i.stderr,
  );
  // a GUI program run with --wait-exit that ends at once: said too
  const dir = d.launcher.slice(0, d.launcher.lastIndexOf("\\"));
  const gui = `${dir}\\${name.slice(0, -4)}_gui.exe`;
  await guiCopy(d.launcher, gui);
  const g = await launchWaiting(gui, "none");
  assertEquals(g.code, 0, g.stderr);
  assert(/leaving nothing it started running/.test(g.stderr), g.stderr);
});

// A launcher at work for seconds (a Play button) hands over through a
// program that lives a moment (cmd /c start, which system() waits for):
// past the first 2 s the descent is looked at each half second only, and
// the one in between, never seen, linked the game to nothing.
test("cli: launch --wait-exit of a launcher that hands over late through a short-lived program names the game", async () => {
  await using d = await handoffDir();
  const { dir, mid } = await midLauncher(d.launcher);
  const w = await cli([
    "launch",
    d.launcher,
    "--dll",
    hookDll(),
    "--wait-exit",
    "--",
    "after",
    "2500",
    "wait",
    mid,
    `"${dir}\\${d.game}"`,
  ]);
  assertEquals(w.code, 0, w.stderr);
  assertHandoff(w.stderr, d.game);
});

// The same, the look that would have seen the one in between made to
// miss it (each look hides it), as on Windows, where it lives
// milliseconds: the game is still found, its parent gone unseen.
test("cli: a launcher's descent includes a program whose parent lived unseen between two looks", async () => {
  await using d = await handoffDir();
  const { dir, mid } = await midLauncher(d.launcher);
  const midName = mid.slice(mid.lastIndexOf("\\") + 1);
  const args = ["after", "300", "wait", mid, `"${dir}\\${d.game}"`];
  const launcher = new Deno.Command(d.launcher, {
    args,
    stdout: "null",
    stderr: "null",
  }).spawn();
  using watch = new DescentWatch(launcher.pid, {
    list: () => processes().filter((p) => p.name !== midName),
  });
  const ended = launcher.status;
  let done = false;
  ended.then(() => done = true);
  while (!done) {
    watch.sample();
    await new Promise((r) => setTimeout(r, 25));
  }
  assertEquals((await ended).code, 0);
  await watch.settle({ pathOf: processPath });
  const running = watch.running({ pathOf: processPath });
  const game = findProcesses(d.game);
  assertEquals(game.length, 1, `${d.game} runs`);
  assertEquals(
    running.map((p) => [p.name, p.pid, p.depth]),
    [[d.game, game[0].pid, 2]],
  );
});

// A launcher at work starts many programs before the game (a browser-based
// one's helper processes): of its descent 64 are held, and one found past
// those was taken for ended, however long it ran.
test("cli: launch --wait-exit of a launcher that started 70 programs before the game names the game", async () => {
  await using d = await handoffDir();
  const dir = d.launcher.slice(0, d.launcher.lastIndexOf("\\"));
  const r = await cli([
    "launch",
    d.launcher,
    "--dll",
    hookDll(),
    "--wait-exit",
    "--",
    "many",
    "70",
    `${dir}\\${d.game}`,
  ]);
  assertEquals(r.code, 0, r.stderr);
  assertHandoff(r.stderr, d.game);
});

// A game starts its crash reporter at its start (Unity's does), which may
// outlive it a moment: played and quit, it left nothing to take over.
test("cli: launch --wait-exit of a program that leaves only its crash reporter running does not name the reporter as the game", async () => {
  await using d = await handoffDir();
  using reporters = await crashReporterBeside(d.launcher);
  const { reporter } = reporters;
  const r = await launchWaiting(d.launcher, reporter);
  assertEquals(r.code, 0, r.stderr);
  assert(!/warning/.test(r.stderr), r.stderr);
});
