// What heapshift's own threads leave resident of their stacks
// (tests/fixtures/dll_stack.c). Under Wine every new thread's start clears
// 960 KiB of its stack, and an exited thread's stack stays mapped until
// another thread exits: the injector's remote thread (LoadLibraryW, then
// heapshift_arm_exit_watch) would leave ~1 MB in the program for good, and
// the trimmer would hold as much while it runs. Windows touches a stack only
// as it grows.
import { assert, assertEquals } from "./assert.ts";
import { runValues, type Values } from "./fixture_values.ts";
import { hookDll, testArches } from "./harness.ts";

/** Every "KEY=N" the fixture printed for KEY, in order. */
function all(r: Values, key: string): number[] {
  return [...r.text.matchAll(new RegExp(`\\b${key}=(-?\\d+)`, "g"))].map((
    m,
  ) => Number(m[1]));
}

/** At most this many pages of a stack 128 KiB below its frame (a few
 * pages for calls made after the reset). */
const FEW = 8;

testArches(
  "stacks: a thread that loads heapshift mid-run, or calls its heapshift_arm_exit_watch, leaves its stack's pages below its frame out of the working set",
  async (arch) => {
    const r = await runValues("dll_stack.exe", [hookDll(arch)], { arch });
    assertEquals(r.get("live"), "1", r.text);
    for (const name of ["load", "arm"]) {
      const [below] = all(r, `${name}.below`);
      const [pages] = all(r, `${name}.pages`);
      assert(pages > 64, `${name}: a stack of at least 1 MiB\n${r.text}`);
      assert(below >= 0 && below <= FEW, `${name}\n${r.text}`);
    }
  },
);

testArches(
  "stacks: the trimmer's thread keeps its stack's pages below its frame out of the working set",
  async (arch) => {
    const r = await runValues("dll_stack.exe", [hookDll(arch)], {
      arch,
      // the walk runs on its own thread under Wine only with this; warn+heap
      // would make it refuse the heap (dll_trim_test.ts)
      env: { HEAPSHIFT_TRIM_WALK: "1", WINEDEBUG: "-all,+pid,err+heap" },
    });
    assertEquals(r.get("live"), "1", r.text);
    const others = Number(r.get("others"));
    // Windows may run loader or pool threads of its own besides
    assert(others >= 1, `the trimmer runs\n${r.text}`);
    if (r.get("wine") === "1") assertEquals(others, 1, r.text);
    for (const below of all(r, "other.below")) {
      assert(below >= 0 && below <= FEW, r.text);
    }
  },
);
