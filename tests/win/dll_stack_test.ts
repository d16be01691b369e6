// What heapshift's own threads leave resident of their stacks
// (tests/fixtures/dll_stack.c); the injector's thread is told apart from a
// program's by where it began (private memory, the stub's). Under Wine every new thread's start clears
// 960 KiB of its stack, and the last thread to have exited keeps its stack
// mapped until another exits: the injector's remote thread (LoadLibraryW,
// then heapshift_arm_exit_watch) left ~1 MB in the program, and the trimmer
// held as much while it ran. Windows touches a stack only as it grows.
import { assert, assertEquals } from "./assert.ts";
import { runValues, type Values } from "./fixture_values.ts";
import { type Arch, hookDll, testArches } from "./harness.ts";

/** Every "KEY=N" the fixture printed for KEY, in order. */
function all(r: Values, key: string): number[] {
  return [...r.text.matchAll(new RegExp(`\\b${key}=(-?\\d+)`, "g"))].map((
    m,
  ) => Number(m[1]));
}

/** At most this many pages of a stack 128 KiB below its frame (a few
 * pages for calls made after the reset). */
const FEW = 8;

/** The stack NAME's thread counted, at least 1 MiB of it. */
function stack(r: Values, name: string): number {
  const [below] = all(r, `${name}.below`);
  const [pages] = all(r, `${name}.pages`);
  assert(pages > 64, `${name}: a stack of at least 1 MiB\n${r.text}`);
  assert(below >= 0, `${name}: counted\n${r.text}`);
  return below;
}

async function run(arch: Arch, args: string[] = [], env = {}): Promise<Values> {
  const r = await runValues("dll_stack.exe", [hookDll(arch), ...args], {
    arch,
    env,
  });
  // frees HeapFree refused (tests/fixtures/checked_free.h)
  assertEquals(r.get("failed_frees"), "0", r.text);
  return r;
}

testArches(
  "stacks: the injector's thread, loading heapshift and calling heapshift_arm_exit_watch or heapshift_retry, leaves its stack's pages below its frame out of the working set (and its last error as it was)",
  async (arch) => {
    const r = await run(arch);
    assertEquals(r.get("live"), "1", r.text);
    for (const name of ["load", "arm", "retry"]) {
      assert(stack(r, name) <= FEW, `${name}\n${r.text}`);
    }
    assertEquals(r.get("arm.error_kept"), "1", r.text);
    assertEquals(r.get("retry.error_kept"), "1", r.text);
  },
);

testArches(
  "stacks: a program's own threads that load heapshift or call heapshift_arm_exit_watch or heapshift_retry keep their stacks as they were",
  async (arch) => {
    const r = await run(arch, ["program"]);
    assertEquals(r.get("live"), "1", r.text);
    for (const name of ["load", "arm", "retry"]) {
      const below = stack(r, name);
      // what Wine cleared is still there: heapshift reset none of it
      if (r.get("wine") === "1") assert(below > 64, `${name}\n${r.text}`);
    }
  },
);

testArches(
  "stacks: the trimmer's thread keeps its stack's pages below its frame out of the working set",
  async (arch) => {
    const r = await run(arch, [], {
      // the walk runs on its own thread under Wine only with this; warn+heap
      // would make it refuse the heap (dll_trim_test.ts)
      HEAPSHIFT_TRIM_WALK: "1",
      WINEDEBUG: "-all,+pid,err+heap",
    });
    assertEquals(r.get("live"), "1", r.text);
    assert(Number(r.get("trim.passes")) >= 1, `a pass was made\n${r.text}`);
    const others = all(r, "other.below");
    // Windows may run loader or pool threads of its own besides
    assert(others.length >= 1, `the trimmer runs\n${r.text}`);
    if (r.get("wine") === "1") assertEquals(others.length, 1, r.text);
    for (const below of others) assert(below >= 0 && below <= FEW, r.text);
  },
);
