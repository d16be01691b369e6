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

testArches(
  "last error: left alone when mimalloc's hinted address is taken and it asks the system again",
  async (arch) => {
    // mimalloc 2 asks for a new segment at a hinted address (2 to 6 TiB)
    // first; when something else lives there that VirtualAlloc fails, the
    // next one succeeds, and the failure's error stayed behind a malloc that
    // succeeded. (x86 and mimalloc 3's segments take no hint.)
    const hooked = await runValues(
      "dll_lasterror.exe",
      [hookDll(arch), "hints-taken"],
      { arch },
    );
    assertValues(hooked, {
      state: 1,
      ...(arch === "x64" ? { hints_taken: 1 } : {}),
      main_bad: 0,
      thread_bad: 0,
    });
  },
);
