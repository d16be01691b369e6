// The central case through the public API: mod.ts inject() puts the real
// hook DLL into a running program (a remote LoadLibraryW thread, so its
// DllMain runs on a foreign thread inside the loader lock) while thousands
// of old blocks are live; stats() then reads what the DLL did. For a 64-bit
// and a 32-bit program (heapshift32.dll, through the target's own 32-bit
// kernel32), read from this 64-bit process.
import { assert, assertEquals } from "./assert.ts";
import { fixture, hookDll, startTarget, testArches } from "./harness.ts";
import { mismatches, values } from "./conformance_expect.ts";
import { inject, modules, stats } from "../../mod.ts";

testArches(
  "inject(): takeover of a running program, stats() agree",
  async (arch) => {
    await using target = await startTarget(
      fixture("dll_conformance.exe", arch),
      {
        args: ["inject", hookDll(arch)],
        env: { HS_WAIT_EXIT: "1" },
      },
    );
    const next = async () => {
      const r = await target.lines.next();
      assert(!r.done, "the target ended early");
      return r.value;
    };
    assertEquals(await next(), "inject-now");
    const dll = hookDll(arch);
    await inject(target.pid, dll);
    const name = dll.slice(dll.lastIndexOf("\\") + 1);
    assert(modules(target.pid).some((m) => m.name.toLowerCase() === name));
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
      "_aligned_malloc",
      "_aligned_realloc",
      "_aligned_recalloc",
      "_aligned_msize",
      "_aligned_free",
      "_aligned_offset_malloc",
      "_aligned_offset_realloc",
      "_aligned_offset_recalloc",
      "_heapmin",
    ];
    assertEquals(surface.filter((n) => !early.hooked.includes(n)), []);
    // UCRT's _dupenv_s allocates with the (hooked) public calloc under the
    // environment lock: left alone, its blocks still end in mimalloc.
    assertEquals(early.hooked.filter((n) => /dupenv/.test(n)), []);
    assert(early.hooked.includes("_o_malloc"), early.hooked.join(" "));
    assert(early.patchSites >= 20, `sites ${early.patchSites}`);
    assert(early.liveSince !== null);
    assertEquals(early.mimallocVersion, "2.1.2");

    const w = target.child.stdin.getWriter();
    await w.write(new TextEncoder().encode("go\n"));
    const lines: string[] = [];
    for (let l = await next(); l !== "done"; l = await next()) lines.push(l);
    // Every result line is UCRT's (the same oracle as the conformance test).
    const v = values(lines);
    assertEquals(mismatches(v, "hooked", arch), []);
    assertEquals(v.get("hs.old_block_is_mimalloc"), "0");
    const reallocs = Number(v.get("old.reallocs"));
    assertEquals(Number(v.get("hs.old.reallocs_owned")), reallocs);

    // stats() read from outside agrees with what the program did: the two
    // rejected _expand calls exactly; the old-block section's migrations
    // and old frees at least (the CRT may migrate old blocks of its own).
    const s = stats(target.pid);
    assertEquals(s.state, "live");
    assertEquals(s.counters.expandRejects, 2);
    assert(s.counters.migrations >= reallocs, JSON.stringify(s.counters));
    assert(s.counters.freesOld >= 10_000, JSON.stringify(s.counters));
    assert(
      s.counters.migratedBytes >= Number(v.get("hs.old.carried_bytes")),
      JSON.stringify(s.counters),
    );
    assert(s.counters.allocs > s.counters.migrations);
    assert(s.counters.frees >= s.counters.freesOld);
    await w.write(new TextEncoder().encode("exit\n"));
    await w.close();
    assertEquals((await target.child.status).code, 0);
  },
);
