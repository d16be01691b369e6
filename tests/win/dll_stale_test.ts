// A stats block left by a dead process with the same pid, still held open
// by a reader (tests/fixtures/dll_stale.c): the new process installs and
// publishes its own stats, and stats() finds them (or says the process has
// no heapshift) rather than the dead process's.
import { HeapshiftError, stats } from "../../mod.ts";
import { assert, assertEquals, assertRejects } from "./assert.ts";
import { fixture, hookDll, startTarget, test } from "./harness.ts";

async function childState(
  lines: AsyncIterator<string>,
): Promise<string | undefined> {
  const next = await lines.next();
  return next.done ? undefined : next.value.replace(/^child\.state=/, "");
}

for (const kind of ["same", "small"]) {
  test(`stale stats block (${kind}): a new process with the pid installs and is read`, async () => {
    await using target = await startTarget(fixture("dll_stale.exe"), {
      args: [kind, hookDll()],
    });
    assertEquals(await childState(target.lines), "1");
    const s = stats(target.readyPid);
    assertEquals(s.state, "live");
    assertEquals(s.pid, target.readyPid);
    assertEquals(s.reason, null);
    assert(s.counters.allocs >= 100, `allocs ${s.counters.allocs}`);
    assert(s.counters.allocs !== 4242, "the dead process's counters");
  });
}

test("stale stats block: a process without heapshift is not taken for the dead one", async () => {
  await using target = await startTarget(fixture("dll_stale.exe"), {
    args: ["none", hookDll()],
  });
  assertEquals(await childState(target.lines), "-1");
  const pid = target.readyPid;
  const e = await assertRejects(
    () => Promise.resolve().then(() => stats(pid)),
    HeapshiftError,
    `Process ${pid} has no heapshift loaded`,
  );
  assertEquals(e.kind, "no-heapshift");
});
