// 32-bit (x86) targets, reached from the 64-bit Deno: a 32-bit probe DLL is
// injected into a running 32-bit fixture (WOW64) through the target's own
// 32-bit kernel32, listed, ejected; a 32-bit program is launched with DLLs
// that load before its own code; a DLL of the wrong architecture is refused
// before the target is touched. These use small 32-bit fixture DLLs; the
// 32-bit hook DLL's own tests are the [x86] halves of the dll_*, cli_* and
// cli_takeover tests.
import {
  eject,
  findProcess,
  findProcesses,
  HeapshiftError,
  inject,
  launch,
  modules,
  processArch,
  stats,
} from "../../mod.ts";
import { assert, assertEquals, assertRejects } from "./assert.ts";
import {
  fixture,
  hookDll,
  repoPath,
  startTarget,
  test,
  uniqueCopy,
} from "./harness.ts";
import { bytesSource, DIR, readHeaders, rvaToOffset } from "../../pe/mod.ts";
import { fakeStats } from "./fake_stats.ts";
import { runCli } from "../../cli/_test_utils.ts";

const named = (pid: number, name: string) =>
  modules(pid).find((m) => m.name.toLowerCase() === name);

test("modules lists a 32-bit process's 32-bit modules, program first", async () => {
  await using target = await startTarget(fixture("sleeper32.exe"));
  const pid = target.readyPid;
  assertEquals(processArch(pid), "x86");
  const list = modules(pid);
  assertEquals(list[0].name.toLowerCase(), "sleeper32.exe");
  assertEquals(
    list[0].path.toLowerCase(),
    fixture("sleeper32.exe").toLowerCase(),
  );
  for (const want of ["ntdll.dll", "kernel32.dll", "ucrtbase.dll"]) {
    const m = list.find((x) => x.name.toLowerCase() === want);
    assert(m, `${want} is listed: ${list.map((x) => x.name).join(", ")}`);
    assert(
      m.base > 0n && m.base < 0x1_0000_0000n,
      `${want} is a 32-bit module`,
    );
    assert(m.size > 0, `${want} has a size`);
  }
});

test("inject loads a 32-bit DLL into a running 32-bit program by pid, eject unloads it", async () => {
  await using target = await startTarget(fixture("sleeper32.exe"));
  const pid = target.readyPid;
  assert(!named(pid, "probe32.dll"), "probe32.dll is not loaded before");

  const mod = await inject(pid, fixture("probe32.dll"), { timeout: 20_000 });
  assertEquals(mod.name.toLowerCase(), "probe32.dll");
  assert(mod.base > 0n && mod.base < 0x1_0000_0000n && mod.size > 0);
  const listed = named(pid, "probe32.dll");
  assert(listed, "modules(pid) lists probe32.dll after injection");
  assertEquals(listed.base, mod.base);
  assertEquals(listed.path.toLowerCase(), fixture("probe32.dll").toLowerCase());

  await eject(pid, "probe32.dll");
  assert(!named(pid, "probe32.dll"), "probe32.dll is gone after eject");
  // The target still runs, and takes the DLL again.
  await inject(pid, fixture("probe32.dll"), { timeout: 20_000 });
  assert(named(pid, "probe32.dll"));
});

test("inject finds a 32-bit program by name", async () => {
  await using target = await startTarget(fixture("sleeper32.exe"));
  const pid = findProcess("sleeper32.exe").pid;
  assertEquals(pid, target.readyPid);
  await inject(pid, fixture("probe32.dll"), { timeout: 20_000 });
  assert(named(pid, "probe32.dll"));
});

test("the CLI injects into a 32-bit program by name, lists and ejects it", async () => {
  await using target = await startTarget(fixture("sleeper32.exe"));
  const pid = target.readyPid;
  const r = await runCli([
    "inject",
    "sleeper32.exe",
    "--dll",
    fixture("probe32.dll"),
    "--json",
  ]);
  assertEquals(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assertEquals(out.pid, pid);
  assertEquals(out.module.name.toLowerCase(), "probe32.dll");
  const m = await runCli(["modules", String(pid), "--json"]);
  assertEquals(m.code, 0, m.stderr);
  const listed: { name: string; base: string }[] = JSON.parse(m.stdout);
  assertEquals(listed[0].name.toLowerCase(), "sleeper32.exe");
  assertEquals(
    listed.find((x) => x.name.toLowerCase() === "probe32.dll")?.base,
    out.module.base,
  );
  const e = await runCli(["eject", String(pid), "probe32.dll", "--json"]);
  assertEquals(e.code, 0, e.stderr);
  assert(!named(pid, "probe32.dll"));
});

test("a 32-bit DLL that fails to load is reported with the loader's error", async () => {
  await using target = await startTarget(fixture("sleeper32.exe"));
  const e = await assertRejects(
    () => inject(target.readyPid, fixture("api_initfail32.dll")),
    HeapshiftError,
    /the target's loader reports: .+ \(error 1114\)$/,
  );
  assertEquals(e.kind, "load-failed");
  assert(!named(target.readyPid, "api_initfail32.dll"));
});

test("stats reads the stats block of a 32-bit process", async () => {
  await using target = await startTarget(fixture("sleeper32.exe"));
  const pid = target.readyPid;
  await inject(pid, fixture("api_fakestats32.dll"));
  // The same block as the x64 test reads (tests/win/api_stats_test.ts):
  // the layout is fixed-width, so a 64-bit reader reads a 32-bit writer.
  assertEquals(stats(pid), fakeStats(pid));
});

test("heapshift's build of the other architecture is refused naming the build the target takes", async () => {
  await using t32 = await startTarget(fixture("sleeper32.exe"));
  const e = await assertRejects(
    () => inject(t32.readyPid, hookDll("x64")),
    HeapshiftError,
    `Cannot inject heapshift.dll into process ${t32.readyPid}: the DLL is 64-bit (x64) but the process is 32-bit (x86); a process can only load DLLs of its own architecture: give heapshift's x86 build, heapshift32.dll (deno task build-dll builds both into build/)`,
  );
  assertEquals(e.kind, "bad-dll");
  await using t64 = await startTarget(fixture("sleeper.exe"));
  await assertRejects(
    () => inject(t64.readyPid, hookDll("x86")),
    HeapshiftError,
    `Cannot inject heapshift32.dll into process ${t64.readyPid}: the DLL is 32-bit (x86) but the process is 64-bit (x64); a process can only load DLLs of its own architecture: give heapshift's x64 build, heapshift.dll (deno task build-dll builds both into build/)`,
  );
  const exe = fixture("api_launchee32.exe");
  await assertRejects(
    () => launch(exe, { dlls: [hookDll("x64")] }),
    HeapshiftError,
    `Cannot launch ${exe} with heapshift.dll: the DLL is 64-bit (x64) but the program is 32-bit (x86); a program can only load DLLs of its own architecture: give heapshift's x86 build, heapshift32.dll (deno task build-dll builds both into build/)`,
  );
  assertEquals(findProcesses("api_launchee32.exe"), [], "nothing was started");
});

test("a DLL of the other architecture is refused before the target is touched", async () => {
  await using t32 = await startTarget(fixture("sleeper32.exe"));
  const before = modules(t32.readyPid).map((m) => m.name);
  const e = await assertRejects(
    () => inject(t32.readyPid, fixture("probe.dll")),
    HeapshiftError,
    `Cannot inject probe.dll into process ${t32.readyPid}: the DLL is 64-bit (x64) but the process is 32-bit (x86)`,
  );
  assertEquals(e.kind, "bad-dll");
  assertEquals(modules(t32.readyPid).map((m) => m.name), before);

  await using t64 = await startTarget(fixture("sleeper.exe"));
  await assertRejects(
    () => inject(t64.readyPid, fixture("probe32.dll")),
    HeapshiftError,
    `Cannot inject probe32.dll into process ${t64.readyPid}: the DLL is 32-bit (x86) but the process is 64-bit (x64)`,
  );
  assert(!named(t64.readyPid, "probe32.dll"));

  const exe = fixture("api_launchee32.exe");
  await assertRejects(
    () => launch(exe, { dlls: [fixture("api_early.dll")] }),
    HeapshiftError,
    `Cannot launch ${exe} with api_early.dll: the DLL is 64-bit (x64) but the program is 32-bit (x86)`,
  );
  assertEquals(findProcesses("api_launchee32.exe"), [], "nothing was started");
});

test("the CLI names both architectures for a --dll that does not match", async () => {
  await using target = await startTarget(fixture("sleeper32.exe"));
  const r = await runCli([
    "inject",
    String(target.readyPid),
    "--dll",
    fixture("probe.dll"),
  ]);
  assertEquals(r.code, 1, r.stderr);
  assert(
    /^error: .*the DLL is 64-bit \(x64\) but the process is 32-bit \(x86\)/
      .test(
        r.stderr,
      ),
    r.stderr,
  );
  assert(!named(target.readyPid, "probe.dll"));
});

test("the CLI picks heapshift32.dll for a 32-bit process", async () => {
  await using target = await startTarget(fixture("sleeper32.exe"));
  const r = await runCli(["inject", String(target.readyPid), "--json"]);
  assertEquals(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assertEquals(out.dll, repoPath("build/heapshift32.dll"));
  assertEquals(out.module.name.toLowerCase(), "heapshift32.dll");
  assertEquals(stats(target.readyPid).state, "live");
});

test("launch loads the DLLs before a 32-bit program's own code", async () => {
  const dir = await Deno.makeTempDir({ prefix: "heapshift-launch32-" });
  try {
    const out = `${dir}\\out.txt`;
    using proc = await launch(fixture("api_launchee32.exe"), {
      args: [out, "two words"],
      dlls: [fixture("api_early32.dll"), fixture("probe32.dll")],
    });
    assertEquals(await proc.wait({ timeout: 30_000 }), 7);
    const text = await Deno.readTextFile(out);
    assert(text.includes("early_loaded=1"), text);
    assert(text.includes("attached=1 tls=0 crt=0 main=0"), text);
    assert(text.includes("arg=two words"), text);
    assert(text.includes("self tls=1 crt=1"), text);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * probe32.dll copied into SysWOW64 under a name of its own, for `fn` given
 * the System32 path a 32-bit process reaches it by (WOW64's file system
 * redirection); gone afterwards (`fn` ends its process first).
 */
async function inSysWow64(
  fn: (system32Path: string, sysWow64Path: string) => Promise<void>,
): Promise<void> {
  const root = Deno.env.get("SystemRoot") ?? "C:\\windows";
  const name = `hsprobe32_${Deno.pid}.dll`;
  const wow = `${root}\\SysWOW64\\${name}`;
  await Deno.copyFile(fixture("probe32.dll"), wow);
  try {
    await fn(`${root}\\System32\\${name}`, wow);
  } finally {
    await Deno.remove(wow);
  }
}

test("inject of a 32-bit DLL named by its System32 path loads the SysWOW64 file, which a 32-bit process reaches by it", async () => {
  await inSysWow64(async (system32, wow) => {
    await using target = await startTarget(fixture("sleeper32.exe"));
    const mod = await inject(target.readyPid, system32, { timeout: 20_000 });
    assertEquals(mod.path.toLowerCase(), wow.toLowerCase());
    // eject finds it by that path too, and refuses it as it refuses any
    // DLL of Windows' folders (not "no module ... is loaded")
    await assertRejects(
      () => eject(target.readyPid, system32, { timeout: 20_000 }),
      Error,
      `${mod.name} is a system DLL (${mod.path})`,
    );
  });
});

// A \\?\ path is redirected as well: the redirector works on the NT path
// (\??\C:\Windows\System32\…), which \\?\ only skips the Win32 rewriting of.
test("inject of a 32-bit DLL named by its \\\\?\\ System32 path loads the SysWOW64 file", async () => {
  await inSysWow64(async (system32, wow) => {
    await using target = await startTarget(fixture("sleeper32.exe"));
    const mod = await inject(target.readyPid, `\\\\?\\${system32}`, {
      timeout: 20_000,
    });
    assertEquals(
      mod.path.toLowerCase().replace(/^\\\\\?\\/, ""),
      wow.toLowerCase(),
    );
  });
});

test("the CLI injects a --dll named by its System32 path into a 32-bit program", async () => {
  await inSysWow64(async (system32, wow) => {
    await using target = await startTarget(fixture("sleeper32.exe"));
    const r = await runCli([
      "inject",
      String(target.readyPid),
      "--dll",
      system32,
      "--json",
    ]);
    assertEquals(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assertEquals(out.module.path.toLowerCase(), wow.toLowerCase());
  });
});

test("launch of a 32-bit program with a DLL named by its System32 path loads the SysWOW64 file", async () => {
  await inSysWow64(async (system32, wow) => {
    using proc = await launch(fixture("sleeper32.exe"), { dlls: [system32] });
    try {
      const name = wow.slice(wow.lastIndexOf("\\") + 1).toLowerCase();
      assertEquals(
        named(proc.pid, name)?.path.toLowerCase(),
        wow.toLowerCase(),
      );
    } finally {
      proc.kill();
      await proc.wait({ timeout: 10_000 });
    }
  });
});

// Sysnative is WOW64's alias for the real System32, which only a 32-bit
// process has: given C:\Windows\Sysnative\x.dll it loads System32's file,
// a 64-bit DLL. The 64-bit Deno has no Sysnative: that was refused as "no
// such file" instead of as the DLL of the other architecture it is.
test("a DLL named by its Sysnative path is read in System32 and refused for a 32-bit process as the 64-bit DLL it is", async () => {
  const root = Deno.env.get("SystemRoot") ?? "C:\\windows";
  const name = `hsprobe64_${Deno.pid}.dll`;
  const real = `${root}\\System32\\${name}`;
  await Deno.copyFile(fixture("probe.dll"), real);
  try {
    const sysnative = `${root}\\Sysnative\\${name}`;
    const refusal =
      `Cannot use DLL ${sysnative}: a 32-bit process given it loads ${real} (Sysnative is how a 32-bit process names the 64-bit System32), a 64-bit (x64) DLL; a 32-bit process can only load DLLs of its own architecture`;
    await using target = await startTarget(fixture("sleeper32.exe"));
    const before = modules(target.readyPid).map((m) => m.name);
    const e = await assertRejects(
      () => inject(target.readyPid, sysnative),
      HeapshiftError,
      refusal,
    );
    assertEquals(e.kind, "bad-dll");
    const r = await runCli([
      "inject",
      String(target.readyPid),
      "--dll",
      sysnative,
    ]);
    assertEquals(r.code, 1, r.stderr);
    assert(r.stderr.startsWith(`error: ${refusal}`), r.stderr);
    assertEquals(modules(target.readyPid).map((m) => m.name), before);
    const exe = fixture("api_launchee32.exe");
    await assertRejects(
      () => launch(exe, { dlls: [sysnative] }),
      HeapshiftError,
      refusal,
    );
    assertEquals(findProcesses("api_launchee32.exe"), [], "nothing started");
  } finally {
    await Deno.remove(real);
  }
});

test("launch of a 32-bit program returns once the DLL is loaded in it", async () => {
  using proc = await launch(fixture("sleeper32.exe"), {
    dlls: [fixture("probe32.dll")],
  });
  try {
    const m = named(proc.pid, "probe32.dll");
    assert(m, "probe32.dll is loaded when launch returns");
    assertEquals(modules(proc.pid)[0].name.toLowerCase(), "sleeper32.exe");
  } finally {
    proc.kill();
  }
});

test("launch of a 32-bit program reports a DLL that fails to initialise", async () => {
  await assertRejects(
    () =>
      launch(fixture("sleeper32.exe"), {
        dlls: [fixture("api_initfail32.dll")],
        errorDialogs: false,
      }),
    HeapshiftError,
    `Cannot launch ${
      fixture("sleeper32.exe")
    } with api_initfail32.dll: the program's loader stopped it with 0xC0000142`,
  );
});

/**
 * `exe` rewritten into a .NET assembly's shape as far as the loader's first
 * look goes: a CLR header (IMAGE_COR20_HEADER, 72 bytes, `flags` at +16)
 * over the start of its last section, and the CLR data directory pointing
 * at it. Never meant to run.
 */
async function asDotNet(exe: string, flags: number): Promise<void> {
  const bytes = await Deno.readFile(exe);
  const h = readHeaders(bytesSource(bytes));
  const rva = h.sections.at(-1)!.virtualAddress;
  const at = rvaToOffset(h, rva, { length: 72 });
  const view = new DataView(bytes.buffer);
  bytes.fill(0, at, at + 72);
  view.setUint32(at, 72, true); // cb
  view.setUint16(at + 4, 2, true); // runtime 2.5
  view.setUint16(at + 6, 5, true);
  view.setUint32(at + 16, flags, true);
  view.setUint32(h.dataDirectoryOffset + DIR.CLR * 8, rva, true);
  view.setUint32(h.dataDirectoryOffset + DIR.CLR * 8 + 4, 72, true);
  await Deno.writeFile(exe, bytes);
}

test("launch with DLLs of an IL-only .NET program (a 32-bit file) is refused before it starts, for any CPU and 32-bit alike", async () => {
  // COMIMAGE_FLAGS_ILONLY, alone (any CPU: it runs as a 64-bit process)
  // and with 32BITREQUIRED. Windows' loader leaves an IL-only program's
  // imports to the .NET runtime (Detours clears the flag to add DLLs).
  for (const flags of [0x1, 0x3]) {
    await using copy = await uniqueCopy("sleeper32.exe", "x64");
    await asDotNet(copy.path, flags);
    const e = await assertRejects(
      () => launch(copy.path, { dlls: [fixture("probe32.dll")] }),
      HeapshiftError,
      `Cannot launch ${copy.path} with probe32.dll: it is an IL-only .NET program`,
    );
    assertEquals(e.kind, "unsupported");
    assertEquals(findProcesses(copy.exe), [], "nothing was started");
  }
});
