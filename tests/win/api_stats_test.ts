// stats(): reads the hook DLL's shared-memory block.
import {
  eject,
  HeapshiftError,
  type HeapshiftStats,
  inject,
  launch,
  stats,
} from "../../mod.ts";
import { assert, assertEquals, assertRejects, assertThrows } from "./assert.ts";
import { fixture, hookDll, startTarget, test } from "./harness.ts";
import { fakeStats } from "./fake_stats.ts";
import { Handle } from "../../ffi/handle.ts";
import { kernel32 } from "../../ffi/library.ts";
import { wide } from "../../ffi/strings.ts";
import { statsLooking, statsName } from "../../src/live_stats.ts";
import { processSessionId } from "../../ffi/mod.ts";

const NO_PID = 0x7fff_fff0;

test("stats decodes a layout-v1 block", async () => {
  await using target = await startTarget(fixture("sleeper.exe"));
  const pid = target.readyPid;
  await inject(pid, fixture("api_fakestats.dll"));
  assertEquals(stats(pid), fakeStats(pid));
});

test("stats of a process without heapshift, and of no process", async () => {
  await using target = await startTarget(fixture("sleeper.exe"));
  const pid = target.readyPid;
  const e = await assertRejects(
    () => Promise.resolve().then(() => stats(pid)),
    HeapshiftError,
    `Process ${pid} has no heapshift loaded (no stats block Local\\heapshift-${pid})`,
  );
  assertEquals(e.kind, "no-heapshift");
  const e2 = await assertRejects(
    () => Promise.resolve().then(() => stats(NO_PID)),
    HeapshiftError,
    `Cannot read heapshift's stats of process ${NO_PID}: no such process`,
  );
  assertEquals(e2.kind, "not-found");
});

test({
  name:
    "stats of a process that ended is not-found, even while its block is held open elsewhere",
  async fn() {
    using proc = await launch(fixture("sleeper.exe"), { dlls: [hookDll()] });
    const pid = proc.pid;
    let s: HeapshiftStats | undefined;
    for (let i = 0; i < 200 && s?.state !== "live"; i++) {
      try {
        s = stats(pid);
      } catch (e) {
        if (!(e instanceof HeapshiftError && e.kind === "no-heapshift")) {
          throw e;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    assertEquals(s?.state, "live");
    // a reader (another tool, a second heapshift) keeps the block alive
    const raw = kernel32().OpenFileMappingW(4, 0, wide(statsName(pid)));
    assert(raw !== null, "the block can be opened");
    using held = new Handle(raw);
    proc.kill();
    await proc.wait({ timeout: 10_000 });
    const e = await assertRejects(
      () => Promise.resolve().then(() => stats(pid)),
      HeapshiftError,
      `Cannot read heapshift's stats of process ${pid}: the process has ended, and its counts with it; to read them at its end, hold it with attach() before it ends (or launch it) and read that object's stats()`,
    );
    assertEquals(e.kind, "not-found");
    assert(held.raw !== null);
    for (const bad of [-1, 1.5, NaN]) {
      await assertRejects(
        () => Promise.resolve().then(() => stats(bad)),
        HeapshiftError,
        "not a valid process id",
      );
    }
  },
});

test({
  name: "stats of a program launched with the real heapshift.dll",
  async fn() {
    using proc = await launch(fixture("sleeper.exe"), { dlls: [hookDll()] });
    try {
      // The program was resumed just now: give the loader a moment.
      let s: HeapshiftStats | undefined;
      for (let i = 0; i < 200 && s?.state !== "live"; i++) {
        try {
          s = stats(proc.pid);
        } catch (e) {
          if (!(e instanceof HeapshiftError && e.kind === "no-heapshift")) {
            throw e;
          }
        }
        if (s?.state !== "live") await new Promise((r) => setTimeout(r, 50));
      }
      assert(s, "heapshift.dll published its stats block");
      assertEquals(s.pid, proc.pid);
      assertEquals(s.state, "live", `error ${s.error}`);
      assert(s.hooked.includes("malloc"), s.hooked.join(","));
      assert(s.counters.allocs > 0, "mimalloc served allocations");
    } finally {
      proc.kill();
      await proc.wait({ timeout: 10_000 });
    }
  },
});

test({
  name:
    "LaunchedProcess.stats: what heapshift counted, also once the program has exited",
  async fn() {
    using proc = await launch(fixture("cli_sample.exe"), {
      args: ["--seconds", "1"],
      dlls: [hookDll()],
      stdio: "none",
    });
    assertEquals(await proc.wait({ timeout: 30_000 }), 0);
    // stats(pid) has nothing for an ended process; the LaunchedProcess
    // held the block from launch, so the final counts are still there.
    const s = proc.stats();
    assertEquals(s.pid, proc.pid);
    assertEquals(s.state, "live", `error ${s.error}`);
    assert(s.counters.allocs > 0 && s.counters.frees > 0, `${s.counters}`);
    assertEquals(proc.stats().counters, s.counters);
    proc.close();
    const e = assertThrows(() => proc.stats(), HeapshiftError, "was closed");
    assertEquals(e.kind, "bad-argument");
    // A program launched without heapshift has none to read.
    using plain = await launch(fixture("sleeper.exe"));
    try {
      const e2 = assertThrows(() => plain.stats(), HeapshiftError);
      assertEquals(e2.kind, "no-heapshift");
    } finally {
      plain.kill();
      await plain.wait({ timeout: 10_000 });
    }
    const e3 = assertThrows(() => plain.stats(), HeapshiftError);
    assertEquals(e3.kind, "not-found");
    assert(e3.message.includes("has ended"), e3.message);
  },
});

test({
  name: "the real heapshift.dll injected into a running program: live, pinned",
  async fn() {
    await using target = await startTarget(fixture("sleeper.exe"));
    const pid = target.readyPid;
    const mod = await inject(pid, hookDll());
    assertEquals(mod.name.toLowerCase(), "heapshift.dll");
    let s = stats(pid);
    for (let i = 0; i < 100 && s.state === "loading"; i++) {
      await new Promise((r) => setTimeout(r, 50));
      s = stats(pid);
    }
    assertEquals(s.state, "live", `error ${s.error}`);
    assertEquals(s.pid, pid);
    const e = await assertRejects(
      () => eject(pid, "heapshift.dll"),
      HeapshiftError,
      `Cannot eject heapshift.dll from process ${pid}: it stays loaded after FreeLibrary: it is pinned`,
    );
    assertEquals(e.kind, "pinned");
  },
});

// Under Wine every program runs in one session: the test says this process
// runs in another, so the target's block, which heapshift.dll made in the
// target's session (Local\ there), is read through Session\<id>\ (what
// stats, and inject's check that it took over, do for another user's game).
test("stats of a program in another user's session reads its block there, through Session\\<id>\\", async () => {
  await using target = await startTarget(fixture("sleeper.exe"));
  const pid = target.readyPid;
  await inject(pid, hookDll());
  const its = processSessionId(pid);
  const fromAnother = (p: number) => p === pid ? its : its + 1;
  let s = statsLooking(pid, { session: fromAnother });
  for (let i = 0; i < 100 && s.state === "loading"; i++) {
    await new Promise((r) => setTimeout(r, 50));
    s = statsLooking(pid, { session: fromAnother });
  }
  assertEquals(s.state, "live", `error ${s.error}`);
  assertEquals(s.pid, pid);
  // A session whose names cannot be reached (there is no session 77):
  // said so, not taken for a name another program holds.
  const e = assertThrows(
    () => statsLooking(pid, { session: (p) => p === pid ? 77 : its }),
    HeapshiftError,
    `Cannot read heapshift's stats of process ${pid}: it runs in session 77, whose names cannot be reached from this one (Session\\77\\heapshift-${pid}: the path is not found); run heapshift in that session`,
  );
  assertEquals(e.kind, "access-denied");
});

// The predictable name taken first by something heapshift.dll cannot use
// (tests/fixtures/dll_stale.c): the DLL publishes beside it, under the name
// with the process's creation time, and stats() must look there too rather
// than stop at the plain name's error.
for (
  const [kind, what] of [
    ["event", "an event"],
    ["denied", "a section that grants nobody access"],
  ]
) {
  test(`stats when the pid's name is ${what}: the block beside it is read`, async () => {
    await using target = await startTarget(fixture("dll_stale.exe"), {
      args: [kind, hookDll()],
    });
    const line = await target.lines.next();
    assertEquals(line.value, "child.state=1");
    const s = stats(target.readyPid);
    assertEquals(s.state, "live");
    assertEquals(s.pid, target.readyPid);
    assert(s.counters.allocs >= 100, `allocs ${s.counters.allocs}`);
  });
}

// A block refused by its own security: running elevated (heapshift under
// Wine holds SeDebugPrivilege, as an elevated administrator's does) does
// not change that, so stats must not say to (a block an older
// heapshift.dll made in a service, with the service's default DACL).
test("stats of a block an elevated heapshift may not open: not told to run elevated", async () => {
  await using target = await startTarget(fixture("dll_stale.exe"), {
    args: ["denied-none", hookDll()],
  });
  assertEquals((await target.lines.next()).value, "child.state=-1");
  const pid = target.readyPid;
  const e = await assertRejects(
    () => Promise.resolve().then(() => stats(pid)),
    HeapshiftError,
    `Cannot read heapshift's stats of process ${pid}: access denied, though heapshift runs elevated: the block's own security admits no Administrators`,
  );
  assertEquals(e.kind, "access-denied");
  assert(!e.message.includes("run heapshift from an elevated"), e.message);
});
