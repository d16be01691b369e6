// An MSVC-built x86 program keeps its stack 4-byte aligned only: a call
// into the hooks may come with esp % 16 of 0, 4, 8 or 12, while GCC, which
// builds heapshift32.dll with SSE2, assumes 16 wherever a function does
// not realign its frame (an aligned SSE access there faults). The fixture
// (tests/fixtures/dll_misalign.c) calls every function of the hooked
// surface at each misalignment, error paths and old blocks too, on the main
// thread and on new ones, and checks that the callee-saved registers, the
// x87 control word and MXCSR come back as they were. x86 only: x64's
// convention guarantees 16. On Microsoft's x86 ucrtbase this also runs the
// register adapters of _msize, _expand and _recalloc misaligned.
import { assertEquals } from "./assert.ts";
import { ARCHES, hookDll, test } from "./harness.ts";
import { runValues } from "./fixture_values.ts";

if (ARCHES.includes("x86")) {
  test("x86 hooks called with the stack 4-, 8- and 12-byte misaligned run, keeping ebx, esi, edi, ebp, the x87 control word and MXCSR", async () => {
    const r = await runValues("dll_misalign.exe", [hookDll("x86")], {
      arch: "x86",
    });
    assertEquals(r.get("bad"), "0", r.text);
    assertEquals(r.get("failed_frees"), "0", r.text);
    // every call of the surface ran, at four misalignments on two threads
    assertEquals(Number(r.get("calls")) > 8 * 6000, true, r.text);
  });
}
