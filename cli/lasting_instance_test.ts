import assert from "node:assert/strict";
import { CliError } from "./output.ts";
import {
  type CliLastingSteps as LastingSteps,
  type HeldInstance,
  type Instance,
  takeOverLasting,
  type TakeoverResult,
} from "./lasting_instance.ts";

/** How a fake instance fares. */
interface Fate {
  pid: number;
  /** Its exit code, if it ends (else it runs on). */
  exit?: number;
  /**
   * When it ends: gone before it is held, `before` its takeover (which
   * throws), `during` it (the takeover says `ended`), `after` it, within
   * the watch (default).
   */
  when?: "gone" | "before" | "during" | "after";
  /** What its takeover throws. */
  fails?: Error;
}

/**
 * Steps over instances that start one after the other, in the order given
 * (the next once the one before has been found), each faring as told; what
 * was said and taken over is recorded.
 */
function world(fates: Fate[]) {
  const said: string[] = [];
  const taken: number[] = [];
  /** The pids held open now. */
  const held = new Set<number>();
  /** The pids found gone before they could be held. */
  const gone = new Set<number>();
  /** The pids held when each instance's takeover began. */
  const heldAt = new Map<number, number[]>();
  const fate = (pid: number) => fates.find((f) => f.pid === pid)!;
  const endsNow = (f: Fate) => f.exit !== undefined && f.when !== "after";
  const steps: LastingSteps<TakeoverResult, HeldInstance> = {
    name: "game.exe",
    seconds: 0.2,
    find: (seen) => {
      const f = fates.find((f) => !seen.has(f.pid) && !gone.has(f.pid));
      return f && { pid: f.pid, name: "game.exe" };
    },
    noneStarted: "none started",
    hold: (p: Instance) => {
      const f = fate(p.pid);
      // No longer listed once gone.
      if (f.when === "gone") return void gone.add(p.pid);
      held.add(p.pid);
      return {
        exitCode: () => endsNow(f) ? f.exit : undefined,
        endsWithin: () => Promise.resolve(f.exit),
        [Symbol.dispose]: () => held.delete(p.pid),
      };
    },
    takeOver: (p: Instance) => {
      const f = fate(p.pid);
      taken.push(p.pid);
      heldAt.set(p.pid, [...held]);
      if (f.fails) return Promise.reject(f.fails);
      if (f.exit !== undefined && f.when === "before") {
        return Promise.reject(new CliError("it exited"));
      }
      const state = f.exit !== undefined && f.when === "during"
        ? "ended"
        : "live";
      return Promise.resolve({ state });
    },
    notice: (text) => said.push(text),
  };
  return { steps, said, taken, held, heldAt };
}

Deno.test("takeOverLasting: an instance that runs on past the watch is the one, nothing said", async () => {
  const w = world([{ pid: 1 }]);
  const r = await takeOverLasting(undefined, w.steps);
  assert.deepEqual(
    [r.instance.pid, r.result.state, r.exitCode, r.ended, r.warning],
    [1, "live", undefined, [], undefined],
  );
  assert.deepEqual([w.taken, w.said], [[1], []]);
});

Deno.test("takeOverLasting: an instance that ends right after its takeover (a Steam restart) is said, and the next one is taken over", async () => {
  const w = world([{ pid: 1, exit: 0, when: "after" }, { pid: 2 }]);
  const r = await takeOverLasting(undefined, w.steps);
  assert.equal(r.instance.pid, 2);
  assert.deepEqual(r.ended, [{ pid: 1, exitCode: 0, takenOver: true }]);
  assert.deepEqual(w.taken, [1, 2]);
  // Held until the wait is over: a pid whose last handle is closed may be
  // given to the next process at once, the instance Steam starts.
  assert.deepEqual(w.heldAt.get(2), [1, 2]);
  assert.deepEqual(w.held, new Set());
  assert.deepEqual(w.said, [
    "game.exe (pid 1) ended (exit 0) right after its takeover: a game that Steam must start, started otherwise, has Steam start it again and exits (some launchers do the same); waiting up to 0.2 s for another game.exe to start…",
  ]);
});

Deno.test("takeOverLasting: an instance that ends before or during its takeover, or is gone before it is held, is passed over too", async () => {
  const w = world([
    { pid: 1, when: "gone" },
    { pid: 2, exit: 1, when: "before" },
    { pid: 3, exit: 0, when: "during" },
    { pid: 4 },
  ]);
  const r = await takeOverLasting(undefined, w.steps);
  assert.equal(r.instance.pid, 4);
  assert.deepEqual(r.ended, [
    { pid: 1, takenOver: false },
    { pid: 2, exitCode: 1, takenOver: false },
    { pid: 3, exitCode: 0, takenOver: false },
  ]);
  assert.deepEqual(w.taken, [2, 3, 4]);
  assert.match(w.said[0], /^game\.exe \(pid 1\) ended before its takeover: /);
  assert.match(
    w.said[1],
    /^game\.exe \(pid 2\) ended \(exit 1\) before its takeover: /,
  );
});

Deno.test("takeOverLasting: the instance given (running already) is taken first, and not again", async () => {
  const w = world([{ pid: 1, exit: 0, when: "after" }, { pid: 2 }]);
  const r = await takeOverLasting({ pid: 1, name: "game.exe" }, w.steps);
  assert.equal(r.instance.pid, 2);
  assert.deepEqual(w.taken, [1, 2]);
});

Deno.test("takeOverLasting: a takeover that fails while the program runs is the error", async () => {
  const refused = new CliError("did not take over");
  const w = world([{ pid: 1, fails: refused }, { pid: 2 }]);
  await assert.rejects(
    () => takeOverLasting(undefined, w.steps),
    (e) => e === refused,
  );
  assert.deepEqual(w.taken, [1]);
});

/** Asserts that a wait over `fates` fails with a CliError saying `message`. */
async function assertFails(fates: Fate[], message: string): Promise<void> {
  await assert.rejects(
    () => takeOverLasting(undefined, world(fates).steps),
    (e) => e instanceof CliError && e.message === message,
  );
}

Deno.test("takeOverLasting: a crash stops the wait: before the takeover its error, right after it a warning with the instance", async () => {
  const crashed = new CliError("crashed before it began initialising");
  const before = world([
    { pid: 1, exit: 0xC0000135, when: "before", fails: crashed },
    { pid: 2 },
  ]);
  await assert.rejects(
    () => takeOverLasting(undefined, before.steps),
    (e) => e === crashed,
  );
  const access = 0xC0000005;
  await assertFails(
    [{ pid: 1, exit: access, when: "during" }, { pid: 2 }],
    "game.exe (pid 1) crashed (0xC0000005, access violation) before its takeover could be seen: its own output or the system's event log may say why",
  );
  const after = world([{ pid: 1, exit: access, when: "after" }, { pid: 2 }]);
  const r = await takeOverLasting(undefined, after.steps);
  assert.deepEqual([r.instance.pid, r.exitCode, after.taken], [1, access, [1]]);
  assert.equal(
    r.warning,
    "game.exe (pid 1) crashed (0xC0000005, access violation) right after its takeover: its own output or the system's event log may say why",
  );
});

Deno.test("takeOverLasting: none starting in time is the error given; after one ended, the last taken over with a warning, else an error", async () => {
  await assertFails([], "none started");
  const after = world([{ pid: 1, exit: 0, when: "after" }]);
  const r = await takeOverLasting(undefined, after.steps);
  assert.deepEqual([r.instance.pid, r.exitCode, r.ended], [1, 0, []]);
  assert.equal(
    r.warning,
    "game.exe (pid 1) ended (exit 0) right after its takeover, and no other game.exe started within 0.2 s (--wait SECONDS waits longer)",
  );
  await assertFails(
    [{ pid: 1, exit: 0, when: "after" }, { pid: 2, exit: 1, when: "before" }],
    "game.exe (pid 2) ended (exit 1) before its takeover, and no other game.exe started within 0.2 s (--wait SECONDS waits longer): no game.exe taken over runs",
  );
});

Deno.test("takeOverLasting: the pid of an instance gone before it could be held, given to the next instance, is not passed over", async () => {
  // Nothing holds a process gone before it was held: Windows may give its
  // pid to the next process at once, the instance Steam starts.
  const instances = [{ gone: true }, { gone: false }];
  let found = 0;
  const taken: number[] = [];
  const r = await takeOverLasting(undefined, {
    name: "game.exe",
    seconds: 0.2,
    find: (seen) =>
      found < instances.length && !seen.has(7)
        ? (found++, { pid: 7, name: "game.exe" })
        : undefined,
    noneStarted: "none started",
    hold: () =>
      instances[found - 1].gone ? undefined : {
        exitCode: () => undefined,
        endsWithin: () => Promise.resolve(undefined),
        [Symbol.dispose]() {},
      },
    takeOver: (p) => (taken.push(p.pid), Promise.resolve({ state: "live" })),
    notice: () => {},
  });
  assert.deepEqual([r.instance.pid, r.ended, taken], [
    7,
    [{ pid: 7, takenOver: false }],
    [7],
  ]);
});

Deno.test("takeOverLasting: an instance listed still, though gone, is said once and waited past within the seconds", async () => {
  const said: string[] = [];
  await assert.rejects(
    () =>
      takeOverLasting(undefined, {
        name: "game.exe",
        seconds: 0.2,
        find: () => ({ pid: 9, name: "game.exe" }),
        noneStarted: "none started",
        hold: () => undefined,
        takeOver: () => Promise.resolve({ state: "live" }),
        notice: (text) => said.push(text),
      }),
    (e) =>
      e instanceof CliError && /no game\.exe taken over runs$/.test(e.message),
  );
  assert.equal(said.length, 1);
});

Deno.test("takeOverLasting: a takeover that fails while the program is ending (not yet ended) passes it over", async () => {
  // ExitProcess runs every DLL's detach before the process is signalled:
  // a takeover meanwhile can fail first.
  const taken: number[] = [];
  let found = 0;
  const r = await takeOverLasting(undefined, {
    name: "game.exe",
    seconds: 0.2,
    find: (seen) =>
      [1, 2].filter((pid) => !seen.has(pid)).slice(0, ++found)
        .map((pid) => ({ pid, name: "game.exe" }))[0],
    noneStarted: "none started",
    hold: (p) => ({
      exitCode: () => undefined,
      endsWithin: () => Promise.resolve(p.pid === 1 ? 0 : undefined),
      [Symbol.dispose]() {},
    }),
    takeOver: (
      p,
    ) => (taken.push(p.pid),
      p.pid === 1
        ? Promise.reject(new CliError("access denied"))
        : Promise.resolve({ state: "live" })),
    notice: () => {},
  });
  assert.deepEqual([r.instance.pid, r.ended, taken], [
    2,
    [{ pid: 1, exitCode: 0, takenOver: false }],
    [1, 2],
  ]);
});

Deno.test("takeOverLasting: a program that keeps ending right after its takeover is followed through 16 instances, not forever", async () => {
  const fates: Fate[] = [];
  for (let pid = 1; pid <= 40; pid++) fates.push({ pid, exit: 0 });
  const w = world(fates);
  const r = await takeOverLasting(undefined, w.steps);
  assert.equal(r.instance.pid, 16);
  assert.equal(r.exitCode, 0);
  assert.equal(r.ended.length, 15);
  assert.deepEqual(w.taken.length, 16);
  assert.match(
    r.warning ?? "",
    /^game\.exe \(pid 16\) ended \(exit 0\) right after its takeover, as had the 15 before it: heapshift follows no further \(it may be a program that restarts itself\); /,
  );
  assert.deepEqual(w.held, new Set());
  // none taken over: an error
  const none: Fate[] = [];
  for (let pid = 1; pid <= 40; pid++) {
    none.push({ pid, exit: 0, when: "before" });
  }
  await assert.rejects(
    takeOverLasting(undefined, world(none).steps),
    (e: Error) =>
      e instanceof CliError &&
      /^game\.exe \(pid 16\) ended \(exit 0\) before its takeover, as had the 15 before it: heapshift follows no further/
        .test(e.message),
  );
});
