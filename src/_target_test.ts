import assert from "node:assert/strict";
import { accessDeniedMessage, processError } from "./_target.ts";
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
