import assert from "node:assert/strict";
import {
  MACHINE,
  processSessionId,
  runningMachine,
  withDebugPrivilegeRetry,
} from "./process.ts";
import { isWindows } from "./library.ts";
import {
  adjustPrivilege,
  SE_DEBUG_PRIVILEGE,
  systemProcessSessions,
} from "./ntdll.ts";
import { processEntries } from "./toolhelp.ts";
import { ERROR, Win32Error } from "./win32_error.ts";

const { UNKNOWN, ARM64, AMD64, I386 } = MACHINE;

Deno.test("runningMachine: an x64 process on ARM64 Windows, which IsWow64Process2 reports as no WOW64 process (UNKNOWN) on ARM64, runs as x64 by its machine type info", () => {
  // [IsWow64Process2's process and native machine, the machine type info,
  //  the machine it runs as, whether the info is asked for]
  const cases: [number, number, number | undefined, number, boolean][] = [
    // x64 emulated on ARM64 (Windows 11): the machine type info tells.
    [UNKNOWN, ARM64, AMD64, AMD64, true],
    // a native ARM64 process; and where the info is unknown, the native one
    [UNKNOWN, ARM64, ARM64, ARM64, true],
    [UNKNOWN, ARM64, undefined, ARM64, true],
    // on x64 Windows nothing more is asked: x64 and WOW64's x86 as before
    [UNKNOWN, AMD64, ARM64, AMD64, false],
    [I386, AMD64, ARM64, I386, false],
    // x86 under WOW64 on ARM64: IsWow64Process2 says so itself
    [I386, ARM64, ARM64, I386, false],
  ];
  for (const [process, native, info, runs, asks] of cases) {
    let asked = false;
    const got = runningMachine({ process, native }, {
      imageMachine: () => {
        asked = true;
        return info;
      },
    });
    const what = `process ${process}, native ${native}, info ${info}`;
    assert.deepEqual(got, { process: runs, native }, what);
    assert.equal(asked, asks, `${what}: info asked`);
  }
});

Deno.test("withDebugPrivilegeRetry: a call that succeeds, or fails other than with access denied, is made once", () => {
  let calls = 0;
  assert.equal(withDebugPrivilegeRetry(() => ++calls), 1);
  const missing = new Win32Error("OpenProcess", ERROR.INVALID_PARAMETER, {
    text: "bad pid",
  });
  assert.throws(
    () =>
      withDebugPrivilegeRetry(() => {
        calls++;
        throw missing;
      }),
    (e) => e === missing,
  );
  assert.equal(calls, 2);
});

Deno.test({
  name:
    "systemProcessSessions: the system's process list gives each process's session, as ProcessIdToSessionId does",
  ignore: !isWindows,
  fn: () => {
    const sessions = systemProcessSessions();
    assert.ok(sessions, "the list can be had");
    assert.equal(sessions.get(Deno.pid), processSessionId(Deno.pid));
    let compared = 0;
    for (const { pid } of processEntries()) {
      let session: number;
      try {
        session = processSessionId(pid);
      } catch {
        continue; // not ours to ask, or ended since
      }
      if (!sessions.has(pid)) continue; // started since the list
      assert.equal(sessions.get(pid), session, `process ${pid}`);
      compared++;
    }
    assert.ok(compared > 1, `${compared} compared`);
  },
});

// (the privilege is in the Windows Deno's token: an administrator's, as
// Wine's is)
Deno.test({
  name:
    "withDebugPrivilegeRetry: a call refused with access denied is made again with SeDebugPrivilege enabled, which is set back after",
  ignore: !isWindows,
}, () => {
  /** Whether the privilege is enabled, leaving it as it was. */
  const enabled = () => {
    const was = adjustPrivilege(SE_DEBUG_PRIVILEGE, true);
    if (was === false) adjustPrivilege(SE_DEBUG_PRIVILEGE, false);
    return was;
  };
  assert.equal(enabled(), false, "disabled to begin with");
  const denied = new Win32Error("OpenProcess", ERROR.ACCESS_DENIED, {
    text: "denied",
  });
  const seen: (boolean | undefined)[] = [];
  const value = withDebugPrivilegeRetry(() => {
    seen.push(enabled());
    if (seen.length === 1) throw denied;
    return "opened";
  });
  assert.equal(value, "opened");
  assert.deepEqual(seen, [false, true]);
  assert.equal(enabled(), false, "set back");
  // refused again: that second error
  const again = new Win32Error("OpenProcess", ERROR.ACCESS_DENIED, {
    text: "denied again",
  });
  let calls = 0;
  assert.throws(
    () =>
      withDebugPrivilegeRetry(() => {
        throw ++calls === 1 ? denied : again;
      }),
    (e) => e === again,
  );
  assert.equal(enabled(), false, "set back after a failure too");
});
