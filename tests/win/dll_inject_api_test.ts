// The central case through the public API: mod.ts inject() puts the real
// heapshift.dll into a running program (a remote LoadLibraryW thread, so its
// DllMain runs on a foreign thread inside the loader lock) while thousands
// of old blocks are live; stats() then reads what the DLL did.
import { assert, assertEquals } from "./assert.ts";
import { fixture, hookDll, startTarget, test } from "./harness.ts";
import { inject, modules, stats } from "../../mod.ts";

test("inject(): takeover of a running program, stats() agree", async () => {
  await using target = await startTarget(fixture("dll_conformance.exe"), {
    args: ["inject", hookDll()],
    env: { HS_WAIT_EXIT: "1" },
  });
  const next = async () => {
    const r = await target.lines.next();
    assert(!r.done, "the target ended early");
    return r.value;
  };
  assertEquals(await next(), "inject-now");
  await inject(target.pid, hookDll());
  assert(
    modules(target.pid).some((m) => m.name.toLowerCase() === "heapshift.dll"),
  );
  const early = stats(target.pid);
  assertEquals(early.state, "live");
  // The whole surface (the `_o_` variants come on top where exported).
  const surface = [
    "malloc",
    "calloc",
    "realloc",
    "free",
    "_malloc_base",
    "_calloc_base",
    "_realloc_base",
    "_free_base",
    "_msize",
    "_expand",
    "_recalloc",
    "_strdup",
    "_wcsdup",
    "_mbsdup",
    "_dupenv_s",
    "_wdupenv_s",
    "_aligned_malloc",
    "_aligned_realloc",
    "_aligned_recalloc",
    "_aligned_msize",
    "_aligned_free",
    "_aligned_offset_malloc",
    "_aligned_offset_realloc",
    "_aligned_offset_recalloc",
  ];
  assertEquals(surface.filter((n) => !early.hooked.includes(n)), []);
  assert(early.hooked.includes("_o_malloc"), early.hooked.join(" "));
  assert(early.patchSites >= 20, `sites ${early.patchSites}`);
  assert(early.liveSince !== null);
  assertEquals(early.mimallocVersion, "2.1.2");

  const w = target.child.stdin.getWriter();
  await w.write(new TextEncoder().encode("go\n"));
  const lines: string[] = [];
  for (let l = await next(); l !== "done"; l = await next()) lines.push(l);
  assertEquals(lines.filter((l) => l.includes("FAIL")), []);
  const oldReallocs = Number(
    lines.find((l) => l.startsWith("# old_reallocs="))?.split("=")[1],
  );
  assert(oldReallocs >= 8000, `old reallocs ${oldReallocs}`);

  const s = stats(target.pid);
  assertEquals(s.state, "live");
  assert(s.counters.migrations >= oldReallocs, JSON.stringify(s.counters));
  assert(s.counters.freesOld >= 10_000, JSON.stringify(s.counters));
  assert(s.counters.migratedBytes > 0);
  assert(s.counters.allocs > s.counters.migrations);
  assert(s.counters.frees >= s.counters.freesOld);
  assert(s.counters.expandRejects >= 1);
  await w.write(new TextEncoder().encode("exit\n"));
  await w.close();
  assertEquals((await target.child.status).code, 0);
});
