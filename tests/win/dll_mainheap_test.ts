// heapshift installed on a short-lived thread (as a remote-thread injection
// does) must not leave mimalloc's main heap bound to that thread: a later
// thread that inherits it strands its memory when it ends
// (tests/fixtures/dll_mainheap.c).
import { assert } from "./assert.ts";
import { hookDll, testArches } from "./harness.ts";
import { assertValues, runValues } from "./fixture_values.ts";

// The second round allocates ~300 MiB of 256-byte blocks; memory the first
// round left reusable keeps it near 0 (measured: 0 MiB when installed on the
// main thread). Stranded memory adds the whole round again.
const MARGIN_MB = 64;

testArches(
  "mainheap: installed on the main thread, a dead thread's freed memory is reused",
  async (arch) => {
    const r = await runValues("dll_mainheap.exe", ["main", hookDll(arch)], {
      arch,
    });
    assertValues(r, { live: 1 });
    assert(Number(r.get("regrowth.mb")) < MARGIN_MB, r.text);
  },
);

testArches(
  "mainheap: installed on a short-lived thread, a later thread with its TEB does not strand its memory",
  async (arch) => {
    const r = await runValues("dll_mainheap.exe", ["thread", hookDll(arch)], {
      arch,
    });
    assertValues(r, { live: 1, "teb.reused": 1 });
    assert(Number(r.get("regrowth.mb")) < MARGIN_MB, r.text);
  },
);
