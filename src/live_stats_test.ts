import assert from "node:assert/strict";
import { statsName, statsNamespace, statsNamespaces } from "./live_stats.ts";

Deno.test("statsNamespace: a service's block (session 0) is Global\\ from a user's session; another user's session is out of sight", () => {
  assert.equal(statsNamespace(1, 1), "Local");
  assert.equal(statsNamespace(0, 0), "Local");
  assert.equal(statsNamespace(0, 1), "Global");
  assert.equal(statsNamespace(2, 1), undefined);
  // a session that cannot be asked: the reader's own namespace
  assert.equal(statsNamespace(undefined, 1), "Local");
});

Deno.test("statsNamespaces: a target whose session cannot be told is looked for in ours, then in session 0's", () => {
  assert.deepEqual(statsNamespaces(1, 1), ["Local"]);
  assert.deepEqual(statsNamespaces(0, 1), ["Global"]);
  assert.deepEqual(statsNamespaces(2, 1), []);
  // a service it may not query: its block is Global\, not in our session
  assert.deepEqual(statsNamespaces(undefined, 1), ["Local", "Global"]);
  // from session 0 its Local\ is Global\
  assert.deepEqual(statsNamespaces(undefined, 0), ["Local"]);
});

Deno.test("statsNamespaces: a service's block is looked for as Global\\ too when our own session cannot be told", () => {
  // ours may be session 0 (Local\ is Global\ there) or a user's (Global\)
  assert.deepEqual(statsNamespaces(0, undefined), ["Local", "Global"]);
  // another user's: seen only from its own session, as Local\
  assert.deepEqual(statsNamespaces(1, undefined), ["Local"]);
  assert.deepEqual(statsNamespaces(undefined, undefined), ["Local", "Global"]);
});

Deno.test("statsName: plain, beside it with the creation time, in either namespace", () => {
  assert.equal(statsName(1234), "Local\\heapshift-1234");
  assert.equal(
    statsName(1234, 0x1dc0ffeen, { namespace: "Global" }),
    "Global\\heapshift-1234-000000001dc0ffee",
  );
});
