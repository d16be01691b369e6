// processes, findProcesses, waitForProcess, modules and eject against real
// fixture processes.
import {
  attach,
  eject,
  findProcess,
  findProcesses,
  HeapshiftError,
  inject,
  modules,
  ProcessEndedError,
  processes,
  processPath,
  quoteArg,
  stats,
  waitForProcess,
} from "../../mod.ts";
import {
  createProcess,
  INJECT_ACCESS,
  resumeThread,
  terminateProcess,
  waitSignaled,
} from "../../ffi/mod.ts";
import { openTarget } from "../../src/_target.ts";
import { loadedExportAddress, moduleImage } from "../../src/_remote_exports.ts";
import { heapshiftPresence } from "../../src/_heapshift_presence.ts";
import { importersOf } from "../../src/_importers.ts";
import { threadsInModule } from "../../src/_module_threads.ts";
import { assert, assertEquals, assertRejects, assertThrows } from "./assert.ts";
import {
  createdSuspended,
  fixture,
  hookDll,
  startTarget,
  test,
  testArches,
  uniqueCopy,
} from "./harness.ts";
import { runCli } from "../../cli/_test_utils.ts";
import { win32 } from "node:path";

const has = (pid: number, name: string) =>
  modules(pid).some((m) => m.name.toLowerCase() === name);

test("processes and findProcesses see a running target", async () => {
  await using target = await startTarget(fixture("sleeper.exe"));
  const me = processes().find((p) => p.pid === target.readyPid);
  assert(me, "processes() lists the target");
  assertEquals(me.name.toLowerCase(), "sleeper.exe");
  assert(me.threads >= 1);
  assert(findProcesses("SLEEPER").some((p) => p.pid === target.readyPid));
  assert(findProcesses("sleeper.exe").some((p) => p.pid === target.readyPid));
  const mods = modules(target.readyPid);
  assertEquals(mods[0].name.toLowerCase(), "sleeper.exe");
  assert(mods.some((m) => m.name.toLowerCase() === "kernel32.dll"));
  assert(mods.every((m) => m.base > 0n && m.size > 0 && m.path.length > 0));
});

test("waitForProcess finds a process started afterwards, which can then be injected", async () => {
  const dir = await Deno.makeTempDir({ prefix: "heapshift-wait-" });
  try {
    const name = `waitee-${crypto.randomUUID().slice(0, 8)}.exe`;
    await Deno.copyFile(fixture("sleeper.exe"), `${dir}\\${name}`);
    const waiting = waitForProcess(name, { timeout: 20_000, interval: 20 });
    await new Promise((r) => setTimeout(r, 300));
    await using target = await startTarget(`${dir}\\${name}`);
    const found = await waiting;
    assertEquals(found.pid, target.readyPid);
    assertEquals(findProcess(name).pid, target.readyPid);
    const mod = await inject(found.pid, fixture("probe.dll"));
    assertEquals(mod.name.toLowerCase(), "probe.dll");
    assert(has(found.pid, "probe.dll"));
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

testArches(
  "inject of a program found before it began initialising (created suspended, as a launcher does) waits for it, within its timeout",
  async (arch) => {
    await using copy = await uniqueCopy("sleeper.exe", arch);
    using created = createdSuspended(copy.path);
    // waitForProcess sees it at once: its loader has not run
    const found = await waitForProcess(copy.exe, { timeout: 5_000 });
    assertEquals(found.pid, created.pid);
    const probe = fixture("probe.dll", arch);
    const injecting = inject(found.pid, probe, { timeout: 20_000 });
    await new Promise((r) => setTimeout(r, 1_000));
    resumeThread(created.thread);
    const mod = await injecting;
    assertEquals(mod.name.toLowerCase(), win32.basename(probe).toLowerCase());
    assert(has(found.pid, mod.name.toLowerCase()));
  },
);

test("inject of a program created suspended and never resumed times out saying so, and loads nothing", async () => {
  await using copy = await uniqueCopy("sleeper.exe");
  using created = createdSuspended(copy.path);
  const e = await assertRejects(
    () => inject(created.pid, fixture("probe.dll"), { timeout: 500 }),
    HeapshiftError,
    `Cannot inject probe.dll into process ${created.pid}: it has not begun initialising within 500 ms (created suspended, and not resumed?); nothing was loaded`,
  );
  assertEquals(e.kind, "timeout");
  resumeThread(created.thread);
  await new Promise((r) => setTimeout(r, 500));
  assert(!has(created.pid, "probe.dll"));
});

test("waitForProcess newOnly ignores processes already running", async () => {
  // A uniquely named copy, so processes of other tests cannot match.
  const dir = await Deno.makeTempDir({ prefix: "heapshift-wait-" });
  try {
    const name = `old-${crypto.randomUUID().slice(0, 8)}.exe`;
    await Deno.copyFile(fixture("sleeper.exe"), `${dir}\\${name}`);
    await using target = await startTarget(`${dir}\\${name}`);
    assertEquals(findProcess(name).pid, target.readyPid);
    assertEquals((await waitForProcess(name)).pid, target.readyPid);
    await assertRejects(
      () => waitForProcess(name, { timeout: 200, newOnly: true }),
      HeapshiftError,
      `No process named ${name} appeared within 200 ms`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

test("findProcess, findProcesses and waitForProcess given a running program's path refuse it, naming its file name, where they found none", async () => {
  await using copy = await uniqueCopy("sleeper.exe");
  await using target = await startTarget(copy.path);
  const path = processPath(target.readyPid);
  const said = (doing: string) =>
    `Cannot ${doing} a process by the path ${path}: processes are found by their executable's file name (${copy.exe}); to tell programs of that name apart, compare processPath(pid) of each`;
  const e = assertThrows(
    () => findProcess(path),
    HeapshiftError,
    said("find"),
  );
  assertEquals(e.kind, "bad-argument");
  assertThrows(() => findProcesses(path), HeapshiftError, said("find"));
  // (it waited out its timeout, for ever without one, while the program ran)
  await assertRejects(
    () => waitForProcess(path, { timeout: 500 }),
    HeapshiftError,
    said("wait for"),
  );
  assertThrows(
    () => findProcess(copy.path.replaceAll("\\", "/")),
    HeapshiftError,
    "processes are found by their executable's file name",
  );
  assertEquals(findProcess(copy.exe).pid, target.readyPid);
});

test("findProcess with several matches is an ambiguous HeapshiftError naming the pids", async () => {
  await using copy = await uniqueCopy("sleeper.exe");
  await using a = await startTarget(copy.path);
  await using b = await startTarget(copy.path);
  const e = assertThrows(
    () => findProcess(copy.exe),
    HeapshiftError,
    `Several processes named ${copy.exe} are running (pids `,
  );
  assertEquals(e.kind, "ambiguous");
  for (const pid of [a.readyPid, b.readyPid]) {
    assert(e.message.includes(String(pid)), e.message);
  }
});

test("waitForProcess keeps its timeout and its signal while it sleeps between looks", async () => {
  const name = `never-${crypto.randomUUID().slice(0, 8)}.exe`;
  let started = Date.now();
  await assertRejects(
    () => waitForProcess(name, { timeout: 300, interval: 20_000 }),
    HeapshiftError,
    `No process named ${name} appeared within 300 ms`,
  );
  const late = Date.now() - started;
  assert(late < 5_000, `the timeout of 300 ms ended the wait after ${late} ms`);
  started = Date.now();
  await assertRejects(
    () =>
      waitForProcess(name, {
        timeout: Infinity,
        interval: 20_000,
        signal: AbortSignal.timeout(300),
      }),
    DOMException,
  );
  const aborted = Date.now() - started;
  assert(
    aborted < 5_000,
    `the abort at 300 ms ended the wait after ${aborted} ms`,
  );
});

test("eject unloads an injected DLL", async () => {
  await using target = await startTarget(fixture("sleeper.exe"));
  const pid = target.readyPid;
  await inject(pid, fixture("probe.dll"));
  assert(has(pid, "probe.dll"));
  await eject(pid, "PROBE.DLL");
  assert(!has(pid, "probe.dll"), "probe.dll is gone after eject");
  const e = await assertRejects(
    () => eject(pid, "probe.dll"),
    HeapshiftError,
    `Cannot eject probe.dll from process ${pid}: no module probe.dll is loaded in it`,
  );
  assertEquals(e.kind, "not-found");
  await assertRejects(
    () => eject(pid, "sleeper.exe"),
    HeapshiftError,
    `Cannot eject sleeper.exe from process ${pid}: sleeper.exe is the program itself, which cannot be unloaded`,
  );
  await assertRejects(
    () => eject(pid, "KERNEL32.DLL"),
    HeapshiftError,
    "is a core system DLL, which cannot be unloaded",
  );
});

test("eject finds a module by a relative path, as inject took it", async () => {
  // inject resolves a relative path against this process's directory; eject
  // said such a module was not loaded (an x86 target's found it, through
  // the System32 fallback's absolute path).
  await using target = await startTarget(fixture("sleeper.exe"));
  const pid = target.readyPid;
  const rel = win32.relative(Deno.cwd(), fixture("probe.dll"));
  assert(!win32.isAbsolute(rel) && rel.includes("\\"), rel);
  await inject(pid, rel);
  assert(has(pid, "probe.dll"));
  await eject(pid, rel);
  assert(!has(pid, "probe.dll"), "probe.dll is gone after eject");
});

test("eject by a path that no loaded module is at says where that path led, and where a module of that name is", async () => {
  // A relative path is taken against this process's directory, which may
  // not be the one the user thinks of: the message says what it became.
  await using target = await startTarget(fixture("sleeper.exe"));
  const pid = target.readyPid;
  await inject(pid, fixture("probe.dll"));
  const elsewhere = "no-such-dir\\probe.dll";
  const e = await assertRejects(
    () => eject(pid, elsewhere),
    HeapshiftError,
    `Cannot eject probe.dll from process ${pid}: no module is loaded from ${
      win32.resolve(elsewhere)
    } (from ${elsewhere}); probe.dll is loaded from ${
      fixture("probe.dll")
    }: eject it by that path, or by its name`,
  );
  assertEquals(e.kind, "not-found");
  // and by a path where no module of that name is loaded at all
  await assertRejects(
    () => eject(pid, `${win32.dirname(fixture("probe.dll"))}\\other.dll`),
    HeapshiftError,
    `Cannot eject other.dll from process ${pid}: no module is loaded from ${
      win32.dirname(fixture("probe.dll"))
    }\\other.dll`,
  );
  await eject(pid, "probe.dll");
});

test("inject of a DLL loaded already adds no reference: one eject unloads it", async () => {
  await using target = await startTarget(fixture("sleeper.exe"));
  const pid = target.readyPid;
  const first = await inject(pid, fixture("probe.dll"));
  const again = await inject(pid, fixture("probe.dll"));
  assertEquals(again.base, first.base);
  await eject(pid, "probe.dll");
  assert(!has(pid, "probe.dll"), "probe.dll is gone after one eject");
});

test("inject of a DLL named by its \\\\?\\ path, loaded already, adds no reference: one eject unloads it", async () => {
  await using target = await startTarget(fixture("sleeper.exe"));
  const pid = target.readyPid;
  const dll = `\\\\?\\${fixture("probe.dll")}`;
  const first = await inject(pid, dll);
  const again = await inject(pid, dll);
  assertEquals(again.base, first.base);
  await eject(pid, "probe.dll");
  assert(!has(pid, "probe.dll"), "probe.dll is gone after one eject");
});

test("a DLL under a path longer than MAX_PATH: its whole path, and a second inject adds no reference", async () => {
  await using target = await startTarget(fixture("sleeper.exe"));
  const pid = target.readyPid;
  const top = await Deno.makeTempDir({ prefix: "heapshift-long-" });
  try {
    let dir = top;
    while (dir.length < 300) dir += "\\" + "d".repeat(50);
    await Deno.mkdir(dir, { recursive: true });
    const dll = `${dir}\\probe.dll`;
    await Deno.copyFile(fixture("probe.dll"), dll);
    // toolhelp's module list cut such paths at 259 characters
    const first = await inject(pid, dll);
    assertEquals(first.path.toLowerCase(), dll.toLowerCase());
    const listed = modules(pid).find((m) => m.base === first.base);
    assertEquals(listed?.path.toLowerCase(), dll.toLowerCase());
    await inject(pid, dll);
    await eject(pid, dll);
    assert(!has(pid, "probe.dll"), "probe.dll is gone after one eject");
  } finally {
    // a DLL still mapped cannot be deleted: the target goes first
    await target[Symbol.asyncDispose]();
    await Deno.remove(top, { recursive: true }).catch(() => {});
  }
});

test("a second heapshift under another name is refused; a DLL the program imports is not ejected", async () => {
  await using target = await startTarget(fixture("sleeper.exe"));
  const pid = target.readyPid;
  await inject(pid, hookDll());
  const dir = await Deno.makeTempDir({ prefix: "heapshift-copy-" });
  try {
    const copy = `${dir}\\hs_copy.dll`;
    await Deno.copyFile(hookDll(), copy);
    const e = await assertRejects(
      () => inject(pid, copy),
      HeapshiftError,
      `Cannot inject hs_copy.dll into process ${pid}: heapshift is loaded in it already`,
    );
    assertEquals(e.kind, "unsupported");
    assert(!has(pid, "hs_copy.dll"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  // sleeper.exe imports the UCRT through its API sets: ucrtbase.dll
  const e = await assertRejects(
    () => eject(pid, "ucrtbase.dll"),
    HeapshiftError,
    `Cannot eject ucrtbase.dll from process ${pid}: the program imports ucrtbase.dll, so it was loaded with the program`,
  );
  assertEquals(e.kind, "unsupported");
  assert(has(pid, "ucrtbase.dll"));
});

// A block this reader cannot see (a program in another user's session): the
// loaded copy is found by its export instead.
test("a second heapshift is refused when the first has no stats block this reader can see", async () => {
  await using target = await startTarget(fixture("sleeper.exe"), {
    env: { HEAPSHIFT_TEST_FAULTS: "no-stats" },
  });
  const pid = target.readyPid;
  await inject(pid, hookDll());
  assertThrows(() => stats(pid), HeapshiftError, "has no heapshift loaded");
  const dir = await Deno.makeTempDir({ prefix: "heapshift-copy-" });
  try {
    const copy = `${dir}\\hs_copy.dll`;
    await Deno.copyFile(hookDll(), copy);
    await assertRejects(
      () => inject(pid, copy),
      HeapshiftError,
      `Cannot inject hs_copy.dll into process ${pid}: heapshift is loaded in it already (as heapshift.dll)`,
    );
    assert(!has(pid, "hs_copy.dll"));
  } finally {
    await target[Symbol.asyncDispose]();
    await Deno.remove(dir, { recursive: true });
  }
});

test("eject reports a pinned module", async () => {
  await using target = await startTarget(fixture("sleeper.exe"));
  const pid = target.readyPid;
  await inject(pid, fixture("api_pinned.dll"));
  const e = await assertRejects(
    () => eject(pid, "api_pinned.dll"),
    HeapshiftError,
    `Cannot eject api_pinned.dll from process ${pid}: it stays loaded after FreeLibrary: it is pinned`,
  );
  assertEquals(e.kind, "pinned");
  assert(has(pid, "api_pinned.dll"));
});

/** Injects heapshift.dll into `pid` and ejects it, `cycles` times: every
 * eject says it is pinned (not to pass force, which cannot unload it). */
async function assertEjectsPinned(pid: number, cycles: number) {
  for (let i = 0; i < cycles; i++) {
    await inject(pid, hookDll());
    const e = await assertRejects(
      () => eject(pid, "heapshift.dll"),
      HeapshiftError,
      `Cannot eject heapshift.dll from process ${pid}: `,
    );
    assertEquals(e.kind, "pinned", `eject ${i + 1}: ${e.message}`);
    assert(/pin/.test(e.message), e.message);
    assert(!/force/.test(e.message), e.message);
    assert(has(pid, "heapshift.dll"));
  }
}

test("inject, eject, inject again: every eject of heapshift.dll says it is pinned", async () => {
  // A script or a CLI user repeating the cycle: the first eject gives
  // heapshift's reference back, and the next ones said heapshift had not
  // loaded heapshift.dll, that the program may still call it, and to pass
  // force to unload it, which cannot: it pins itself.
  await using target = await startTarget(fixture("sleeper.exe"));
  await assertEjectsPinned(target.readyPid, 3);
  assertEquals(stats(target.readyPid).state, "live");
});

test("inject, eject, inject again: heapshift.dll that took no TLS index, or has no stats block, is said pinned by every eject", async () => {
  // heapshift.dll pins itself first at load, before its TLS index and its
  // stats block.
  await using full = await startTarget(fixture("sleeper.exe"), {
    args: ["tls-full"],
  });
  await assertEjectsPinned(full.readyPid, 2);
  // said in its stats block, as every other refusal
  const s = stats(full.readyPid);
  assertEquals([s.state, s.reason], ["failed", "tls"]);
  await using blind = await startTarget(fixture("sleeper.exe"), {
    env: { HEAPSHIFT_TEST_FAULTS: "no-stats" },
  });
  await assertEjectsPinned(blind.readyPid, 2);
  assertThrows(
    () => stats(blind.readyPid),
    HeapshiftError,
    "has no heapshift loaded",
  );
});

/**
 * api_missingdep.dll and api_adep.dll, which it imports, in one temporary
 * directory (the loader finds the dependency next to its importer); removed
 * at scope end.
 */
async function depPair(): Promise<{ dir: string } & AsyncDisposable> {
  const dir = await Deno.makeTempDir({ prefix: "heapshift-eject-" });
  for (const f of ["api_missingdep.dll", "api_adep.dll"]) {
    await Deno.copyFile(fixture(f), `${dir}\\${f}`);
  }
  return {
    dir,
    [Symbol.asyncDispose]: () =>
      Deno.remove(dir, { recursive: true }).catch(() => {}),
  };
}

test("eject refuses a DLL another loaded module imports, and unloads it after its importer", async () => {
  await using target = await startTarget(fixture("sleeper.exe"));
  const pid = target.readyPid;
  await using pair = await depPair();
  const { dir } = pair;
  await inject(pid, `${dir}\\api_missingdep.dll`);
  assert(has(pid, "api_adep.dll"), "the dependency came with it");
  const e = await assertRejects(
    () => eject(pid, "api_adep.dll"),
    HeapshiftError,
    `Cannot eject api_adep.dll from process ${pid}: api_missingdep.dll imports it, so unloading it would crash the program when api_missingdep.dll calls it; eject api_missingdep.dll first`,
  );
  assertEquals(e.kind, "unsupported");
  assert(has(pid, "api_adep.dll"), "api_adep.dll stays after the refusal");
  // The importer first: its unload drops the only reference to
  // api_adep.dll (the loader's), so that goes with it.
  await eject(pid, "api_missingdep.dll");
  assert(!has(pid, "api_missingdep.dll"));
  assert(!has(pid, "api_adep.dll"), "the dependency went with its importer");
  // Loaded on its own, nothing imports it: eject unloads it.
  await inject(pid, `${dir}\\api_adep.dll`);
  await eject(pid, "api_adep.dll");
  assert(!has(pid, "api_adep.dll"));
});

test("eject reads the imports of a module whose file is gone from its image in the process", async () => {
  await using target = await startTarget(fixture("sleeper.exe"));
  const pid = target.readyPid;
  await using pair = await depPair();
  const { dir } = pair;
  // Ours, then imported by api_missingdep.dll, whose file is then renamed
  // (a loaded DLL may be).
  await inject(pid, `${dir}\\api_adep.dll`);
  await inject(pid, `${dir}\\api_missingdep.dll`);
  await Deno.rename(`${dir}\\api_missingdep.dll`, `${dir}\\api_missingdep.old`);
  const e = await assertRejects(
    () => eject(pid, "api_adep.dll"),
    HeapshiftError,
    `Cannot eject api_adep.dll from process ${pid}: api_missingdep.dll imports it, so unloading it would crash the program when api_missingdep.dll calls it; eject api_missingdep.dll first`,
  );
  assertEquals(e.kind, "unsupported");
  // It still holds its importer's reference and ours: both unload.
  await eject(pid, "api_missingdep.dll");
  await eject(pid, "api_adep.dll");
  assert(!has(pid, "api_adep.dll"), "api_adep.dll is gone");
});

test("eject refuses a system DLL, whoever loaded it", async () => {
  await using target = await startTarget(fixture("sleeper.exe"));
  const pid = target.readyPid;
  // Windows' own DLLs are loaded for the program or for each other, also
  // through API sets and forwarders no import table names.
  const root = Deno.env.get("SystemRoot") ?? "C:\\windows";
  await inject(pid, `${root}\\system32\\version.dll`);
  const e = await assertRejects(
    () => eject(pid, "version.dll"),
    HeapshiftError,
    `Cannot eject version.dll from process ${pid}: version.dll is a system DLL`,
  );
  assertEquals(e.kind, "unsupported");
  assert(has(pid, "version.dll"));
});

test({
  name: "inject reports a target that crashes while the DLL loads",
  crashes: "api_crash.dll ends the target in a fail-fast, on purpose",
  async fn() {
    await using target = await startTarget(fixture("sleeper.exe"));
    const pid = target.readyPid;
    const e = await assertRejects(
      () => inject(pid, fixture("api_crash.dll")),
      HeapshiftError,
      `Cannot inject api_crash.dll into process ${pid}: the process crashed (0xC0000409, stack buffer overrun / fail-fast) while LoadLibraryW ran`,
    );
    // A kind of its own: a script tells "the program died" from a failure.
    assertEquals(e.kind, "ended");
    assert(e.cause instanceof ProcessEndedError, `cause: ${e.cause}`);
    assertEquals(e.cause.exitCode, 0xC0000409);
    assertEquals(e.cause.crash, "0xC0000409, stack buffer overrun / fail-fast");
  },
});

test({
  name:
    "the CLI's inject of a target that crashes while the DLL loads says how it ended, exit code 1",
  crashes: "api_crash.dll ends the target in a fail-fast, on purpose",
  async fn() {
    await using target = await startTarget(fixture("sleeper.exe"));
    const pid = target.readyPid;
    const dll = fixture("api_crash.dll");
    const r = await runCli(["inject", String(pid), "--dll", dll]);
    assertEquals(r.code, 1, r.stderr);
    assertEquals(
      r.stderr.trim(),
      `error: Cannot inject api_crash.dll into process ${pid}: the process crashed (0xC0000409, stack buffer overrun / fail-fast) while LoadLibraryW ran`,
    );
  },
});

test("modules of a process that has exited, its handle still held, says it exited", async () => {
  const exe = fixture("sleeper.exe");
  const created = createProcess(exe, quoteArg(exe), { stdio: "none" });
  try {
    terminateProcess(created.process, 7);
    await waitSignaled(created.process, 10_000);
    const e = assertThrows(
      () => modules(created.pid),
      HeapshiftError,
      `Cannot list the modules of process ${created.pid}: the process exited (code 7) meanwhile`,
    );
    assertEquals(e.kind, "ended");
    assert(e.cause instanceof ProcessEndedError, `cause: ${e.cause}`);
    assertEquals(e.cause.exitCode, 7);
  } finally {
    created.process.close();
    created.thread.close();
  }
});

// Reads of a target's memory outside a remote call (a module's image: its
// exports, its imports, whether it is heapshift; its code, for eject's look
// at threads) of a target that has ended, its handle still held: as
// deterministic a stand-in as there is for a target that ends between two
// steps of inject or eject. Its module list is taken while it runs.
test("reads of a target's memory after it has ended say so: kind ended, its exit code the cause's", async () => {
  await using target = await startTarget(fixture("sleeper.exe"));
  const pid = target.readyPid;
  using t = openTarget(pid, { access: INJECT_ACCESS, doing: "look into" });
  const list = modules(pid);
  const exe = list[0];
  {
    using held = attach(pid);
    held.kill(7);
    assertEquals(await held.wait({ timeout: 10_000 }), 7);
  }
  // Each read: what it threw (kind, message, exit code of the cause) or
  // returned; all four are looked at, whatever the first gives.
  const outcome = (fn: () => unknown) => {
    try {
      return `returned ${Deno.inspect(fn(), { depth: 1 })}`;
    } catch (e) {
      if (!(e instanceof HeapshiftError)) throw e;
      const cause = e.cause instanceof ProcessEndedError
        ? `, exit code ${e.cause.exitCode}, crash ${e.cause.crash}`
        : "";
      return `${e.kind}: ${e.message}${cause}`;
    }
  };
  const ended =
    `ended: Cannot look into process ${pid}: the process exited (code 7) meanwhile, exit code 7, crash undefined`;
  // The imports of a module whose file is gone (renamed since it loaded)
  // are read from its image, which the process took with it.
  const renamed = { ...exe, path: `${exe.path}.gone` };
  assertEquals(
    {
      // the export table of a loaded module (an x86 target's kernel32, a
      // DLL heapshift calls into)
      exports: outcome(() =>
        loadedExportAddress(t, { dll: exe.path, fn: "main" }, {
          modules: list,
        })
      ),
      // whether heapshift is loaded under another name
      presence: outcome(() => heapshiftPresence(t, { modules: list })),
      importers: outcome(() =>
        importersOf([renamed, list[1]], list[1], {
          image: (m) => moduleImage(t, m),
        })
      ),
      // eject's look at the threads running a module's code
      threads: outcome(() => threadsInModule(t, list[1])),
    },
    { exports: ended, presence: ended, importers: ended, threads: ended },
  );
});
