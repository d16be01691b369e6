// A successful CRT heap call leaves the thread's last-error value alone, as
// HeapAlloc & co. do: programs read GetLastError() after a failure of their
// own with allocations in between (tests/fixtures/dll_lasterror.c). A
// mimalloc 2 build once set ERROR_MOD_NOT_FOUND on a new thread's first
// malloc, looking for advapi32 to seed the thread's heap.
import { assertValues, runValues } from "./fixture_values.ts";
import { hookDll, testArches } from "./harness.ts";

testArches(
  "last error: malloc & co. leave it alone, on the main thread and on a new thread's first allocation",
  async (arch) => {
    const clean = { main_bad: 0, thread_bad: 0 };
    const plain = await runValues("dll_lasterror.exe", [], { arch });
    assertValues(plain, { state: -1, ...clean });
    const hooked = await runValues("dll_lasterror.exe", [hookDll(arch)], {
      arch,
    });
    assertValues(hooked, { state: 1, ...clean });
  },
);
