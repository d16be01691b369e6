// Every failure of the API has a clear message (issue 4's error list).
import {
  eject,
  findProcess,
  HeapshiftError,
  inject,
  launch,
  modules,
  patchImports,
  ProcessEndedError,
  removeImport,
  stats,
  waitForProcess,
} from "../../mod.ts";
import { createNamedEvent, setEvent, Win32Error } from "../../ffi/mod.ts";
import { PeFileError, writeFileAtomic } from "../../pe/mod.ts";
import { processError, unsupportedMachine } from "../../src/_target.ts";
import { withKeptFile } from "./kept_file.ts";
import { assert, assertEquals, assertRejects } from "./assert.ts";
import { fixture, hookDll, startTarget, test } from "./harness.ts";

/** A pid no process has (pids are multiples of 4 well below this). */
const NO_PID = 0x7fff_fff0;

async function copyPatched(
  src: string,
  dir: string,
  name: string,
  patch: (v: DataView, pe: number) => void,
): Promise<string> {
  const bytes = await Deno.readFile(src);
  const v = new DataView(bytes.buffer);
  patch(v, v.getUint32(0x3c, true));
  const out = `${dir}\\${name}`;
  await Deno.writeFile(out, bytes);
  return out;
}

test("no such pid", async () => {
  const e = await assertRejects(
    () => inject(NO_PID, fixture("probe.dll")),
    HeapshiftError,
    `Cannot inject probe.dll into process ${NO_PID}: no such process`,
  );
  assertEquals(e.kind, "not-found");
  await assertRejects(
    () => Promise.resolve().then(() => modules(NO_PID)),
    HeapshiftError,
    `Cannot list the modules of process ${NO_PID}: no such process`,
  );
  await assertRejects(
    () => inject(-3, fixture("probe.dll")),
    HeapshiftError,
    "process -3: not a valid process id",
  );
});

test("no such process name", async () => {
  await assertRejects(
    () => Promise.resolve().then(() => findProcess("no-such-heapshift-thing")),
    HeapshiftError,
    "No process named no-such-heapshift-thing is running",
  );
  const e = await assertRejects(
    () => waitForProcess("no-such-heapshift-thing.exe", { timeout: 300 }),
    HeapshiftError,
    "No process named no-such-heapshift-thing.exe appeared within 300 ms",
  );
  assertEquals(e.kind, "timeout");
});

test("access denied says elevation may be needed", () => {
  // Wine grants every access, so the mapping is checked on the real error.
  const e = processError(new Win32Error("OpenProcess", 5), {
    pid: 1234,
    doing: "inject x.dll into",
  });
  assert(e instanceof HeapshiftError);
  assertEquals(e.kind, "access-denied");
  assert(
    e.message.startsWith(
      "Cannot inject x.dll into process 1234: access denied",
    ),
    e.message,
  );
  assert(/elevated/.test(e.message), e.message);
});

test("ARM64 targets and DLLs are reported as not supported", async () => {
  const e = unsupportedMachine(1234, 0xaa64);
  assertEquals(e.kind, "unsupported");
  assertEquals(
    e.message,
    "Process 1234 is an ARM64 process: heapshift supports only x64 and x86 targets",
  );
  const dir = await Deno.makeTempDir({ prefix: "heapshift-err-" });
  try {
    const toArm64 = (v: DataView, pe: number) =>
      v.setUint16(pe + 4, 0xaa64, true);
    const exeArm = await copyPatched(
      fixture("sleeper.exe"),
      dir,
      "arm64.exe",
      toArm64,
    );
    await assertRejects(
      () => launch(exeArm),
      HeapshiftError,
      `Cannot launch ${exeArm}: it is an ARM64 program; heapshift supports only x64 and x86 programs`,
    );
    const dllArm = await copyPatched(
      fixture("probe.dll"),
      dir,
      "arm64.dll",
      toArm64,
    );
    await using target = await startTarget(fixture("sleeper.exe"));
    await assertRejects(
      () => inject(target.readyPid, dllArm),
      HeapshiftError,
      `Cannot use DLL ${dllArm}: it is an ARM64 DLL; only x64 and x86 DLLs and targets are supported`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

test("heapshift goes into a program on another C runtime: a UCRT plugin it loads later is taken over", async () => {
  // On msvcrt.dll, as rundll32, dllhost or a MinGW host: none of its
  // modules uses the UCRT yet, but one it loads on demand (a plugin) will,
  // through the ucrtbase.dll heapshift has hooked by then. Refusing it (as
  // inject did) stopped a takeover that works; launch takes it too.
  await using target = await startTarget(fixture("api_msvcrt_host.exe"), {
    args: [fixture("api_ucrt_plugin.dll"), "plugin_work", "--on-input"],
  });
  const pid = target.readyPid;
  await inject(pid, hookDll());
  const deadline = Date.now() + 10_000;
  while (stats(pid)?.state !== "live" && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
  }
  assertEquals(stats(pid)?.state, "live");
  // What it counts before the plugin loads (its own start, Windows' DLLs
  // on the UCRT): the plugin's mallocs must come on top.
  await new Promise((r) => setTimeout(r, 500));
  const before = stats(pid)?.counters.allocs ?? 0;
  const w = target.child.stdin.getWriter();
  await w.write(new TextEncoder().encode("load\n"));
  w.releaseLock();
  let allocs = 0;
  while (Date.now() < deadline + 10_000) {
    allocs = (stats(pid)?.counters.allocs ?? 0) - before;
    if (allocs >= 20) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert(
    allocs >= 20,
    `the plugin's mallocs reached heapshift: ${allocs} more than the ${before} before it loaded`,
  );
});

test("DLL path missing or not a DLL", async () => {
  await using target = await startTarget(fixture("sleeper.exe"));
  const pid = target.readyPid;
  const missing = fixture("no-such.dll");
  const e = await assertRejects(
    () => inject(pid, missing),
    HeapshiftError,
    `Cannot use DLL ${missing}: no such file`,
  );
  assertEquals(e.kind, "bad-dll");
  await assertRejects(
    () => inject(pid, fixture("sleeper.exe")),
    HeapshiftError,
    "not a DLL (it is an executable)",
  );
  const dir = await Deno.makeTempDir({ prefix: "heapshift-err-" });
  try {
    await Deno.writeTextFile(`${dir}\\text.dll`, "not a DLL at all\n");
    await assertRejects(
      () => inject(pid, `${dir}\\text.dll`),
      HeapshiftError,
      `Cannot use DLL ${dir}\\text.dll: not a DLL (not a Windows PE file)`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

test("a missing dependency is reported with the target's loader error", async () => {
  // Target and DLL in a directory without api_adep.dll.
  const dir = await Deno.makeTempDir({ prefix: "heapshift-err-" });
  try {
    await Deno.copyFile(fixture("sleeper.exe"), `${dir}\\sleeper.exe`);
    await Deno.copyFile(
      fixture("api_missingdep.dll"),
      `${dir}\\api_missingdep.dll`,
    );
    await using target = await startTarget(`${dir}\\sleeper.exe`);
    const e = await assertRejects(
      () => inject(target.readyPid, `${dir}\\api_missingdep.dll`),
      HeapshiftError,
      new RegExp(
        `^Cannot inject api_missingdep\\.dll into process ${target.readyPid}: the target's loader reports: .+ \\(error 126\\); api_missingdep\\.dll needs api_adep\\.dll, which the target cannot find`,
      ),
    );
    assertEquals(e.kind, "load-failed");
    assert(
      !modules(target.readyPid).some((m) =>
        m.name.toLowerCase() === "api_missingdep.dll"
      ),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// An injector's PATH is not its target's: a dependency found only on ours
// may be what the target cannot find.
test("a dependency found only on the injector's PATH is named, with its folder", async () => {
  const dir = await Deno.makeTempDir({ prefix: "heapshift-err-" });
  const onPath = await Deno.makeTempDir({ prefix: "heapshift-path-" });
  const path = Deno.env.get("PATH") ?? "";
  try {
    await Deno.copyFile(
      fixture("api_missingdep.dll"),
      `${dir}\\api_missingdep.dll`,
    );
    await Deno.copyFile(fixture("api_adep.dll"), `${onPath}\\api_adep.dll`);
    // (not next to the fixtures, which have api_adep.dll)
    await Deno.copyFile(fixture("sleeper.exe"), `${dir}\\sleeper.exe`);
    // Started before PATH names the folder: its own PATH lacks it.
    await using target = await startTarget(`${dir}\\sleeper.exe`);
    Deno.env.set("PATH", `${path};${onPath}`);
    const e = await assertRejects(
      () => inject(target.readyPid, `${dir}\\api_missingdep.dll`),
      HeapshiftError,
    );
    assertEquals(e.kind, "load-failed");
    assert(
      e.message.endsWith(
        `(error 126); api_missingdep.dll needs api_adep.dll, found here only on this process's PATH (in ${onPath}), which the target's PATH may lack: put it next to api_missingdep.dll`,
      ),
      e.message,
    );
  } finally {
    Deno.env.set("PATH", path);
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(onPath, { recursive: true });
  }
});

test("a 32-bit DLL's dependency that only the 64-bit system directory has is reported missing", async () => {
  // vcruntime140_1.dll is x64-only: System32 has it, SysWOW64 does not (as
  // on a Windows with only the x64 Visual C++ runtime), so a 32-bit
  // program's loader cannot find it.
  const dir = await Deno.makeTempDir({ prefix: "heapshift-err-" });
  try {
    const dll = `${dir}\\probe32.dll`;
    await patchImports(fixture("probe32.dll"), {
      dll: "vcruntime140_1.dll",
      symbol: "__CxxFrameHandler4",
      output: dll,
    });
    await using target = await startTarget(fixture("sleeper32.exe"));
    const e = await assertRejects(
      () => inject(target.readyPid, dll),
      HeapshiftError,
      new RegExp(
        `^Cannot inject probe32\\.dll into process ${target.readyPid}: the target's loader reports: .+ \\(error 126\\); probe32\\.dll needs vcruntime140_1\\.dll, which the target cannot find`,
      ),
    );
    assertEquals(e.kind, "load-failed");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

test("a DLL whose initialisation fails is reported with error 1114", async () => {
  await using target = await startTarget(fixture("sleeper.exe"));
  const e = await assertRejects(
    () => inject(target.readyPid, fixture("api_initfail.dll")),
    HeapshiftError,
    /the target's loader reports: .+ \(error 1114\)$/,
  );
  assertEquals(e.kind, "load-failed");
});

test("inject times out on a DLL that does not finish loading", async () => {
  await using target = await startTarget(fixture("sleeper.exe"));
  const e = await assertRejects(
    () => inject(target.readyPid, fixture("api_slow.dll"), { timeout: 300 }),
    HeapshiftError,
    `Cannot inject api_slow.dll into process ${target.readyPid}: LoadLibraryW did not return within 300 ms`,
  );
  assertEquals(e.kind, "timeout");
  // the call is not over: the message says so, and where to look
  assert(
    e.message.endsWith(
      `; the call goes on in the target and may still finish: check with \`modules ${target.readyPid}\``,
    ),
    e.message,
  );
});

test("a timeout that is not a positive number of milliseconds is refused before anything is done", async () => {
  for (const timeout of [0, -5, NaN, Infinity]) {
    const e = await assertRejects(
      () => inject(NO_PID, fixture("probe.dll"), { timeout }),
      HeapshiftError,
      `Cannot inject probe.dll into process ${NO_PID}: the timeout must be a positive number of milliseconds, not ${timeout}`,
    );
    assertEquals(e.kind, "bad-argument");
    await assertRejects(
      () => eject(NO_PID, "probe.dll", { timeout }),
      HeapshiftError,
      "the timeout must be a positive number of milliseconds",
    );
  }
});

test("a target that exits while its DLL loads is reported as ended (its exit code the cause's), not as access denied", async () => {
  await using target = await startTarget(fixture("sleeper.exe"));
  const e = await assertRejects(
    () => inject(target.readyPid, fixture("api_exitload.dll")),
    HeapshiftError,
    `Cannot inject api_exitload.dll into process ${target.readyPid}: the process exited (code 3) meanwhile`,
  );
  assertEquals(e.kind, "ended");
  assert(e.cause instanceof ProcessEndedError, `cause: ${e.cause}`);
  assertEquals([e.cause.exitCode, e.cause.crash], [3, undefined]);
});

test("inject and eject of a program that had ended, a handle keeping its pid, say what was asked, not a module listing", async () => {
  using proc = await launch(fixture("sleeper.exe"));
  proc.kill(3);
  assertEquals(await proc.wait({ timeout: 10_000 }), 3);
  const e = await assertRejects(
    () => inject(proc.pid, fixture("probe.dll")),
    HeapshiftError,
    `Cannot inject probe.dll into process ${proc.pid}: the process exited (code 3) meanwhile`,
  );
  assertEquals(e.kind, "ended");
  await assertRejects(
    () => eject(proc.pid, "probe.dll"),
    HeapshiftError,
    `Cannot eject probe.dll from process ${proc.pid}: the process exited (code 3) meanwhile`,
  );
});

test("a process that exited with code 259, STILL_ACTIVE's value, counts as ended", async () => {
  using proc = await launch(fixture("sleeper.exe"));
  proc.kill(259);
  assertEquals(await proc.wait({ timeout: 10_000 }), 259);
  // this handle keeps its pid and its process object
  const e = await assertRejects(
    () => inject(proc.pid, fixture("probe.dll")),
    HeapshiftError,
    `Cannot inject probe.dll into process ${proc.pid}: the process exited (code 259) meanwhile`,
  );
  assertEquals(e.kind, "ended");
  assert(e.cause instanceof ProcessEndedError, `cause: ${e.cause}`);
  assertEquals(e.cause.exitCode, 259);
  const s = await assertRejects(
    async () => await stats(proc.pid),
    HeapshiftError,
    `Cannot read heapshift's stats of process ${proc.pid}: the process has ended`,
  );
  assertEquals(s.kind, "not-found");
});

test("a DLL cut short is refused before the target is touched", async () => {
  await using target = await startTarget(fixture("sleeper.exe"));
  const dir = await Deno.makeTempDir({ prefix: "heapshift-err-" });
  try {
    const bytes = await Deno.readFile(fixture("probe.dll"));
    const cut = `${dir}\\cut.dll`;
    await Deno.writeFile(cut, bytes.slice(0, Math.floor(bytes.length * 0.6)));
    const e = await assertRejects(
      () => inject(target.readyPid, cut),
      HeapshiftError,
      "cut.dll: not a valid DLL, or cut short (",
    );
    assertEquals(e.kind, "bad-dll");
    assert(!modules(target.readyPid).some((m) => m.name === "cut.dll"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

test("a process created suspended: its loader data cannot be read yet, and the message says what to do", () => {
  const e = processError(new Win32Error("CreateToolhelp32Snapshot", 998), {
    pid: 1234,
    doing: "list the modules of",
  });
  assert(e instanceof HeapshiftError);
  assert(
    e.message.includes(
      "a process created suspended has not started: resume it first, or start it with heapshift's launch",
    ),
    e.message,
  );
});

test("a directory is neither a program nor a DLL", async () => {
  const dir = await Deno.makeTempDir({ prefix: "heapshift-err-" });
  try {
    await assertRejects(
      () => launch(dir),
      HeapshiftError,
      `Cannot launch ${dir}: it is a directory`,
    );
    await using target = await startTarget(fixture("sleeper.exe"));
    await assertRejects(
      () => inject(target.readyPid, dir),
      HeapshiftError,
      `Cannot use DLL ${dir}: it is a directory`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

test("launch of a missing program", async () => {
  const exe = fixture("no-such-program.exe");
  const e = await assertRejects(
    () => launch(exe),
    HeapshiftError,
    `Cannot launch ${exe}: no such file`,
  );
  assertEquals(e.kind, "not-found");
  await assertRejects(
    () => launch(fixture("sleeper.exe"), { dlls: [fixture("nope.dll")] }),
    HeapshiftError,
    `Cannot use DLL ${fixture("nope.dll")}: no such file`,
  );
});

test("a target in ExitProcess refuses new threads: said, not taken for access denied", async () => {
  await using target = await startTarget(fixture("sleeper.exe"));
  // ends the process once told to, then holds it in ExitProcess for 10 s
  await inject(target.readyPid, fixture("api_slowexit.dll"));
  {
    using quit = createNamedEvent(`heapshift-slowexit-${target.readyPid}`);
    setEvent(quit);
  }
  await new Promise((r) => setTimeout(r, 1000));
  const e = await assertRejects(
    () => inject(target.readyPid, fixture("probe.dll")),
    HeapshiftError,
    `Cannot inject probe.dll into process ${target.readyPid}: Windows refused CreateRemoteThread in it (access denied) though heapshift opened it with the rights for that: the process is ending`,
  );
  assertEquals(e.kind, "access-denied");
  assert(!e.message.includes("elevated prompt"), e.message);
});

test("a remote thread the target ends before LoadLibraryW returns is said, not reported as error 0", async () => {
  await using target = await startTarget(fixture("sleeper.exe"));
  await inject(target.readyPid, fixture("api_threadguard.dll"));
  // (it ends inject's own threads from here on too)
  const e = await assertRejects(
    () => inject(target.readyPid, fixture("probe.dll")),
    HeapshiftError,
    `Cannot inject probe.dll into process ${target.readyPid}: the thread heapshift started in it for LoadLibraryW ended before LoadLibraryW returned (the process is ending, or something in it ends threads it did not start, as security or anti-cheat software may), so what LoadLibraryW did is not known: check with \`modules ${target.readyPid}\``,
  );
  assertEquals(e.kind, "failed");
});

const DROPS = "Windows drops the '.' and spaces that end a file name";

test("patchImports and removeImport refuse an output Windows would name otherwise (a trailing '.' or ' ', a device's name, a stream): bad-path, nothing written", async () => {
  await withKeptFile(async ({ dir, exe, keep }) => {
    for (
      const [output, says] of [
        [`${keep}.`, `${DROPS}: it would be named ${keep}, not ${keep}.`],
        [
          `${dir}\\new.exe `,
          `${DROPS}: it would be named ${dir}\\new.exe, not`,
        ],
        [`${dir}\\con.exe`, "con.exe is a device on Windows"],
        [`${dir}\\bad:name.exe`, "the ':' makes it a stream of"],
      ]
    ) {
      for (
        const [edit, doing] of [
          [patchImports, "patch"],
          [removeImport, "remove an import from"],
        ] as const
      ) {
        const e = await assertRejects(
          () => edit(exe, { output, force: true }),
          HeapshiftError,
          `Cannot ${doing} ${exe}: output ${output}: ${says}`,
        );
        assertEquals(e.kind, "bad-path", e.message);
      }
    }
  });
});

test("patchImports and removeImport: a file to write whose name is too long for its temporary file is a bad-path error saying so and what to do, not that its directory does not exist; nothing written", async () => {
  // Windows' and Wine's error for the temporary file (.<name>.<8 hex>.tmp,
  // 14 longer) was "not found": "its directory does not exist", false.
  await withKeptFile(async ({ dir, exe }) => {
    const why =
      "its name is 242 characters, and the temporary file it is written through is named 14 longer, over the 255 a file name may have";
    const out = `${dir}\\${"o".repeat(238)}.exe`;
    for (
      const [edit, doing] of [
        [patchImports, "patch"],
        [removeImport, "remove an import from"],
      ] as const
    ) {
      const e = await assertRejects(
        () => edit(exe, { output: out }),
        HeapshiftError,
        `Cannot ${doing} ${exe}: output ${out}: ${why}: choose a name of at most 241 characters`,
      );
      assertEquals(e.kind, "bad-path", e.message);
    }
    // named from the program's, found as pe/ writes it
    const long = `${dir}\\${"g".repeat(228)}.exe`;
    await Deno.copyFile(exe, long);
    try {
      const e = await assertRejects(
        () => patchImports(long),
        HeapshiftError,
        `Cannot patch ${long}: the copy ${dir}\\${
          "g".repeat(228)
        }.heapshift.exe: ${why}: name it with output, at most 241 characters`,
      );
      assertEquals(e.kind, "bad-path", e.message);
    } finally {
      await Deno.remove(long);
    }
    // pe/'s own writer says the same
    await assertRejects(
      () => writeFileAtomic(out, new Uint8Array(1)),
      PeFileError,
      `Cannot write ${out}: ${why}: choose a name of at most 241 characters`,
    );
  });
});

test("writeFileAtomic under a regular file, as if it were a directory: says the file is in the way, not that the directory does not exist; the file untouched", async () => {
  // Windows and Wine give "path not found" (error 3), as for a missing one.
  await withKeptFile(async ({ keep }) => {
    const out = `${keep}\\x.exe`;
    await assertRejects(
      () => writeFileAtomic(out, new Uint8Array(1)),
      PeFileError,
      `Cannot write ${out}: its directory ${keep} is a file, not a directory`,
    );
  });
});
