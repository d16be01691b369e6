import assert from "node:assert/strict";
import {
  creationTime,
  statsDeniedMessage,
  statsName,
  statsNamespace,
  statsNamespaces,
} from "./live_stats.ts";
import {
  debugPrivilege,
  ERROR,
  isWindows,
  openProcess,
  PROCESS,
  processCreationTime,
  Win32Error,
} from "../ffi/mod.ts";

Deno.test("statsNamespace: a service's block (session 0) is Global\\ from a user's session; another user's session's is Session\\<id>\\", () => {
  assert.equal(statsNamespace(1, 1), "Local");
  assert.equal(statsNamespace(0, 0), "Local");
  assert.equal(statsNamespace(0, 1), "Global");
  assert.equal(statsNamespace(2, 1), "Session\\2");
  assert.equal(statsNamespace(1, 0), "Session\\1");
  // a session that cannot be asked: the reader's own namespace
  assert.equal(statsNamespace(undefined, 1), "Local");
});

Deno.test("statsNamespaces: a target whose session cannot be told is looked for in ours, then in session 0's", () => {
  assert.deepEqual(statsNamespaces(1, 1), ["Local"]);
  assert.deepEqual(statsNamespaces(0, 1), ["Global"]);
  assert.deepEqual(statsNamespaces(2, 1), ["Session\\2"]);
  // a service it may not query: its block is Global\, not in our session
  assert.deepEqual(statsNamespaces(undefined, 1), ["Local", "Global"]);
  // from session 0 its Local\ is Global\
  assert.deepEqual(statsNamespaces(undefined, 0), ["Local"]);
});

Deno.test("statsNamespaces: a service's block is looked for as Global\\ too when our own session cannot be told", () => {
  // ours may be session 0 (Local\ is Global\ there) or a user's (Global\)
  assert.deepEqual(statsNamespaces(0, undefined), ["Local", "Global"]);
  // a user's: Local\ from its own session, Session\<id>\ from another
  assert.deepEqual(statsNamespaces(1, undefined), ["Local", "Session\\1"]);
  assert.deepEqual(statsNamespaces(undefined, undefined), ["Local", "Global"]);
});

Deno.test("statsName: plain, beside it with the creation time, in any namespace", () => {
  assert.equal(statsName(1234), "Local\\heapshift-1234");
  assert.equal(
    statsName(1234, undefined, { namespace: "Session\\2" }),
    "Session\\2\\heapshift-1234",
  );
  assert.equal(
    statsName(1234, 0x1dc0ffeen, { namespace: "Global" }),
    "Global\\heapshift-1234-000000001dc0ffee",
  );
});

Deno.test({
  name:
    "creationTime: a process that refuses to be opened (a service, another user's program) is opened again with SeDebugPrivilege, so its block's owner can still be checked",
  ignore: !isWindows,
  fn: () => {
    // Whether this token holds the privilege (an elevated administrator's
    // does; Wine's does): without it the refusal stands.
    const privilege = debugPrivilege();
    const held = privilege !== undefined;
    privilege?.[Symbol.dispose]();
    let opens = 0;
    const time = creationTime(Deno.pid, {
      open: (pid) => {
        if (++opens === 1) {
          throw new Win32Error("OpenProcess", ERROR.ACCESS_DENIED);
        }
        return openProcess(pid, PROCESS.QUERY_LIMITED_INFORMATION);
      },
    });
    if (!held) {
      assert.equal(time, undefined);
      assert.equal(opens, 1);
      return;
    }
    assert.equal(opens, 2);
    using own = openProcess(Deno.pid, PROCESS.QUERY_LIMITED_INFORMATION);
    assert.equal(time, processCreationTime(own));
  },
});

Deno.test({
  name:
    "creationTime: a process that cannot be opened for another reason is asked once",
  ignore: !isWindows,
  fn: () => {
    let opens = 0;
    const time = creationTime(Deno.pid, {
      open: () => {
        opens++;
        throw new Win32Error("OpenProcess", ERROR.INVALID_PARAMETER);
      },
    });
    assert.equal(time, undefined);
    assert.equal(opens, 1);
  },
});

Deno.test("statsDeniedMessage: an elevated heapshift refused is not told to run elevated", () => {
  assert.match(
    statsDeniedMessage(7, false),
    /^Cannot read heapshift's stats of process 7: access denied \(.*run heapshift from an elevated \(Administrator\) prompt\)$/,
  );
  const elevated = statsDeniedMessage(7, true);
  assert.match(
    elevated,
    /^Cannot read heapshift's stats of process 7: access denied, though heapshift runs elevated: the block's own security admits no Administrators /,
  );
  assert.doesNotMatch(elevated, /from an elevated/);
});
