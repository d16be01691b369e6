// launch(): DLLs added to the suspended program's import table initialise
// before any of its own code (TLS callback, CRT start-up, main).
import {
  HeapshiftError,
  launch,
  type LaunchOptions,
  modules,
  processes,
  stats,
} from "../../mod.ts";
import { assert, assertEquals, assertRejects, assertThrows } from "./assert.ts";
import {
  errorMode,
  openProcess,
  PROCESS,
  SEM,
  terminateProcess,
} from "../../ffi/mod.ts";
import { pathToFileURL } from "node:url";
import {
  fixture,
  hookDll,
  repoPath,
  test,
  UNDER_WINE,
  uniqueCopy,
} from "./harness.ts";
import { slowMark, untilGone } from "./slow_mark.ts";
import { runCli } from "../../cli/_test_utils.ts";

test("launch loads the DLL before the program's own code", async () => {
  const dir = await Deno.makeTempDir({ prefix: "heapshift-launch-" });
  try {
    const out = `${dir}\\out.txt`;
    using proc = await launch(fixture("api_launchee.exe"), {
      args: [out],
      dlls: [fixture("api_early.dll")],
    });
    assert(proc.pid > 0);
    assertEquals(await proc.wait({ timeout: 30_000 }), 7);
    const text = await Deno.readTextFile(out);
    assert(text.includes("early_loaded=1"), text);
    // The DLL saw none of the program's own start-up yet.
    assert(text.includes("attached=1 tls=0 crt=0 main=0"), text);
    assert(text.includes("first_block=1"), text);
    // …and that those flags do get set by the program itself.
    assert(text.includes("self tls=1 crt=1"), text);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

test("launch passes arguments, environment and working directory", async () => {
  const dir = await Deno.makeTempDir({ prefix: "heapshift-launch-" });
  try {
    const out = `${dir}\\out.txt`;
    using proc = await launch(fixture("api_launchee.exe"), {
      args: [out, "two words", 'a "quoted" arg', "trailing\\"],
      env: { HEAPSHIFT_API_TAG: "tag-42" },
      cwd: dir,
    });
    assertEquals(await proc.wait({ timeout: 30_000 }), 7);
    const lines = (await Deno.readTextFile(out)).split(/\r?\n/);
    assert(lines.includes("early_loaded=0"), lines.join("\n"));
    assert(lines.includes("tag=tag-42"), lines.join("\n"));
    assertEquals(
      lines.filter((l) => l.startsWith("arg=")),
      ["arg=two words", 'arg=a "quoted" arg', "arg=trailing\\"],
    );
    const cwd = lines.find((l) => l.startsWith("cwd="))!.slice(4);
    assertEquals(cwd.toLowerCase().replace(/\\$/, ""), dir.toLowerCase());
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

test("launch reports a DLL that cannot load in the program", async () => {
  // Program and DLL in a directory without the DLL's dependency.
  const dir = await Deno.makeTempDir({ prefix: "heapshift-launch-" });
  try {
    await Deno.copyFile(fixture("sleeper.exe"), `${dir}\\sleeper.exe`);
    const dll = `${dir}\\api_missingdep.dll`;
    await Deno.copyFile(fixture("api_missingdep.dll"), dll);
    const e = await assertRejects(
      () => launch(`${dir}\\sleeper.exe`, { dlls: [dll], errorDialogs: false }),
      HeapshiftError,
      `Cannot launch ${dir}\\sleeper.exe with api_missingdep.dll: the program's loader stopped it with 0xC0000135: a DLL it needs was not found (STATUS_DLL_NOT_FOUND); missing: api_adep.dll`,
    );
    assertEquals(e.kind, "load-failed");
    await assertRejects(
      () =>
        launch(fixture("sleeper.exe"), {
          dlls: [fixture("api_initfail.dll")],
          errorDialogs: false,
        }),
      HeapshiftError,
      `Cannot launch ${
        fixture("sleeper.exe")
      } with api_initfail.dll: the program's loader stopped it with 0xC0000142: a DLL failed to initialise`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

test("launch with an aborted signal stops the program and rejects with the signal's reason", async () => {
  const running = () =>
    processes().filter((p) => p.name.toLowerCase() === "sleeper.exe")
      .map((p) => p.pid);
  const before = new Set(running());
  // Its DLL takes 5 s to initialise: the abort lands while launch checks.
  const dir = await Deno.makeTempDir();
  const mark = slowMark(dir, "launch");
  const ac = new AbortController();
  const pending = launch(fixture("sleeper.exe"), {
    dlls: [fixture("api_slow.dll")],
    env: mark.env,
    signal: ac.signal,
  });
  const reason = new Error("the user pressed Ctrl+C");
  setTimeout(() => ac.abort(reason), 500);
  const e = await assertRejects(() => pending, Error, "pressed Ctrl+C");
  assert(e === reason, `rejected with ${e}`);
  // The program it started is gone (waited for: the kill is asynchronous).
  for (let i = 0; running().some((p) => !before.has(p)); i++) {
    assert(i < 100, "the launched program is still running");
    await new Promise((r) => setTimeout(r, 50));
  }
  // ... before its DLL finished: launch did not wait for it (told by the
  // DLL's mark, where a bound on the time taken fails under load)
  const lines = await mark.lines();
  await Deno.remove(dir, { recursive: true });
  assert(!lines.includes("done"), "launch waited for the DLL anyway");
  // Aborted before the call: nothing is started.
  await assertRejects(
    () =>
      launch(fixture("sleeper.exe"), {
        dlls: [fixture("probe.dll")],
        signal: AbortSignal.abort(reason),
      }),
    Error,
    "pressed Ctrl+C",
  );
  assertEquals(running().filter((p) => !before.has(p)), []);
});

test("launch returns once the DLL is in a long-running program", async () => {
  using proc = await launch(fixture("sleeper.exe"), {
    dlls: [fixture("probe.dll")],
  });
  try {
    assertEquals(proc.exitCode(), undefined);
    assert(
      modules(proc.pid).some((m) => m.name.toLowerCase() === "probe.dll"),
    );
  } finally {
    proc.kill();
    assertEquals(await proc.wait({ timeout: 10_000 }), 1);
  }
});

test("launch of a program that ends threads it did not start: the check's thread ended is no failure, and the program runs on", async () => {
  // api_threadguard.dll ends every later thread in its DLL_THREAD_ATTACH,
  // also the one launch checks the DLLs with: the program, its imports
  // loaded, runs on.
  using proc = await launch(fixture("sleeper.exe"), {
    dlls: [fixture("api_threadguard.dll")],
  });
  try {
    assertEquals(proc.exitCode(), undefined);
    assert(
      modules(proc.pid).some((m) =>
        m.name.toLowerCase() === "api_threadguard.dll"
      ),
    );
  } finally {
    proc.kill();
    await proc.wait({ timeout: 10_000 });
  }
});

test("launch refuses arguments, environment and timeouts it cannot pass on, before starting anything", async () => {
  const dir = await Deno.makeTempDir({ prefix: "heapshift-launch-" });
  try {
    // A copy under a name of its own, so a started process would show.
    const exe = `${dir}\\hs-badarg-sleeper.exe`;
    await Deno.copyFile(fixture("sleeper.exe"), exe);
    const cases: [LaunchOptions, string][] = [
      [{ args: ["a\0b", "c"] }, "argument 1 contains a NUL character"],
      [{ env: { "A=B": "c" } }, '"A=B" is not an environment variable name'],
      [{ env: { "": "c" } }, '"" is not an environment variable name'],
      [{ env: { TAG: "x\0y" } }, "the value of TAG contains a NUL character"],
      [{ timeout: 0 }, "the timeout must be a positive number"],
      [{ timeout: -1 }, "the timeout must be a positive number"],
      [{ timeout: NaN }, "the timeout must be a positive number"],
      [{ cwd: "C:\\Windows\0x" }, "its working directory contains a NUL"],
      [{ args: ["x".repeat(40_000)] }, "Windows takes at most 32767"],
    ];
    for (const [options, text] of cases) {
      const e = await assertRejects(
        () => launch(exe, { ...options, dlls: [fixture("probe.dll")] }),
        HeapshiftError,
        text,
      );
      assertEquals(e.kind, "bad-argument", e.message);
    }
    assert(
      !processes().some((p) =>
        p.name.toLowerCase() === "hs-badarg-sleeper.exe"
      ),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

test("launch names a working directory that does not exist", async () => {
  const cwd = "C:\\no\\such\\heapshift\\dir";
  const e = await assertRejects(
    () => launch(fixture("sleeper.exe"), { cwd }),
    HeapshiftError,
    `its working directory ${cwd} does not exist or is not a directory`,
  );
  assertEquals(e.kind, "not-found");
});

test("a LaunchedProcess: wait checks its timeout, kill takes signed codes, and use after close is a HeapshiftError", async () => {
  const proc = await launch(fixture("sleeper.exe"), { stdio: "none" });
  try {
    const bad = await assertRejects(
      () => proc.wait({ timeout: -5 }),
      HeapshiftError,
      "the timeout must be a positive number",
    );
    assertEquals(bad.kind, "bad-argument");
    // 0 polls once: still running
    await assertRejects(() => proc.wait({ timeout: 0 }), HeapshiftError);
    assertThrows(() => proc.kill(1.5), HeapshiftError, "32-bit integer");
    assertThrows(() => proc.kill(2 ** 32), HeapshiftError, "32-bit integer");
    proc.kill(-1);
    assertEquals(await proc.wait({ timeout: 10_000 }), 0xffffffff);
  } finally {
    proc.close();
  }
  for (
    const [use, doing] of [
      [() => proc.exitCode(), "read the exit code of"],
      [() => proc.kill(), "kill"],
    ] as const
  ) {
    const e = assertThrows(
      use,
      HeapshiftError,
      `Cannot ${doing} process ${proc.pid}: this LaunchedProcess was closed`,
    );
    assertEquals(e.kind, "bad-argument");
  }
  const e = await assertRejects(
    () => proc.wait(),
    HeapshiftError,
    "was closed",
  );
  assertEquals(e.kind, "bad-argument");
});

test("launch takes an unlimited timeout; a wait pending when the handle is closed says so", async () => {
  const proc = await launch(fixture("sleeper.exe"), {
    stdio: "none",
    dlls: [fixture("probe.dll")],
    timeout: Infinity,
  });
  const pid = proc.pid;
  try {
    const pending = proc.wait();
    proc.close();
    const e = await assertRejects(() => pending, HeapshiftError, "was closed");
    assertEquals(e.kind, "bad-argument");
  } finally {
    proc.close();
    // the program, by pid: its handle is gone
    using p = openProcess(pid, PROCESS.TERMINATE);
    terminateProcess(p, 1);
  }
});

/**
 * An inheritable event in this process, as a handle Deno itself inherited
 * (a parent's pipe) would be, or a pipe end Deno.Command marks inheritable
 * while it starts a process on another thread; and kernel32 with the
 * standard-handle calls. Disposing closes both.
 */
function inheritableEvent() {
  const lib = Deno.dlopen("kernel32.dll", {
    CreateEventW: {
      parameters: ["buffer", "i32", "i32", "pointer"],
      result: "pointer",
    },
    CloseHandle: { parameters: ["pointer"], result: "i32" },
    GetStdHandle: { parameters: ["u32"], result: "pointer" },
    SetStdHandle: { parameters: ["u32", "pointer"], result: "i32" },
  });
  const sa = new Uint8Array(24); // SECURITY_ATTRIBUTES: nLength, lpSD, bInherit
  new DataView(sa.buffer).setUint32(0, 24, true);
  new DataView(sa.buffer).setUint32(16, 1, true);
  const event = lib.symbols.CreateEventW(sa, 1, 0, null);
  assert(event !== null, "CreateEventW");
  return {
    lib,
    event,
    [Symbol.dispose]() {
      lib.symbols.CloseHandle(event);
      lib.close();
    },
  };
}

test("launch passes the program none of our inheritable handles but its standard ones, with stdio inherit or none", async () => {
  // An inheritable handle in this process, as one Deno itself inherited
  // (a parent's pipe) would be, or a pipe end Deno.Command marks
  // inheritable while it starts a process on another thread: a program
  // that inherited it would hold that pipe open (a reader of it waits for
  // the program's end).
  using handles = inheritableEvent();
  const { event } = handles;
  const dir = await Deno.makeTempDir({ prefix: "heapshift-launch-" });
  try {
    const value = Deno.UnsafePointer.value(event);
    const seen = async (stdio: "none" | "inherit") => {
      const out = `${dir}\\${stdio}.txt`;
      using proc = await launch(fixture("api_launchee.exe"), {
        args: [out, `--handle=${value}`],
        stdio,
      });
      assertEquals(await proc.wait({ timeout: 30_000 }), 7);
      return (await Deno.readTextFile(out)).match(/handle_open=(\d)/)?.[1];
    };
    // the test sees what it checks: Deno.Command passes it on
    const control = `${dir}\\control.txt`;
    const direct = await new Deno.Command(fixture("api_launchee.exe"), {
      args: [control, `--handle=${value}`],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).output();
    assertEquals(direct.code, 7);
    assertEquals(
      (await Deno.readTextFile(control)).match(/handle_open=(\d)/)?.[1],
      "1",
    );
    assertEquals(await seen("inherit"), "0");
    assertEquals(await seen("none"), "0");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

test("launch passes the program none of our inheritable handles when we have no standard handles to give it (stdio inherit)", async () => {
  // A process without standard handles (a GUI parent's child, a detached
  // one): nothing to list, and the program must still not inherit every
  // inheritable handle of ours.
  using handles = inheritableEvent();
  const { event, lib } = handles;
  const dir = await Deno.makeTempDir({ prefix: "heapshift-launch-" });
  const ids = [-10, -11, -12].map((id) => id >>> 0);
  const saved = ids.map((id) => lib.symbols.GetStdHandle(id));
  try {
    const out = `${dir}\\nostd.txt`;
    let launching;
    try {
      ids.forEach((id) => lib.symbols.SetStdHandle(id, null));
      // (launch starts the program before its first await)
      launching = launch(fixture("api_launchee.exe"), {
        args: [out, `--handle=${Deno.UnsafePointer.value(event)}`],
      });
    } finally {
      ids.forEach((id, i) => lib.symbols.SetStdHandle(id, saved[i]));
    }
    using proc = await launching;
    assertEquals(await proc.wait({ timeout: 30_000 }), 7);
    assertEquals(
      (await Deno.readTextFile(out)).match(/handle_open=(\d)/)?.[1],
      "0",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * Writes a script at `path` that launches `copy` with `dll` through
 * mod.ts (`options` its extra launch options, `then` code after it), and
 * returns that copy's running processes, and a kill of each, for checks.
 */
async function launcherScript(
  path: string,
  copy: { path: string; exe: string },
  options: { dll: string; launch?: string; then?: string },
) {
  await Deno.writeTextFile(
    path,
    `import { launch } from ${
      JSON.stringify(pathToFileURL(repoPath("mod.ts")).href)
    };\n` +
      `await launch(${JSON.stringify(copy.path)}, { dlls: [${
        JSON.stringify(options.dll)
      }], stdio: "none"${options.launch ?? ""} });\n` +
      (options.then ?? ""),
  );
  const running = () =>
    processes().filter((p) => p.name.toLowerCase() === copy.exe.toLowerCase());
  const killAll = () => {
    for (const p of running()) {
      using h = openProcess(p.pid, PROCESS.TERMINATE);
      terminateProcess(h, 1);
    }
  };
  return { running, killAll };
}

test("a program whose DLLs are not yet confirmed ends with heapshift when heapshift is killed (no half-started program left behind)", async () => {
  await using copy = await uniqueCopy("sleeper.exe");
  const script = `${Deno.makeTempDirSync()}\\launcher.ts`;
  // Its DLL takes 5 s to initialise: heapshift is killed while it waits.
  const { running, killAll } = await launcherScript(script, copy, {
    dll: fixture("api_slow.dll"),
    launch: ", timeout: 60_000",
  });
  const mark = slowMark(script.replace(/\\launcher\.ts$/, ""), "launch");
  const heapshift = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--no-check", script],
    env: mark.env,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    for (let i = 0; running().length === 0; i++) {
      assert(i < 600, "the program was never started");
      await new Promise((r) => setTimeout(r, 50));
    }
    await new Promise((r) => setTimeout(r, 500));
    assertEquals(running().length, 1);
  } finally {
    heapshift.kill("SIGKILL");
    await heapshift.status;
  }
  try {
    // gone before its DLL finished initialising (told by the DLL's mark,
    // where a bound on the time taken fails under load)
    await untilGone(copy.exe);
    assert(
      !(await mark.lines()).includes("done"),
      "the launched program outlived heapshift",
    );
  } finally {
    killAll();
    await Deno.remove(script.replace(/\\launcher\.ts$/, ""), {
      recursive: true,
    });
  }
});

test("a launched program whose DLLs are confirmed outlives heapshift, killed or ended", async () => {
  await using copy = await uniqueCopy("sleeper.exe");
  const dir = Deno.makeTempDirSync();
  let killAll = () => {};
  try {
    for (const end of ["killed", "exits"]) {
      const script = `${dir}\\launcher_${end}.ts`;
      const launched = await launcherScript(script, copy, {
        dll: fixture("probe.dll"),
        then: `console.log("launched");\n` +
          (end === "killed" ? `setInterval(() => {}, 1000);\n` : ""),
      });
      const { running } = launched;
      killAll = launched.killAll;
      const heapshift = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "--no-check", script],
        stdin: "null",
        stdout: "piped",
        stderr: "inherit",
      }).spawn();
      const reader = heapshift.stdout.pipeThrough(new TextDecoderStream())
        .getReader();
      let out = "";
      while (!out.includes("launched")) {
        const { value, done } = await reader.read();
        if (done) break;
        out += value;
      }
      reader.releaseLock();
      assert(out.includes("launched"), out);
      if (end === "killed") heapshift.kill("SIGKILL");
      await heapshift.stdout.cancel().catch(() => {});
      await heapshift.status;
      await new Promise((r) => setTimeout(r, 500));
      assertEquals(running().length, 1, `heapshift ${end}`);
      killAll();
      for (let i = 0; running().length > 0 && i < 100; i++) {
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  } finally {
    killAll();
    await Deno.remove(dir, { recursive: true });
  }
});

test("launch passes hard arguments through unchanged, to a program whose path has spaces", async () => {
  const dir = await Deno.makeTempDir({ prefix: "heapshift launch " });
  try {
    const exe = `${dir}\\my program.exe`;
    await Deno.copyFile(fixture("api_launchee.exe"), exe);
    const out = `${dir}\\out file.txt`;
    const args = [
      "",
      " ",
      "\t",
      "a\tb",
      '"',
      '""',
      '\\"',
      '\\\\"',
      "\\",
      "\\\\",
      "a\\\\b c\\",
      'x"y z"\\',
      "'single' ^&|<>%PATH%",
      "",
    ];
    using proc = await launch(exe, { args: [out, ...args] });
    assertEquals(await proc.wait({ timeout: 30_000 }), 7);
    const lines = (await Deno.readTextFile(out)).split(/\r?\n/);
    assertEquals(
      lines.filter((l) => l.startsWith("arg=")).map((l) => l.slice(4)),
      args,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

test("launch takes a DLL under a folder whose name is not ASCII (a compiled binary extracts it under the user's profile, which may be)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "heapshift-José-" });
  try {
    const sub = `${dir}\\Müller Ünïcode`;
    await Deno.mkdir(sub);
    const dll = `${sub}\\probe.dll`;
    await Deno.copyFile(fixture("probe.dll"), dll);
    using proc = await launch(fixture("sleeper.exe"), {
      stdio: "none",
      dlls: [dll],
    });
    try {
      assert(
        modules(proc.pid).some((m) => m.name.toLowerCase() === "probe.dll"),
      );
    } finally {
      proc.kill();
      await proc.wait({ timeout: 10_000 });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

test("launch takes heapshift into a program on another C runtime: a UCRT plugin it loads later is taken over from its first allocation", async () => {
  // On msvcrt.dll, as rundll32, dllhost or a MinGW program: its own files
  // use no UCRT, but nothing says that no module it loads ever will. One
  // loaded by LoadLibrary allocates through the ucrtbase.dll heapshift hooked
  // at the start (refusing it stopped a launch that works).
  const exe = fixture("api_msvcrt_host.exe");
  using proc = await launch(exe, {
    args: [fixture("api_ucrt_plugin.dll"), "plugin_work"],
    dlls: [hookDll()],
    stdio: "none",
  });
  try {
    const deadline = Date.now() + 10_000;
    let allocs = 0;
    while (Date.now() < deadline) {
      const s = stats(proc.pid);
      allocs = s?.counters.allocs ?? 0;
      if (s?.state === "live" && allocs >= 20) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assertEquals(stats(proc.pid)?.state, "live");
    assert(allocs >= 20, `the plugin's mallocs reached heapshift: ${allocs}`);
  } finally {
    proc.kill();
  }
});

// A program inherits its parent's error mode (a CI agent or a service may
// have turned the dialogs off for what it starts): so does one launch
// starts, unless told errorDialogs: true (Windows' default, as Explorer
// gives) or false (none of the loader's and crash boxes, which would hang
// a script no one watches). api_errormode.exe exits with the mode it was
// started with; this process's has the dialogs off (harness.ts), so on
// Windows a program that inherited it says 3. Wine 10 passes no error mode
// on: each of its processes starts with 0 (ntdll's process_error_mode),
// and kernelbase's CreateProcess ignores CREATE_DEFAULT_ERROR_MODE, so
// there the program gets 0 either way.
test("launch: the program inherits this process's error mode, errorDialogs: true gives Windows' default, false no error boxes", async () => {
  const ours = errorMode();
  const modeOf = async (options: LaunchOptions) => {
    using proc = await launch(fixture("api_errormode.exe"), {
      ...options,
      stdio: "none",
    });
    return await proc.wait({ timeout: 30_000 });
  };
  assertEquals(
    {
      unsaid: await modeOf({}),
      on: await modeOf({ errorDialogs: true }),
      off: await modeOf({ errorDialogs: false }),
    },
    {
      unsaid: UNDER_WINE ? 0 : ours,
      on: 0,
      off: UNDER_WINE ? 0 : SEM.FAILCRITICALERRORS | SEM.NOGPFAULTERRORBOX,
    },
  );
  assertEquals(errorMode(), ours, "this process's error mode is as it was");
});

// The CLI's launch takes the option as --[no-]error-dialogs (its exit code,
// with --wait-exit, is the program's: the mode it was started with; the
// CLI's own is this process's, dialogs off on Windows).
test("cli: launch --[no-]error-dialogs: the program inherits the CLI's error mode unless told", async () => {
  const run = async (...more: string[]) => {
    const r = await runCli([
      "launch",
      fixture("api_errormode.exe"),
      "--dll",
      fixture("probe.dll"),
      "--wait-exit",
      ...more,
    ]);
    return {
      code: r.code,
      stderr: r.stderr.includes("error:") ? r.stderr : "",
    };
  };
  const off = UNDER_WINE ? 0 : SEM.FAILCRITICALERRORS | SEM.NOGPFAULTERRORBOX;
  assertEquals(
    {
      unsaid: await run(),
      on: await run("--error-dialogs"),
      off: await run("--no-error-dialogs"),
    },
    {
      unsaid: { code: off, stderr: "" },
      on: { code: 0, stderr: "" },
      off: { code: off, stderr: "" },
    },
  );
});

// inject of an executable that is not running launches it: the same
// option, for the same reason (a program that fails to load would wait on a
// box until --timeout stops it).
test("cli: inject of an executable takes --[no-]error-dialogs", async () => {
  await using copy = await uniqueCopy("sleeper.exe");
  for (const option of ["--no-error-dialogs", "--error-dialogs"]) {
    const r = await runCli([
      "inject",
      copy.path,
      "--dll",
      fixture("probe.dll"),
      option,
      "--json",
    ]);
    assertEquals(r.code, 0, `${option}: ${r.stderr}`);
    const report = JSON.parse(r.stdout) as { pid: number; launched: boolean };
    try {
      assertEquals(report.launched, true);
    } finally {
      Deno.kill(report.pid, "SIGKILL");
    }
  }
});

// With the dialogs on, a program whose DLL is not found (or fails to
// initialise) waits for a click on Windows' box before it ends, and launch
// can only time out: its message says so, and how to get the loader's
// error instead. (api_slow.dll's DllMain sleeps 5 s: over the timeout.)
test("a launch that times out says a Windows error box may be what it waited for, unless the dialogs are off (errorDialogs: false, or inherited off)", async () => {
  await using copy = await uniqueCopy("sleeper.exe");
  const dir = copy.path.replace(/\\[^\\]+$/, "");
  const messageOf = async (options: LaunchOptions, name: string) => {
    const mark = slowMark(dir, name);
    const e = await assertRejects(
      () =>
        launch(copy.path, {
          dlls: [fixture("api_slow.dll")],
          env: mark.env,
          timeout: 300,
          ...options,
        }),
      HeapshiftError,
      `Cannot launch ${copy.path} with api_slow.dll: the program did not finish loading them within 300 ms (it was stopped)`,
    );
    await untilGone(copy.exe);
    return e.message;
  };
  const hint =
    "; if Windows showed it an error box (a DLL not found, or one that failed to initialise), that box waits for a click: launch it with errorDialogs: false (--no-error-dialogs on the command line) to have the loader's error reported instead";
  assert(
    (await messageOf({ errorDialogs: true }, "on")).endsWith(hint),
    "with the dialogs on",
  );
  assert(
    !(await messageOf({ errorDialogs: false }, "off")).includes("error box"),
    "with the dialogs off",
  );
  // Unsaid, the program inherits this process's mode, which has the loader's
  // box off (harness.ts): no box can be what it waited for, and
  // --no-error-dialogs would change nothing.
  assert((errorMode() & SEM.FAILCRITICALERRORS) !== 0, "the harness's mode");
  assert(
    !(await messageOf({}, "inherited")).includes("error box"),
    "with the dialogs off by inheritance",
  );
});
