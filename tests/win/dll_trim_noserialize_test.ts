// The trimmer (dll/trim.c) and a program that uses the CRT heap with
// HEAP_NO_SERIALIZE from its one heap-using thread
// (tests/fixtures/dll_trim_review.c, mode noserialize). Wine's walk has
// the heap lock as its only guard, which HEAP_NO_SERIALIZE calls skip: a
// free block it walked can be split by the program before its pages are
// reset (every run crashed or lost blocks, x64 and x86). So under Wine
// the walk is opt-in (HEAPSHIFT_TRIM_WALK=1) and the default loses nothing.
import { assertEquals } from "./assert.ts";
import { fixture, hookDll, runFixture, testArches } from "./harness.ts";

const TRIMMING = { WINEDEBUG: "-all,+pid,err+heap" };

async function run(arch: "x64" | "x86", env: Record<string, string>) {
  const { lines, code } = await runFixture(
    fixture("dll_trim_review.exe", arch),
    [hookDll(arch), "noserialize"],
    { env, arch },
  );
  const text = lines.join("\n");
  assertEquals(code, 0, text);
  assertEquals(lines.at(-1), "done", text);
  const get = (k: string) => new RegExp(`${k}=(\\d+)`).exec(text)?.[1];
  // frees HeapFree refused (tests/fixtures/checked_free.h)
  assertEquals(get("failed_frees"), "0", text);
  return { text, get };
}

testArches(
  "trim: a program's HEAP_NO_SERIALIZE blocks on the CRT heap keep their bytes with the default trimmer",
  async (arch) => {
    const control = await run(arch, { ...TRIMMING, HEAPSHIFT_NO_TRIM: "1" });
    assertEquals(control.get("bad"), "0", control.text);
    const r = await run(arch, TRIMMING);
    // free-reset: no walk (not asked for); the hooks reset an old block's
    // pages in the thread that frees it, before the heap has it back
    assertEquals(r.get("trim_state"), "9", r.text);
    assertEquals(r.get("bad"), "0", r.text);
    assertEquals(r.get("heap_valid"), "1", r.text);
  },
);
