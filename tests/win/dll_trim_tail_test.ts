// The trimmer (dll/trim.c, Wine's walk) and the free block at a subheap's
// committed end (tests/fixtures/dll_trim_review.c, mode tail): Wine's
// HeapWalk reports the last free block of a subheap with
// cbData = commit_end - 64 - lpData, negative when the block starts less
// than 88 bytes before the committed end, and x64's PROCESS_HEAP_ENTRY.cbData (a DWORD) carries it as ~4 GiB.
// The trimmer must not take that at face value: it would MEM_RESET ~4 GiB
// from the subheap's committed end on (Wine refuses it; trim.error says
// so, and the suite's main trim test fails on it now and then).
import { assertEquals } from "./assert.ts";
import { fixture, hookDll, runFixture, test } from "./harness.ts";

test("trim: a free block just below a subheap's committed end makes the trimmer reset nothing outside it", async () => {
  const { lines, code } = await runFixture(fixture("dll_trim_review.exe"), [
    hookDll(),
    "tail",
  ], { env: { WINEDEBUG: "-all,+pid,err+heap", HEAPSHIFT_TRIM_WALK: "1" } });
  const text = lines.join("\n");
  assertEquals(code, 0, text);
  assertEquals(lines.at(-1), "done", text);
  const get = (k: string) => new RegExp(`${k}=(\\w+)`).exec(text)?.[1];
  assertEquals(get("trim_state"), "1", text); // walking
  assertEquals(get("resized_in_place"), "1", text);
  assertEquals(get("heap_valid"), "1", text);
  assertEquals(get("trim.error"), "0", text);
  // frees HeapFree refused (tests/fixtures/checked_free.h)
  assertEquals(get("failed_frees"), "0", text);
});
