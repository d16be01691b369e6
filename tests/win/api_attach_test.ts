// attach(): a script's hold on a program it did not start, so that what
// heapshift counted in it is still there once it has exited (Windows
// removes the stats block with the program's last handle to it).
import {
  attach,
  AttachedProcess,
  HeapshiftError,
  inject,
  launch,
  patchImports,
  stats,
} from "../../mod.ts";
import { openProcess, PROCESS } from "../../ffi/mod.ts";
import { assert, assertEquals, assertThrows } from "./assert.ts";
import {
  fixture,
  hookDll,
  startTarget,
  test,
  testArches,
  uniqueCopy,
} from "./harness.ts";
import { runCli, runProgram } from "../../cli/_test_utils.ts";

const NO_PID = 0x7fff_fff0;

testArches(
  "a program patched to import heapshift, launched and waited for at once: stats() reads its final counts",
  async (arch) => {
    // heapshift loads with the program, after launch returned and wait()
    // began: no block to hold yet at either.
    await using copy = await uniqueCopy("cli_sample.exe", arch);
    await patchImports(copy.path, { inPlace: true, backup: false });
    const beside = copy.path.replace(/[^\\]+$/, "heapshift.dll");
    await Deno.copyFile(hookDll(arch), beside);
    using proc = await launch(copy.path, {
      args: ["--threads", "1", "--slots", "2000", "--seconds", "1"],
      stdio: "none",
    });
    assertEquals(await proc.wait({ timeout: 30_000 }), 0);
    const s = proc.stats();
    assertEquals(s.state, "live");
    assert(s.counters.allocs > 0, `allocs ${s.counters.allocs}`);
  },
);

testArches(
  "attach, inject heapshift, the program exits: stats() reads its final counts",
  async (arch) => {
    await using target = await startTarget(fixture("cli_sample.exe", arch), {
      args: ["--threads", "1", "--slots", "2000", "--interval", "100"],
    });
    using game = attach(target.readyPid);
    assert(game instanceof AttachedProcess);
    assertEquals(game.exitCode(), undefined);
    await inject(game.pid, hookDll(arch));
    // Let the program allocate through heapshift, then end it cleanly.
    for (let i = 0; i < 100 && stats(game.pid).counters.allocs < 1000; i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const writer = target.child.stdin.getWriter();
    await writer.write(new TextEncoder().encode("stop\n"));
    writer.releaseLock();
    // Gone before wait() (which holds a block it finds): what is held is
    // what inject held.
    assertEquals((await target.child.status).code, 0);
    assertEquals(await game.wait({ timeout: 30_000 }), 0);
    // stats(pid) has nothing for an ended process: the held block has.
    const gone = assertThrows(() => stats(game.pid), HeapshiftError);
    assertEquals(gone.kind, "not-found");
    const s = game.stats();
    assertEquals(s.pid, game.pid);
    assertEquals(s.state, "live", `error ${s.error}`);
    assert(s.counters.allocs >= 1000, `allocs ${s.counters.allocs}`);
    assert(s.counters.frees > 0, `frees ${s.counters.frees}`);
    assertEquals(game.exitCode(), 0);
  },
);

test("an injected LaunchedProcess keeps its counts too; using closes it", async () => {
  let kept: AttachedProcess;
  {
    using proc = await launch(fixture("sleeper.exe"), { stdio: "none" });
    kept = proc;
    await inject(proc.pid, hookDll());
    proc.kill(3);
    assertEquals(await proc.wait({ timeout: 10_000 }), 3);
    assertEquals(proc.stats().state, "live");
  }
  const e = assertThrows(() => kept.exitCode(), HeapshiftError, "was closed");
  assertEquals(e.kind, "bad-argument");
});

test("attach: kill ends the program; a program without heapshift has no counts; no such process", async () => {
  await using target = await startTarget(fixture("sleeper.exe"));
  const pid = target.readyPid;
  let kept: AttachedProcess;
  {
    using proc = attach(pid);
    kept = proc;
    assertEquals(
      assertThrows(() => proc.stats(), HeapshiftError).kind,
      "no-heapshift",
    );
    proc.kill(7);
    assertEquals(await proc.wait({ timeout: 10_000 }), 7);
    const e = assertThrows(() => proc.stats(), HeapshiftError);
    // (how an AttachedProcess holds counts: launch is not its way)
    assertEquals(
      e.message,
      `Cannot read heapshift's stats of process ${pid}: it has ended, and no heapshift stats block of it was held (this AttachedProcess holds one from an inject of heapshift made by this script while it is open, or from attach, wait() or stats() once heapshift is in the program)`,
    );
    assertEquals(e.kind, "not-found");
  }
  const closed = assertThrows(
    () => kept.stats(),
    HeapshiftError,
    `Cannot read heapshift's stats of process ${pid}: this AttachedProcess was closed`,
  );
  assertEquals(closed.kind, "bad-argument");
  const none = assertThrows(() => attach(NO_PID), HeapshiftError);
  assertEquals(none.kind, "not-found");
});

test("attach to a program heapshift is in already holds its counts from then on", async () => {
  await using target = await startTarget(fixture("sleeper.exe"));
  await inject(target.readyPid, hookDll());
  using proc = attach(target.readyPid);
  proc.kill();
  assertEquals(await proc.wait({ timeout: 10_000 }), 1);
  const s = proc.stats();
  assertEquals(s.pid, proc.pid);
  assertEquals(s.state, "live", `error ${s.error}`);
});

test("heapshift injected by another process (the CLI) after attach: wait() holds the counts", async () => {
  await using target = await startTarget(fixture("sleeper.exe"));
  using proc = attach(target.readyPid);
  const r = await runCli(["inject", String(proc.pid), "--dll", hookDll()]);
  assertEquals(r.code, 0, r.stderr);
  const waiting = proc.wait({ timeout: 10_000 });
  await new Promise((r) => setTimeout(r, 200));
  assertEquals(proc.exitCode(), undefined);
  target.child.kill();
  await waiting;
  assertEquals(proc.stats().state, "live");
});

test("kill through a handle granted without the right to end it says access denied, and the program runs on", async () => {
  await using target = await startTarget(fixture("sleeper.exe"));
  const pid = target.readyPid;
  // As security software's handle callback leaves an open that asked for
  // PROCESS_TERMINATE: granted, without that right.
  const stripped = openProcess(
    pid,
    PROCESS.QUERY_LIMITED_INFORMATION | PROCESS.SYNCHRONIZE,
  );
  using proc = new AttachedProcess(pid, stripped);
  const e = assertThrows(
    () => proc.kill(),
    HeapshiftError,
    `Cannot kill process ${pid}: access denied`,
  );
  assertEquals(e.kind, "access-denied");
  assertEquals(proc.exitCode(), undefined);
});

test("a LaunchedProcess that has ended with no counts held says how a launched program's are held, not attach's way", async () => {
  using proc = await launch(fixture("sleeper.exe"), { stdio: "none" });
  proc.kill(4);
  assertEquals(await proc.wait({ timeout: 10_000 }), 4);
  const e = assertThrows(() => proc.stats(), HeapshiftError);
  assertEquals(
    e.message,
    `Cannot read heapshift's stats of process ${proc.pid}: it has ended, and no heapshift stats block of it was held (this LaunchedProcess holds one from launch with heapshift.dll in its dlls, from an inject of heapshift made by this script while it is open, or from wait() or stats() once heapshift is in the program)`,
  );
  assertEquals(e.kind, "not-found");
});

test("an AttachedProcess a script never closes releases its process and stats block once collected; one kept or waited for does not", async () => {
  // A script of its own: garbage collection on demand needs a V8 flag.
  const child = new URL("./unclosed_child.ts", import.meta.url).href;
  const r = await runProgram(Deno.execPath(), [
    "run",
    "-A",
    "--no-check",
    "--v8-flags=--expose-gc",
    child,
    fixture("sleeper.exe"),
    hookDll(),
  ]);
  assertEquals(r.code, 0, r.stderr);
  assertEquals(JSON.parse(r.stdout), {
    dropped: { process: false, block: false },
    kept: { process: true, block: true },
    keptStats: "live",
    waited: 9,
  });
});

test("kill refused on a process attach could not open with the right to end it: the advice fits why", async () => {
  await using target = await startTarget(fixture("sleeper.exe"));
  const pid = target.readyPid;
  const limited = () =>
    openProcess(pid, PROCESS.QUERY_LIMITED_INFORMATION | PROCESS.SYNCHRONIZE);
  const head =
    `Cannot kill process ${pid}: Windows did not grant the right to end it when it was attached to`;
  const cases: [
    { protected?: boolean; debugPrivilege?: boolean } | undefined,
    string,
  ][] = [
    [
      { protected: false, debugPrivilege: false },
      `${head} (it may belong to another user or run elevated); attach to it from an elevated (Administrator) prompt`,
    ],
    [
      { protected: true, debugPrivilege: false },
      `${head}: it is a protected process, whose protection decides which programs may end it, so an elevated (Administrator) prompt may be refused too`,
    ],
    [
      { protected: true, debugPrivilege: true },
      `${head}, though heapshift holds SeDebugPrivilege (it runs elevated): it is a protected process, whose protection decides which programs may end it; end it the way the program itself provides (a service: stop the service)`,
    ],
    [
      { protected: false, debugPrivilege: true },
      `${head}, though heapshift holds SeDebugPrivilege (it runs elevated): security or anti-cheat software may be guarding it; end it the way that software allows`,
    ],
    [
      undefined, // (not known: Windows 7, or the protection unreadable)
      `${head} (it may belong to another user or run elevated, or be a protected process); attach to it from an elevated (Administrator) prompt, unless it is a protected process, whose protection decides which programs may end it`,
    ],
  ];
  for (const [denied, message] of cases) {
    using proc = new AttachedProcess(pid, limited(), {
      canKill: false,
      denied,
    });
    const e = assertThrows(() => proc.kill(), HeapshiftError);
    assertEquals(e.message, message, JSON.stringify(denied));
    assertEquals(e.kind, "access-denied");
    assertEquals(proc.exitCode(), undefined);
  }
});
