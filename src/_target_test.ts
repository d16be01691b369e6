import assert from "node:assert/strict";
import { accessDeniedMessage, machineArch, processError } from "./_target.ts";
import { HeapshiftError } from "./heapshift_error.ts";
import { Win32Error } from "../ffi/mod.ts";

const SUSPENDED =
  "a process created suspended has not started: resume it first, or start it with heapshift's launch";

Deno.test("processError: a module list that cannot be read yet says the process may not have started, as Wine (998) and Windows (299) report it", () => {
  const cases: [string, number, boolean][] = [
    ["CreateToolhelp32Snapshot", 998, true], // Wine
    ["CreateToolhelp32Snapshot", 299, true], // Windows
    ["Module32FirstW", 299, true],
    ["K32EnumProcessModulesEx", 299, true],
    // Elsewhere a partial copy is a read that crossed into unreadable memory.
    ["ReadProcessMemory", 299, false],
  ];
  for (const [call, code, hint] of cases) {
    const e = processError(new Win32Error(call, code, { text: "text" }), {
      pid: 1234,
      doing: "list the modules of",
    });
    assert.ok(e instanceof HeapshiftError);
    assert.equal(e.message.includes(SUSPENDED), hint, `${call} ${code}`);
    assert.ok(
      e.message.startsWith("Cannot list the modules of process 1234: "),
    );
  }
});

Deno.test("processError: access denied on a process heapshift has opened (its module list, its memory) blames a guard, not elevation", () => {
  // Every caller has opened the process with the rights for the call by
  // then: elevating cannot help, while security or anti-cheat software that
  // takes rights from other programs' handles to the process (and from
  // toolhelp's own open) refuses exactly this.
  for (
    const call of [
      "CreateToolhelp32Snapshot",
      "K32EnumProcessModulesEx",
      "ReadProcessMemory",
    ]
  ) {
    const e = processError(new Win32Error(call, 5, { text: "denied" }), {
      pid: 1234,
      doing: "list the modules of",
    });
    assert.ok(e instanceof HeapshiftError);
    assert.equal(e.kind, "access-denied");
    assert.ok(!e.message.includes("elevated (Administrator) prompt"), call);
    assert.equal(
      e.message,
      `Cannot list the modules of process 1234: Windows refused ${call} in it (access denied) though heapshift had opened it: security or anti-cheat software may be guarding the process (such software takes rights from the handles other programs open to it), or it is ending; running elevated does not change this`,
    );
  }
  // The open itself: whether elevating helps is openTarget's to tell.
  const open = processError(new Win32Error("OpenProcess", 5, { text: "x" }), {
    pid: 1234,
    doing: "inject x.dll into",
  });
  assert.ok(open instanceof HeapshiftError);
  assert.match(open.message, /access denied \(it may belong to another user/);
});

Deno.test("accessDeniedMessage: a protected process, an elevated heapshift refused anyway, or the elevation hint", () => {
  const at = { pid: 1234, doing: "inject x.dll into" };
  assert.equal(
    accessDeniedMessage(at, { protected: true, debugPrivilege: true }),
    "Cannot inject x.dll into process 1234: access denied: it is a protected process, which Windows lets no other program open this way, elevated or not; heapshift cannot take it over",
  );
  assert.equal(
    accessDeniedMessage(at, { protected: false, debugPrivilege: true }),
    "Cannot inject x.dll into process 1234: access denied, though heapshift holds SeDebugPrivilege (it runs elevated): security or anti-cheat software may be guarding the process; start the program with heapshift's launch instead, if that software allows",
  );
  for (const p of [false, undefined]) {
    assert.match(
      accessDeniedMessage(at, { protected: p, debugPrivilege: false }),
      /^Cannot inject x\.dll into process 1234: access denied \(it may belong to another user or run elevated; run heapshift from an elevated \(Administrator\) prompt\)$/,
    );
  }
});

// From JavaScript (no type checks there): a pid that is not a number is a
// bad-argument error naming its type, before anything is opened; a number
// no process can have stays not-found.
Deno.test("every function taking a pid refuses one that is not a number as bad-argument, and a number no process can have as not-found", async () => {
  const { modules, stats, processArch, processPath, inject, eject } =
    await import("../mod.ts");
  const calls: [string, (pid: never) => unknown][] = [
    ["modules", (pid) => modules(pid)],
    ["stats", (pid) => stats(pid)],
    ["processArch", (pid) => processArch(pid)],
    ["processPath", (pid) => processPath(pid)],
    ["inject", (pid) => inject(pid, "x.dll")],
    ["eject", (pid) => eject(pid, "x.dll")],
  ];
  const kindOf = async (f: () => unknown) => {
    try {
      await f();
    } catch (e) {
      assert.ok(e instanceof HeapshiftError, String(e));
      return [e.kind, e.message];
    }
    assert.fail("no error");
  };
  for (const [name, call] of calls) {
    for (
      const [pid, type] of [
        [null, "null"],
        ["1234", "a string"],
        [{}, "an object"],
        [1234n, "a bigint"],
      ] as const
    ) {
      const [kind, message] = await kindOf(() => call(pid as never));
      assert.equal(kind, "bad-argument", `${name}(${String(pid)}): ${message}`);
      assert.match(
        message,
        new RegExp(`: the process id must be a number, not ${type}$`),
        name,
      );
    }
    for (const pid of [-3, 1.5, 0]) {
      const [kind, message] = await kindOf(() => call(pid as never));
      assert.equal(kind, "not-found", `${name}(${pid}): ${message}`);
      assert.match(message, /not a valid process id$/);
    }
  }
});

Deno.test("machineArch: an x64 process emulated on ARM64 Windows is refused as what it is, not as an ARM64 process; x64 and x86 on x64 Windows are taken, x86 under WOW64 on ARM64 as before", () => {
  const AMD64 = 0x8664, I386 = 0x14c, ARM64 = 0xaa64;
  assert.equal(machineArch(1234, { process: AMD64, native: AMD64 }), "x64");
  assert.equal(machineArch(1234, { process: I386, native: AMD64 }), "x86");
  assert.equal(machineArch(1234, { process: I386, native: ARM64 }), "x86");
  const refused = (machine: { process: number; native: number }) => {
    try {
      machineArch(1234, machine);
    } catch (e) {
      assert.ok(e instanceof HeapshiftError);
      assert.equal(e.kind, "unsupported");
      return e.message;
    }
    assert.fail("not refused");
  };
  assert.equal(
    refused({ process: AMD64, native: ARM64 }),
    "Process 1234 is an x64 process emulated on ARM64 Windows: heapshift does not support x64 emulation (the system's ucrtbase.dll there is ARM64X code, not x64 code it can patch); it supports x64 and x86 targets",
  );
  assert.equal(
    refused({ process: ARM64, native: ARM64 }),
    "Process 1234 is an ARM64 process: heapshift supports only x64 and x86 targets",
  );
});
