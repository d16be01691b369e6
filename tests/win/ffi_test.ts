// ffi/: struct layouts, Win32Error text, handles, remote memory and remote
// calls, against this process and a fixture target.
import {
  callRemote,
  debugPrivilege,
  errorMode,
  FILE_ATTRIBUTE,
  formatMessage,
  getFileAttributes,
  Handle,
  INJECT_ACCESS,
  isProtectedProcess,
  keepFileAttributes,
  kernel32,
  MACHINE,
  MEM,
  moduleEntries,
  openProcess,
  openThread,
  PAGE,
  procAddress,
  PROCESS,
  processEntries,
  processImageMachine,
  processImagePath,
  processMachine,
  readWide,
  RemoteMemory,
  SEM,
  THREAD,
  threadIds,
  threadStartAddress,
  wide,
  Win32Error,
} from "../../ffi/mod.ts";
import { assert, assertEquals, assertThrows } from "./assert.ts";
import { fixture, startTarget, test, UNDER_WINE } from "./harness.ts";
import { runProgram } from "../../cli/_test_utils.ts";
import { exportAddress } from "../../src/_remote_exports.ts";
import { openTarget } from "../../src/_target.ts";
import { targetModules } from "../../src/module_list.ts";

const NO_PID = 0x7fff_fff0;

test("Win32Error carries the call, the code and the system's text", () => {
  const e = assertThrows(
    () => openProcess(NO_PID, PROCESS.QUERY_LIMITED_INFORMATION),
    Win32Error,
  );
  assertEquals(e.name, "Win32Error");
  assertEquals(e.call, "OpenProcess");
  assertEquals(e.code, 87);
  assertEquals(e.text, formatMessage(87));
  assert(e.text.length > 0 && !e.text.endsWith("\n"));
  assertEquals(e.message, `OpenProcess failed: ${e.text} (error 87)`);
  assert(/denied/i.test(formatMessage(5)), formatMessage(5));
  // ERROR_BAD_EXE_FORMAT's text has an insert ("%1 is not a valid Win32
  // application", Wine's "Bad EXE format for %1."): filled, never shown raw.
  assert(!formatMessage(193).includes("%"), formatMessage(193));
  assert(formatMessage(193).includes("the file"), formatMessage(193));
  const named = formatMessage(193, { insert: "x.dll" });
  assert(named.includes("x.dll") && !named.includes("%"), named);
});

test("toolhelp: PROCESSENTRY32W and MODULEENTRY32W decode", () => {
  const me = processEntries().find((p) => p.pid === Deno.pid);
  assert(me, "this process is listed");
  assertEquals(me.exeFile.toLowerCase(), "deno.exe");
  assert(me.threads > 0);
  const mods = moduleEntries(Deno.pid);
  assertEquals(mods[0].path.toLowerCase(), Deno.execPath().toLowerCase());
  const k32 = mods.find((m) => m.name.toLowerCase() === "kernel32.dll");
  assert(k32, "kernel32.dll is listed");
  const loadLibrary = procAddress("kernel32.dll", "LoadLibraryW");
  assert(
    loadLibrary >= k32.base && loadLibrary < k32.base + BigInt(k32.size),
    "LoadLibraryW lies inside kernel32's image",
  );
});

test("process queries: the machine type info of an x64 and an x86 process (Windows 11's ProcessMachineTypeInfo, which Wine answers too)", async () => {
  await using x86 = await startTarget(fixture("sleeper.exe", "x86"));
  using self = openProcess(Deno.pid, PROCESS.QUERY_LIMITED_INFORMATION);
  using other = openProcess(x86.readyPid, PROCESS.QUERY_LIMITED_INFORMATION);
  assertEquals(processImageMachine(self), MACHINE.AMD64);
  assertEquals(processImageMachine(other), MACHINE.I386);
  assertEquals(processMachine(other).process, MACHINE.I386);
});

test("process queries: machine and image path", () => {
  using self = openProcess(Deno.pid, PROCESS.QUERY_LIMITED_INFORMATION);
  assertEquals(processMachine(self).process, MACHINE.AMD64);
  assertEquals(
    processImagePath(self).toLowerCase(),
    Deno.execPath().toLowerCase(),
  );
});

test("threads: a process's thread ids, and where a thread began", async () => {
  // sleeper.exe's one thread began at its entry point, inside its image.
  await using target = await startTarget(fixture("sleeper.exe"));
  const pid = target.readyPid;
  const tids = threadIds(pid);
  assert(tids.length >= 1, `threads of ${pid}: ${tids}`);
  const exe = moduleEntries(pid)[0];
  const starts = tids.map((tid) => {
    using t = openThread(tid, THREAD.QUERY_INFORMATION);
    return threadStartAddress(t);
  });
  assert(
    starts.some((s) => s >= exe.base && s < exe.base + BigInt(exe.size)),
    `a thread began in ${exe.name}: ${starts.map((s) => s.toString(16))}`,
  );
  assertThrows(
    () => openThread(0x7fff_fff0, THREAD.QUERY_INFORMATION),
    Win32Error,
  );
});

test("SeDebugPrivilege can be enabled, then set back (Wine's token holds it, as an elevated one does); this process is not protected", () => {
  if (UNDER_WINE) {
    using held = debugPrivilege();
    assert(held !== undefined);
    using again = debugPrivilege(); // enabled now: left so on dispose
    assert(again !== undefined);
  }
  assert(isProtectedProcess(Deno.pid) !== true);
  assertEquals(isProtectedProcess(NO_PID), undefined);
});

test("Handle closes once and refuses use afterwards", () => {
  const h = openProcess(Deno.pid, PROCESS.QUERY_LIMITED_INFORMATION);
  assert(!h.closed);
  h.close();
  h.close();
  assert(h.closed);
  const e = assertThrows(() => h.raw, Win32Error, "already closed");
  assertEquals(e.code, 6); // ERROR_INVALID_HANDLE, as the system says
});

test("wide strings round-trip", () => {
  const s = "C:\\Ünïcødé\\路径\\heapshift.dll";
  const w = wide(s);
  assertEquals(w[w.length - 1], 0);
  assertEquals(readWide(new Uint8Array(w.buffer)), s);
});

test("remote memory and remote calls in a target", async () => {
  await using target = await startTarget(fixture("sleeper.exe"));
  using process = openProcess(target.readyPid, INJECT_ACCESS);
  const memory = new RemoteMemory(process);
  const at = memory.alloc(4096);
  try {
    const data = new TextEncoder().encode("heapshift");
    memory.write(at + 100n, data);
    assertEquals(memory.read(at + 100n, data.length), data);
    const region = memory.query(at);
    assert(region);
    assertEquals(region.base, at);
    assertEquals(region.state, MEM.COMMIT);
    assertEquals(
      memory.protect(at, { size: 4096, protect: PAGE.READONLY }),
      PAGE.READWRITE,
    );
  } finally {
    memory.free(at);
  }

  // The stub returns the full 64-bit result and the target's last error.
  const pid = await callRemote(
    process,
    procAddress("kernel32.dll", "GetCurrentProcessId"),
  );
  assertEquals(Number(pid.value & 0xffff_ffffn), target.readyPid);
  assert(pid.complete);
  const direct = await callRemote(
    process,
    procAddress("kernel32.dll", "GetCurrentProcessId"),
    { stub: false },
  );
  assertEquals(direct, {
    value: BigInt(target.readyPid),
    lastError: 0,
    complete: false,
    returned: true,
  });
  const directData = await callRemote(
    process,
    procAddress("kernel32.dll", "lstrlenW"),
    { stub: false, data: new Uint8Array(wide("heapshift").buffer) },
  );
  assertEquals(directData.value, 9n);
  const set = await callRemote(
    process,
    procAddress("kernel32.dll", "SetLastError"),
    { arg: 4321n },
  );
  assertEquals(set.lastError, 4321);
  const text = await callRemote(
    process,
    procAddress("kernel32.dll", "GetModuleHandleW"),
    { data: new Uint8Array(wide("kernel32.dll").buffer) },
  );
  assertEquals(
    text.value,
    moduleEntries(target.readyPid).find((m) =>
      m.name.toLowerCase() === "kernel32.dll"
    )?.base,
  );
});

for (const arch of ["x64", "x86"] as const) {
  test(`a remote call's second call runs on the same thread: found, missing, ended in it [${arch}]`, async () => {
    await using target = await startTarget(fixture("sleeper.exe", arch));
    using opened = openTarget(target.readyPid, {
      access: INJECT_ACCESS,
      doing: "call into",
    });
    const k32 = (fn: string) =>
      exportAddress(opened, { dll: "kernel32.dll", fn });
    const getModule = k32("GetModuleHandleW");
    const getProcAddress = k32("GetProcAddress");
    const machine = arch === "x86" ? MACHINE.I386 : MACHINE.AMD64;
    const kernel32Base = targetModules(opened).find((m) =>
      m.name.toLowerCase() === "kernel32.dll"
    )?.base;
    const call = (dll: string, symbol: string) =>
      callRemote(opened.process, getModule, {
        data: new Uint8Array(wide(dll).buffer),
        machine,
        then: { symbol, getProcAddress, timeout: 5_000 },
      });
    // GetModuleHandleW(kernel32), then its GetCurrentThreadId: the stub's
    // thread's id.
    const found = await call("kernel32.dll", "GetCurrentThreadId");
    assertEquals(found.value, kernel32Base);
    assert(found.then?.called && found.then.returned, Deno.inspect(found));
    assert(found.then.value !== 0n);
    const missing = await call("kernel32.dll", "heapshift_no_such_export");
    assertEquals(missing.value, kernel32Base);
    assertEquals(missing.then, { called: false, returned: false, value: 0n });
    // ExitThread(0) ends the thread inside the second call.
    const ended = await call("kernel32.dll", "ExitThread");
    assertEquals(ended.then, { called: true, returned: false, value: 0n });
    // Without a module (0 from the first call) there is no second call.
    const none = await call("heapshift-missing.dll", "GetCurrentThreadId");
    assertEquals(none.value, 0n);
    assertEquals(none.then, { called: false, returned: false, value: 0n });
  });
}

test("the libraries are opened lazily", async () => {
  // Importing mod.ts without FFI permission must work: nothing is opened
  // at import time. The first Windows call then opens kernel32.
  const dir = await Deno.makeTempDir({ prefix: "heapshift-lazy-" });
  try {
    const url = new URL("../../mod.ts", import.meta.url).href;
    await Deno.writeTextFile(
      `${dir}\\lazy.ts`,
      `import * as m from ${JSON.stringify(url)};\n` +
        `console.log(typeof m.inject);\n` +
        `try { m.processes(); } catch (e) { console.log((e as Error).name); }\n`,
    );
    const out = await runProgram(Deno.execPath(), [
      "run",
      "--no-prompt",
      "--allow-read",
      `${dir}\\lazy.ts`,
    ]);
    const stdout = out.stdout;
    assertEquals(out.code, 0, out.stderr);
    assertEquals(stdout.trim().split(/\r?\n/), ["function", "NotCapable"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  assert(kernel32().GetLastError !== undefined);
  assert(Handle !== undefined);
});

// The error mode createProcess gives a child is set on this whole process
// while CreateProcessW runs (a child takes its parent's): two threads
// (Workers) that create processes so at once must neither leave it set
// nor hand one's mode to the other's child. Seen before: one thread set it
// while the other's was set, and set back last what it found, the other's
// temporary mode, for good. (This process's own mode is the harness's,
// SEM_FAILCRITICALERRORS | SEM_NOGPFAULTERRORBOX; the threads ask for
// another.)
test("createProcess with an error mode sets this process's back, whatever another thread creates meanwhile", async () => {
  const ours = errorMode();
  const mode = SEM.FAILCRITICALERRORS;
  assert(ours !== mode, `this process's mode is ${ours}`);
  const run = () =>
    new Promise<void>((resolve, reject) => {
      const worker = new Worker(
        new URL("./error_mode_worker.ts", import.meta.url),
        { type: "module" },
      );
      worker.onmessage = () => {
        worker.terminate();
        resolve();
      };
      worker.onerror = (e) => {
        e.preventDefault();
        worker.terminate();
        reject(new Error(e.message));
      };
      worker.postMessage({ exe: fixture("sleeper.exe"), mode, count: 100 });
    });
  await Promise.all([run(), run()]);
  assertEquals(errorMode(), ours, "this process's error mode is as it was");
});

// The mutex's name is known to every program of the session: one that
// takes it first and keeps it (or a thread of ours that never lets go)
// must not hang every launch with an error mode for good.
test("createProcess with an error mode does not wait for good on a mutex another holds", async () => {
  const ours = errorMode();
  const holder = new Worker(
    new URL("./error_mode_holder.ts", import.meta.url),
    { type: "module" },
  );
  const launcher = new Worker(
    new URL("./error_mode_worker.ts", import.meta.url),
    { type: "module" },
  );
  const next = (w: Worker) =>
    new Promise<string>((resolve, reject) => {
      w.onmessage = (e) => resolve(e.data);
      w.onerror = (e) => {
        e.preventDefault();
        reject(new Error(e.message));
      };
    });
  let holding = false;
  try {
    const held = next(holder);
    holder.postMessage({ name: `Local\\heapshift-error-mode-${Deno.pid}` });
    assertEquals(await held, "held");
    holding = true;
    const done = next(launcher);
    launcher.postMessage({
      exe: fixture("sleeper.exe"),
      mode: SEM.FAILCRITICALERRORS,
      count: 1,
    });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<string>((resolve) => {
      timer = setTimeout(() => resolve("still waiting after 30 s"), 30_000);
    });
    const outcome = await Promise.race([done, late]);
    clearTimeout(timer);
    assertEquals(outcome, "done", "the launch went on without the mutex");
    assertEquals(errorMode(), ours, "this process's error mode is as it was");
  } finally {
    // (letting go ends a launcher still waiting, so the test ends)
    if (holding) {
      const released = next(holder);
      holder.postMessage("release");
      await released;
    }
    holder.terminate();
    launcher.terminate();
  }
});

test("keepFileAttributes gives a new file the hidden and system attributes of the one it replaces, and no others", async () => {
  const dir = await Deno.makeTempDir({ prefix: "heapshift-attr-" });
  const attrib = (flag: string, path: string) =>
    new Deno.Command("cmd.exe", { args: ["/c", "attrib", flag, path] })
      .output();
  const { HIDDEN, SYSTEM } = FILE_ATTRIBUTE;
  try {
    const system = `${dir}\\system.exe`;
    const hidden = `${dir}\\hidden.exe`;
    const plain = `${dir}\\plain.exe`;
    for (const p of [system, hidden, plain]) await Deno.writeTextFile(p, "x");
    await attrib("+s", system);
    await attrib("+h", hidden);
    // Named as pe/ names its temporary files.
    const replace = async (from: string) => {
      const tmp = `${dir}\\.${from.split("\\").pop()}.0123abcd.tmp`;
      await Deno.writeTextFile(tmp, "y");
      keepFileAttributes(from, tmp);
      await Deno.rename(tmp, from);
      return getFileAttributes(from) & (HIDDEN | SYSTEM);
    };
    assertEquals(await replace(system), SYSTEM);
    assertEquals(await replace(hidden), HIDDEN);
    assertEquals(await replace(plain), 0);
    await attrib("-s", system);
    await attrib("-h", hidden);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

test("keepFileAttributes reads and sets the attributes of files whose paths pass MAX_PATH", async () => {
  // Native Windows refuses such paths in their plain form to a program
  // that is not long-path aware (Deno); Wine does not, so this shows that
  // the \\?\ form they are given in reaches the same files.
  const dir = await Deno.makeTempDir({ prefix: "heapshift-attr-" });
  const { HIDDEN } = FILE_ATTRIBUTE;
  try {
    const hidden = `${dir}\\hidden.exe`;
    await Deno.writeTextFile(hidden, "x");
    await new Deno.Command("cmd.exe", { args: ["/c", "attrib", "+h", hidden] })
      .output();
    const deep = `${dir}\\${"d".repeat(120)}\\${"e".repeat(120)}`;
    await Deno.mkdir(deep, { recursive: true });
    const [a, b] = [`${deep}\\a.exe`, `${deep}\\b.exe`];
    assert(a.length > 260, `${a.length}`);
    for (const p of [a, b]) await Deno.writeTextFile(p, "y");
    keepFileAttributes(hidden, a);
    assertEquals(getFileAttributes(a) & HIDDEN, HIDDEN);
    keepFileAttributes(a, b);
    assertEquals(getFileAttributes(b) & HIDDEN, HIDDEN);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
