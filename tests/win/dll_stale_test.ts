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

// Blocks under the name that do not say whose they are, or that cannot be
// read: the child still installs, and stats() reads the child's own block.
// (reserved: Wine lets the DLL and the reader use the uncommitted pages, so
// it passes there without the check; on Windows the DLL's first read of the
// block would be an access violation inside DllMain.)
for (const kind of ["zero", "old8k", "reserved"]) {
  test(`stats block under the pid's name (${kind}): the child installs and stats() reads its own block`, async () => {
    await using target = await startTarget(fixture("dll_stale.exe"), {
      args: [kind, hookDll()],
    });
    // zero: a live-looking block without a creation time is nobody's live
    // copy of heapshift (it was refused as one: state 3)
    assertEquals(await childState(target.lines), "1");
    const s = stats(target.readyPid);
    assertEquals(s.state, "live");
    assert(s.hooked.length > 0, s.hooked.join(","));
    assert(s.counters.allocs >= 100, `allocs ${s.counters.allocs}`);
    assert(s.counters.allocs !== 4242, "the dead process's counters");
    assert(s.processStarted !== null);
  });
}

// Any process in the session can make the predictable name first, with
// any backing: only a plain section of the page file is used. An image
// section's header page is read-only (writing the header there ended the
// load inside DllMain); a file's pages can fail to page in, which would
// raise inside malloc (Microsoft: "Reading and Writing From a File View").
for (
  const [kind, head] of [
    ["image", "00905a4d"],
    ["file", "00000000"],
    ["longfile", "00000000"],
  ]
) {
  test(
    `a section of ${
      kind === "image" ? "an image" : `a file (${kind})`
    } under the pid's name is left alone: the child installs beside it`,
    async () => {
      await using target = await startTarget(fixture("dll_stale.exe"), {
        args: [kind, hookDll()],
      });
      assertEquals(await childState(target.lines), "1");
      const named = await target.lines.next();
      assertEquals(named.value, `child.named=${head}`, "written into");
      const s = stats(target.readyPid);
      assertEquals(s.state, "live");
      assert(s.counters.allocs >= 100, `allocs ${s.counters.allocs}`);
    },
  );
}

test("a second copy of heapshift sees the first one's block beside the pid's name", async () => {
  const dir = await Deno.makeTempDir({ prefix: "heapshift-copy-" });
  try {
    const copy = `${dir}\\hs_copy.dll`;
    await Deno.copyFile(hookDll(), copy);
    await using target = await startTarget(fixture("dll_stale.exe"), {
      args: ["double", hookDll(), copy],
    });
    assertEquals(await childState(target.lines), "1");
    const second = await target.lines.next();
    assertEquals(second.value, "child.state2=3");
    const s = stats(target.readyPid);
    assertEquals(s.state, "live");
    assertEquals(s.reason, null);
    assert(s.counters.allocs >= 200, `allocs ${s.counters.allocs}`);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

test("a second copy of heapshift that cannot see the first one's block finds its jumps and patches nothing", async () => {
  // No stats block (a name nobody could create): the second copy's only
  // defence is the sites' bytes, which hold the first copy's jumps.
  const dir = await Deno.makeTempDir({ prefix: "heapshift-copy-" });
  try {
    const copy = `${dir}\\hs_copy.dll`;
    await Deno.copyFile(hookDll(), copy);
    await using target = await startTarget(fixture("dll_stale.exe"), {
      args: ["double", hookDll(), copy],
      env: { HEAPSHIFT_TEST_FAULTS: "no-stats" },
    });
    assertEquals(await childState(target.lines), "1");
    const second = await target.lines.next();
    assertEquals(second.value, "child.state2=3");
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
