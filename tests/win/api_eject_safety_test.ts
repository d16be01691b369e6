// eject unloads only what heapshift loaded; inject does not return a DLL
// still initialising, nor load a second heapshift when injectors race.
// (eject's reading of imports: api_process_test.ts.)
import { eject, HeapshiftError, inject, launch, modules } from "../../mod.ts";
import { runCli } from "../../cli/_test_utils.ts";
import {
  INJECT_ACCESS,
  openThread,
  processSessionId,
  STILL_ACTIVE,
  THREAD,
  threadExitCode,
  Win32Error,
} from "../../ffi/mod.ts";
import { threadsInModule } from "../../src/_module_threads.ts";
import { ejectLooking } from "../../src/injection.ts";
import { openTarget } from "../../src/_target.ts";
import { assert, assertEquals, assertRejects } from "./assert.ts";
import {
  type Arch,
  fixture,
  hookDll,
  startTarget,
  type Target,
  test,
  testArches,
} from "./harness.ts";
import {
  SLOW_HOLD_ENV,
  SLOW_MARK_ENV,
  type SlowHold,
  slowHold,
  type SlowMark,
  slowMark,
  WORKER_HOLD_ENV,
  WORKER_MARK_ENV,
} from "./slow_mark.ts";

const has = (pid: number, name: string) =>
  modules(pid).some((m) => m.name.toLowerCase() === name);

/** Whether `target` is still running and printing ticks. */
async function stillTicking(target: Target): Promise<boolean> {
  for (let seen = 0; seen < 3;) {
    const next = await Promise.race([
      target.lines.next(),
      new Promise<"silent">((r) => setTimeout(() => r("silent"), 2000)),
    ]);
    if (next === "silent" || next.done) return false;
    if (next.value.startsWith("tick ")) seen++;
  }
  return true;
}

/** api_worker.dll's thread, held running until {@linkcode HeldWorker.end}. */
interface HeldWorker {
  /** What to add to the program's environment. */
  env: Record<string, string>;
  /**
   * Releases the thread and waits until it has ended (its exit code set),
   * which eject then finds: an end the test sees, where a fixed wait
   * depended on Sleep's granularity (15.6 ms a step on Windows, not 5).
   */
  end(): Promise<void>;
}

/** A hold and a mark for api_worker.dll's thread, in `dir`. */
async function heldWorker(dir: string): Promise<HeldWorker> {
  const hold = await slowHold(dir, {
    variable: WORKER_HOLD_ENV,
    name: "worker",
  });
  const mark = slowMark(dir, "worker", {
    variable: WORKER_MARK_ENV,
    who: "api_worker.dll's thread",
  });
  return {
    env: { ...hold.env, ...mark.env },
    async end() {
      // its id, marked when it began (it runs while held: open it now)
      const limit = Date.now() + 60_000;
      let tid: number | undefined;
      while (tid === undefined) {
        const line = (await mark.lines()).find((l) => /^thread \d+$/.test(l));
        if (line) tid = Number(line.slice(7));
        else if (Date.now() > limit) {
          throw new Error("api_worker.dll's thread never began");
        } else await new Promise((r) => setTimeout(r, 50));
      }
      using thread = openThread(tid, THREAD.QUERY_INFORMATION);
      await hold.release();
      while (threadExitCode(thread) === STILL_ACTIVE) {
        if (Date.now() > limit) {
          throw new Error("api_worker.dll's thread never ended");
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      assertEquals(await mark.lines(), [`thread ${tid}`, "end"]);
    },
  };
}

/**
 * Injects api_worker.dll into `target` (a sleeper) and has eject refuse it
 * with a message ending in `reason`; the DLL stays, and the program with
 * it. Returns the target's pid and the DLL's name.
 */
async function workerRefused(target: Target, arch: Arch, reason: RegExp) {
  const pid = target.readyPid;
  await inject(pid, fixture("api_worker.dll", arch));
  const name = arch === "x86" ? "api_worker32.dll" : "api_worker.dll";
  const e = await assertRejects(
    () => eject(pid, name),
    HeapshiftError,
    `Cannot eject ${name} from process ${pid}: thread `,
  );
  assertEquals(e.kind, "unsupported");
  assert(reason.test(e.message), e.message);
  await new Promise((r) => setTimeout(r, 300));
  assert(has(pid, name), `${name} stays, and the program with it`);
  return { pid, name };
}

/** The refusal of a module a thread runs in, by its stack. */
const RUNNING_IN =
  / is running in api_worker(32)?\.dll's code \(its stack holds a return into it\), so unloading it would crash the program when it returns there; have api_worker(32)?\.dll end it first, or pass force: true \(--force on the command line\) to unload it anyway$/;

testArches(
  "eject refuses a DLL heapshift loaded whose own thread still runs in it",
  async (arch) => {
    // api_worker.dll's DllMain starts a thread that loops in its code: an
    // unload ended the program (0xC0000005) before eject looked.
    await using target = await startTarget(fixture("sleeper.exe", arch));
    const { pid, name } = await workerRefused(
      target,
      arch,
      / began in api_worker(32)?\.dll and is still running, so unloading it would crash the program when it runs on in its code; have api_worker(32)?\.dll end it first, or pass force: true \(--force on the command line\) to unload it anyway$/,
    );
    // A DLL without threads of its own still goes.
    await inject(pid, fixture("probe.dll", arch));
    await eject(pid, arch === "x86" ? "probe32.dll" : "probe.dll");
    // So does one whose thread has ended, its handle still open.
    const dir = await Deno.makeTempDir();
    try {
      const worker = await heldWorker(dir);
      await using ended = await startTarget(fixture("sleeper.exe", arch), {
        env: worker.env,
      });
      await inject(ended.readyPid, fixture("api_worker.dll", arch));
      await worker.end();
      await eject(ended.readyPid, name);
      assert(!has(ended.readyPid, name), `${name} is unloaded`);
    } finally {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
);

testArches(
  "eject refuses a DLL whose code a thread it did not start is running (a thread-pool callback)",
  async (arch) => {
    // The pool's thread begins in ntdll and calls the DLL's callback, which
    // waits in Sleep: only the thread's stack shows it is in the DLL. An
    // unload ended the program (0xC0000005) before eject looked there.
    await using target = await startTarget(fixture("sleeper.exe", arch), {
      env: { API_WORKER_POOL: "1" },
    });
    await workerRefused(target, arch, RUNNING_IN);
  },
);

testArches(
  "eject refuses a DLL whose thread, started through the CRT, runs in its code, and unloads it once the thread has ended",
  async (arch) => {
    // _beginthreadex: the thread begins in the CRT's code (which holds a
    // reference to the routine's module until the thread ends) and waits in
    // Sleep, called from the DLL: only its stack shows the DLL.
    // Held running until refused, however slow the machine.
    const dir = await Deno.makeTempDir();
    try {
      const worker = await heldWorker(dir);
      await using target = await startTarget(fixture("sleeper.exe", arch), {
        env: { API_WORKER_CRT: "1", ...worker.env },
      });
      const { pid, name } = await workerRefused(target, arch, RUNNING_IN);
      await worker.end();
      await eject(pid, name);
      assert(!has(pid, name), `${name} is unloaded once its thread ended`);
    } finally {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
);

testArches(
  "eject's look at threads: a running thread that could not be looked at counts as unknown, not as out of the module",
  async (arch) => {
    // GetThreadContext refused (as it may be on Windows for a thread it
    // cannot read): the thread was left out, and eject went on to unload
    // a module it could not tell was unused.
    await using target = await startTarget(fixture("sleeper.exe", arch));
    const pid = target.readyPid;
    await inject(pid, fixture("probe.dll", arch));
    const name = arch === "x86" ? "probe32.dll" : "probe.dll";
    const mod = modules(pid).find((m) => m.name.toLowerCase() === name);
    assert(mod, `${name} is loaded`);
    using t = openTarget(pid, { access: INJECT_ACCESS, doing: "look at" });
    assertEquals(threadsInModule(t, mod), []);
    const refused = threadsInModule(t, mod, {
      position: () => {
        throw new Win32Error("GetThreadContext", 5);
      },
    });
    assert(refused.length > 0, "the program's threads are listed");
    for (const r of refused) {
      assertEquals(r.how, "unknown");
      assert(/GetThreadContext/.test(r.why ?? ""), r.why);
    }
    await eject(pid, name);
  },
);

test("eject from this process itself refuses the thread look instead of suspending its own thread (it hung)", async () => {
  // The look suspends each thread of the target: in this process that
  // included the thread doing the look, which then never resumed.
  await inject(Deno.pid, fixture("probe.dll"));
  await assertRejects(
    () => eject(Deno.pid, "probe.dll"),
    HeapshiftError,
    `Cannot eject probe.dll from process ${Deno.pid}: it is this process`,
  );
  assert(has(Deno.pid, "probe.dll"), "probe.dll stays");
  await eject(Deno.pid, "probe.dll", { force: true });
  assert(!has(Deno.pid, "probe.dll"), "force unloads it");
});

test("eject refuses a DLL the program loaded itself and still calls; force unloads one it does not call", async () => {
  // The program calls api_adep_value every 20 ms: unloading it would crash it.
  await using calls = await startTarget(fixture("api_dynuser.exe"), {
    args: [fixture("api_adep.dll"), "api_adep_value"],
  });
  const pid = calls.readyPid;
  const e = await assertRejects(
    () => eject(pid, "api_adep.dll"),
    HeapshiftError,
    `Cannot eject api_adep.dll from process ${pid}: heapshift did not load api_adep.dll (or has unloaded it already): the program may have loaded it itself and still call it, so unloading it could crash the program; pass anyOrigin: true (--any-origin on the command line) to unload it whoever loaded it (a thread running in it still stops the eject)`,
  );
  assertEquals(e.kind, "unsupported");
  assert(has(pid, "api_adep.dll"), "api_adep.dll stays");
  // Injected now, it is loaded already: inject takes no reference of its
  // own, so there is none for eject to give back.
  await inject(pid, fixture("api_adep.dll"));
  await assertRejects(
    () => eject(pid, "api_adep.dll"),
    HeapshiftError,
    "heapshift did not load api_adep.dll",
  );
  assert(await stillTicking(calls), "the program runs on, calling it");

  // Loaded by the program, never called: force unloads it.
  await using idle = await startTarget(fixture("api_dynuser.exe"), {
    args: [fixture("probe.dll")],
  });
  await assertRejects(
    () => eject(idle.readyPid, "probe.dll"),
    HeapshiftError,
    "heapshift did not load probe.dll",
  );
  // The CLI says how to unload it whoever loaded it; --force does too.
  const pid2 = String(idle.readyPid);
  const refused = await runCli(["eject", pid2, "probe.dll"]);
  assertEquals(refused.code, 1, refused.stderr);
  assert(
    refused.stderr.includes("(--any-origin on the command line)"),
    refused.stderr,
  );
  const forced = await runCli(["eject", pid2, "probe.dll", "--force"]);
  assertEquals(forced.code, 0, forced.stderr);
  assert(!has(idle.readyPid, "probe.dll"), "forced: probe.dll is gone");
  // Then injected, ejected, injected and ejected again: each load of ours
  // is ejected without force, and only once.
  for (let i = 0; i < 2; i++) {
    await inject(idle.readyPid, fixture("probe.dll"));
    await eject(idle.readyPid, "probe.dll");
    assert(!has(idle.readyPid, "probe.dll"), `cycle ${i}: probe.dll is gone`);
  }
});

testArches(
  "anyOrigin skips only the check of who loaded a module: a thread running in it still stops the eject",
  async (arch) => {
    // The program loaded api_worker.dll itself, whose thread loops in its
    // code: only force got past the origin check, and force skipped the
    // look at threads too, so the unload crashed the program.
    const worker = arch === "x86" ? "api_worker32.dll" : "api_worker.dll";
    await using loads = await startTarget(fixture("api_dynuser.exe", arch), {
      args: [fixture("api_worker.dll", arch)],
    });
    const pid = loads.readyPid;
    await assertRejects(
      () => eject(pid, worker),
      HeapshiftError,
      `Cannot eject ${worker} from process ${pid}: heapshift did not load ${worker} (or has unloaded it already): the program may have loaded it itself and still call it, so unloading it could crash the program; pass anyOrigin: true (--any-origin on the command line) to unload it whoever loaded it (a thread running in it still stops the eject)`,
    );
    const e = await assertRejects(
      () => eject(pid, worker, { anyOrigin: true }),
      HeapshiftError,
      `Cannot eject ${worker} from process ${pid}: thread `,
    );
    assert(
      / began in api_worker(32)?\.dll and is still running/.test(e.message),
      e.message,
    );
    const cli = await runCli(["eject", String(pid), worker, "--any-origin"]);
    assertEquals(cli.code, 1, cli.stderr);
    assert(cli.stderr.includes(" began in "), cli.stderr);
    assert(has(pid, worker), `${worker} stays`);
    assert(await stillTicking(loads), "the program runs on");

    // One without threads the program loaded: unloaded, by the API and the CLI.
    const probe = arch === "x86" ? "probe32.dll" : "probe.dll";
    for (const how of ["api", "cli"]) {
      await using idle = await startTarget(fixture("api_dynuser.exe", arch), {
        args: [fixture("probe.dll", arch)],
      });
      const idlePid = idle.readyPid;
      if (how === "api") await eject(idlePid, probe, { anyOrigin: true });
      else {
        const r = await runCli([
          "eject",
          String(idlePid),
          probe,
          "--any-origin",
        ]);
        assertEquals(r.code, 0, r.stderr);
      }
      assert(!has(idlePid, probe), `${how}: ${probe} is gone`);
      assert(await stillTicking(idle), `${how}: the program runs on`);
    }
  },
);

test("a module heapshift loaded into a program in another user's session is told by its mark there, through Session\\<id>\\", async () => {
  // Under Wine every program runs in one session: the test says this
  // process runs in another, so the mark inject left in the target's
  // session (Local\ there) is looked for as Session\<its id>\.
  await using target = await startTarget(fixture("sleeper.exe"));
  const pid = target.readyPid;
  await inject(pid, fixture("probe.dll"));
  const its = processSessionId(pid);
  const look = { session: (p: number) => p === pid ? its : its + 1 };
  await ejectLooking(pid, "probe.dll", { eject: {}, look });
  assert(!has(pid, "probe.dll"), "probe.dll is gone");
  // its mark says our reference was given back, there as here
  await inject(pid, fixture("api_pinned.dll"));
  const pinned = await assertRejects(
    () => ejectLooking(pid, "api_pinned.dll", { eject: {}, look }),
    HeapshiftError,
    `Cannot eject api_pinned.dll from process ${pid}: it stays loaded after FreeLibrary`,
  );
  assertEquals(pinned.kind, "pinned");
  const e = await assertRejects(
    () => eject(pid, "api_pinned.dll"),
    HeapshiftError,
    `Cannot eject api_pinned.dll from process ${pid}: heapshift did not load api_pinned.dll (or has unloaded it already)`,
  );
  assertEquals(e.kind, "unsupported");
});

test("a module of unknown origin (a session whose names cannot be reached) is refused naming anyOrigin, which still looks at its threads", async () => {
  // No session 77 here: its names cannot be reached, so the mark cannot
  // be looked for.
  await using target = await startTarget(fixture("sleeper.exe"));
  const pid = target.readyPid;
  const its = processSessionId(pid);
  const look = { session: (p: number) => p === pid ? 77 : its };
  await inject(pid, fixture("api_worker.dll"));
  await assertRejects(
    () => ejectLooking(pid, "api_worker.dll", { eject: {}, look }),
    HeapshiftError,
    `Cannot eject api_worker.dll from process ${pid}: it runs in session 77, whose names cannot be reached from this one (where heapshift marks the modules it loads: Session\\77\\heapshift-loaded-${pid}-`,
  );
  const e = await assertRejects(
    () =>
      ejectLooking(pid, "api_worker.dll", { eject: { anyOrigin: true }, look }),
    HeapshiftError,
    `Cannot eject api_worker.dll from process ${pid}: thread `,
  );
  assert(
    / began in api_worker\.dll and is still running/.test(e.message),
    e.message,
  );
  assert(has(pid, "api_worker.dll"), "api_worker.dll stays");
  await inject(pid, fixture("probe.dll"));
  await ejectLooking(pid, "probe.dll", { eject: { anyOrigin: true }, look });
  assert(!has(pid, "probe.dll"), "probe.dll, which no thread runs in, is gone");
});

test("a DLL launch loaded is heapshift's: eject does not ask for force", async () => {
  using proc = await launch(fixture("sleeper.exe"), {
    dlls: [fixture("probe.dll")],
    stdio: "none",
  });
  try {
    // Loaded as an import of the program's in-memory import table, which no
    // code of the program calls; the loader keeps a program's imports.
    const e = await assertRejects(
      () => eject(proc.pid, "probe.dll"),
      HeapshiftError,
      `Cannot eject probe.dll from process ${proc.pid}: it stays loaded after FreeLibrary`,
    );
    assertEquals(e.kind, "pinned");
  } finally {
    proc.kill();
  }
});

test("inject of a DLL listed but still initialising says so instead of returning it", async () => {
  // api_slow.dll's DllMain sleeps until released: listed meanwhile, not
  // initialised (its 5 s sleep had to outlast both attempts below on a
  // machine however loaded).
  const dir = await Deno.makeTempDir();
  const mark = slowMark(dir, "inject");
  const hold = await slowHold(dir);
  try {
    await using target = await startTarget(fixture("sleeper.exe"), {
      env: { ...mark.env, ...hold.env },
    });
    const pid = target.readyPid;
    await assertRejects(
      () => inject(pid, fixture("api_slow.dll"), { timeout: 300 }),
      HeapshiftError,
      "LoadLibraryW did not return within 300 ms",
    );
    const e = await assertRejects(
      () => inject(pid, fixture("api_slow.dll"), { timeout: 300 }),
      HeapshiftError,
      `Cannot inject api_slow.dll into process ${pid}: it is loaded but still initialising (its DllMain has not returned within 300 ms); try again once it has`,
    );
    assertEquals(e.kind, "timeout");
    // Once it has, the module is returned.
    await hold.release();
    const mod = await inject(pid, fixture("api_slow.dll"), {
      timeout: 60_000,
    });
    assertEquals(mod.name.toLowerCase(), "api_slow.dll");
    // Its mark says so too: what the tests that stop a program before the
    // DLL finished rely on (tests/win/slow_mark.ts) is seen when it does.
    assertEquals(await mark.lines(), ["start", "done"]);
  } finally {
    await hold.release();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

test("injectors at once load one heapshift: the others wait and see the first copy", async () => {
  await using target = await startTarget(fixture("sleeper.exe"));
  const pid = target.readyPid;
  const dir = await Deno.makeTempDir({ prefix: "heapshift-race-" });
  try {
    const copies = ["hs_a.dll", "hs_b.dll"].map((n) => `${dir}\\${n}`);
    for (const c of copies) await Deno.copyFile(hookDll(), c);
    // While api_slow.dll's DllMain holds the loader lock for 5 s, no
    // heapshift can initialise (and publish its stats block): every
    // injector would check, find none, and load.
    const slow = inject(pid, fixture("api_slow.dll"), { timeout: 20_000 });
    await new Promise((r) => setTimeout(r, 300));
    const runs = await Promise.allSettled([
      inject(pid, hookDll(), { timeout: 20_000 }),
      inject(pid, copies[0], { timeout: 20_000 }),
      // From another process: the lock is the target's, not ours.
      runCli(["inject", String(pid), "--dll", copies[1], "--json"]).then(
        (r) => {
          if (r.code !== 0) throw new Error(r.stderr);
        },
      ),
    ]);
    await slow;
    const loaded = modules(pid).filter((m) =>
      ["heapshift.dll", "hs_a.dll", "hs_b.dll"].includes(m.name.toLowerCase())
    );
    assertEquals(loaded.length, 1, loaded.map((m) => m.path).join(", "));
    const failures = runs.flatMap((r) =>
      r.status === "rejected" ? [String(r.reason?.message)] : []
    );
    assertEquals(failures.length, 2, JSON.stringify(failures));
    for (const f of failures) {
      assert(f.includes("heapshift is loaded in it already"), f);
    }
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

test("an injection that waits past its timeout for another into the same target says so, from this process and from another", async () => {
  // api_slow.dll's DllMain holds its injection (and the target's lock)
  // until released: a CLI started meanwhile finds it held however long its
  // Deno takes to start (its 5 s sleep did not cover that under load).
  const dir = await Deno.makeTempDir();
  const hold = await slowHold(dir);
  const mark = slowMark(dir, "inject");
  try {
    await using target = await startTarget(fixture("sleeper.exe"), {
      env: { ...hold.env, ...mark.env },
    });
    await injectionsWait(target.readyPid, { hold, mark });
  } finally {
    await hold.release();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

/** The body of the test above: `pid` runs with api_slow.dll held. */
async function injectionsWait(
  pid: number,
  { hold, mark }: { hold: SlowHold; mark: SlowMark },
): Promise<void> {
  const slow = inject(pid, fixture("api_slow.dll"), { timeout: 600_000 });
  // The held injection ends however the checks do: the hold released, it
  // is awaited before their failure is reported (left pending, it ended
  // after the test, noise after the failure).
  const [checked, injected] = await Promise.allSettled([
    injectionsWaitChecks(pid, mark).finally(() => hold.release()),
    slow,
  ]);
  if (checked.status === "rejected") throw checked.reason;
  if (injected.status === "rejected") throw injected.reason;
  assert(!has(pid, "probe.dll"), "neither loaded probe.dll");
}

/** What {@linkcode injectionsWait} checks while api_slow.dll is held. */
async function injectionsWaitChecks(pid: number, mark: SlowMark) {
  // its DllMain runs: the injection holds the queue and the mutex
  await mark.until("start");
  const waited =
    "another injection into it (by heapshift, from this or another process) did not end within";
  // This process's own queue.
  const e = await assertRejects(
    () => inject(pid, fixture("probe.dll"), { timeout: 500 }),
    HeapshiftError,
    `Cannot inject probe.dll into process ${pid}: ${waited} 500 ms; try again once it has`,
  );
  assertEquals(e.kind, "timeout");
  // Another process: the target's named mutex.
  const r = await runCli([
    "inject",
    String(pid),
    "--dll",
    fixture("probe.dll"),
    "--timeout",
    "1",
  ]);
  assertEquals(r.code, 1, r.stderr);
  assert(r.stderr.includes(`${waited} 1000 ms`), r.stderr);
}

testArches(
  "the test DLLs refuse to load when a file they are to mark or wait on is named by a path too long for them",
  async (arch) => {
    // api_worker.dll's thread ignored such a hold and ran for ever, and
    // api_slow.dll's DllMain slept 5 s instead: a test waiting on either
    // hung, or passed without what it meant to check.
    const long = `C:\\${"x".repeat(300)}`;
    for (
      const [dll, variables] of [
        ["api_worker.dll", [WORKER_HOLD_ENV, WORKER_MARK_ENV]],
        // (x64 only)
        ...(arch === "x64"
          ? [["api_slow.dll", [SLOW_HOLD_ENV, SLOW_MARK_ENV]]] as const
          : []),
      ] as const
    ) {
      for (const variable of variables) {
        await using target = await startTarget(fixture("sleeper.exe", arch), {
          env: { [variable]: long },
        });
        const e = await inject(target.readyPid, fixture(dll, arch)).then(
          () => "it loaded",
          (e) => e,
        );
        // the loader's refusal (DllMain returned FALSE), not another
        assert(
          e instanceof HeapshiftError && e.kind === "load-failed",
          `${dll}, ${variable}: ${e}`,
        );
      }
    }
  },
);

test("a stats block inject cannot read counts as a heapshift loaded", async () => {
  await using target = await startTarget(fixture("sleeper.exe"));
  const pid = target.readyPid;
  // Another build's block (layout 99): a heapshift is there all the same.
  await inject(pid, fixture("api_badstats.dll"));
  const e = await assertRejects(
    () => inject(pid, hookDll()),
    HeapshiftError,
    `Cannot inject heapshift.dll into process ${pid}: heapshift is loaded in it already`,
  );
  assertEquals(e.kind, "unsupported");
  assert(!has(pid, "heapshift.dll"));
});
