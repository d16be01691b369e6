// A 32-bit program whose address space was reserved nearly full before the
// takeover, as a game's late in its life (tests/fixtures/dll_vafull.c): the
// takeover goes live (or refuses cleanly), and every allocation then gives
// UCRT's answer, a block or NULL with ENOMEM, old blocks intact, no heap
// report (the harness fails a run on one).
import { assert, assertEquals, assertRejects } from "./assert.ts";
import { HeapshiftError, inject } from "../../mod.ts";
import {
  ARCHES,
  finishTarget,
  fixture,
  hookDll,
  startTarget,
  test,
} from "./harness.ts";
import { assertValues, runValues, type Values } from "./fixture_values.ts";
import { runCli } from "../../cli/_test_utils.ts";

/** Everything the fixture checks once nothing is left, hooked. */
function assertOutOfMemory(r: Values): void {
  assertValues(r, {
    state: 1,
    small: 1,
    enomem: 1,
    realloc_old: "NULL",
    realloc_old_errno: 12,
    realloc_old_kept: 1,
    realloc_new: "NULL",
    realloc_new_errno: 12,
    realloc_new_kept: 1,
    calloc: "NULL",
    calloc_errno: 12,
    aligned: "NULL",
    aligned_errno: 12,
    strdup: "NULL",
    strdup_errno: 12,
    aligned_realloc: "NULL",
    aligned_realloc_errno: 12,
    aligned_realloc_kept: 1,
    expand: "NULL",
    expand_kept: 1,
    thread: "NULL",
    thread_errno: 12,
    newmode: "NULL",
    newmode_errno: 12,
    again: 1,
    heap_ok: 1,
  });
  assert(Number(r.get("filled_mib")) > 16, r.text);
}

if (ARCHES.includes("x86")) {
  test("vafull: address space reserved nearly full, then loaded: live, and out of memory every call gives UCRT's answer [x86]", async () => {
    const plain = await runValues("dll_vafull.exe", ["-"], { arch: "x86" });
    assertValues(plain, { state: -1, realloc_old_kept: 1, heap_ok: 1 });
    const hooked = await runValues("dll_vafull.exe", [hookDll("x86")], {
      arch: "x86",
    });
    assertOutOfMemory(hooked);
  });

  // The injector's thread in the program had its default stack, which the
  // program's header sets (16 MiB here; some games ask that or more):
  // with no hole that large, no thread, no takeover.
  test("vafull: inject into a program with no hole as large as its default thread stack [x86]", async () => {
    await using target = await startTarget(
      fixture("dll_vafull.exe", "x86"),
      { args: ["inject"] },
    );
    const r = await runCli(["inject", String(target.readyPid)]);
    assertEquals(r.code, 0, r.stderr);
    const w = target.child.stdin.getWriter();
    await w.write(new TextEncoder().encode("go\n"));
    await w.close();
    const { text, code } = await finishTarget(target);
    assertEquals(text.split("\n").at(-1), "done", text);
    assertEquals(code, 0, text);
    const values = new Map<string, string>();
    for (const m of text.matchAll(/([\w.]+)=(-?\w+)/g)) {
      if (!values.has(m[1])) values.set(m[1], m[2]);
    }
    assertOutOfMemory({ get: (k) => values.get(k), text });
  });

  // No hole left as large as the 1 MiB stack of the thread that loads the
  // DLL (holes of 128 to 512 KiB): Windows says "Not enough memory", which
  // reads as RAM; it is the 32-bit program's own addresses that ran out.
  test("vafull: inject into a program with no hole for the loading thread's stack says its address space is used up [x86]", async () => {
    await using target = await startTarget(
      fixture("dll_vafull.exe", "x86"),
      { args: ["inject", "128"] },
    );
    const pid = target.readyPid;
    const r = await runCli(["inject", String(pid)]);
    assertEquals(r.code, 1, r.stderr);
    assertEquals(
      r.stderr.trim(),
      `error: Cannot inject heapshift32.dll into process ${pid}: the 32-bit process has no room left in its address space for the thread heapshift starts in it to call LoadLibraryW, whose stack needs a free range of 1 MiB at least (CreateRemoteThread: not enough memory, error 8): a 32-bit program late in its life may have used up its 2 GiB (4 GiB when large-address-aware) of addresses, whatever memory the machine has free; launch it with heapshift instead, which loads the DLL before the program's own code runs`,
    );
    const e = await assertRejects(
      () => inject(pid, hookDll("x86")),
      HeapshiftError,
      "the 32-bit process has no room left in its address space",
    );
    assertEquals(e.kind, "failed");
  });
}
