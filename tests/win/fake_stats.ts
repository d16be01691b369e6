// What stats() reads from the block tests/fixtures/api_fakestats.dll.c
// publishes (the same for its x64 and x86 builds: the layout is
// fixed-width).
import type { HeapshiftStats } from "../../mod.ts";

/** The stats of process `pid` running api_fakestats(32).dll. */
export function fakeStats(pid: number): HeapshiftStats {
  return {
    pid,
    processStarted: null, // the block records no creation time
    state: "live",
    reason: null,
    error: 0,
    mimallocVersion: "2.1.2",
    dllVersion: "0.1.3",
    hooked: ["malloc", "free"],
    patchSites: 5,
    liveSince: new Date(1_700_000_000_000),
    counters: {
      allocs: 640,
      frees: 256,
      freesOld: 64,
      migrations: 7,
      migratedBytes: 700,
      expandRejects: 0,
    },
    trim: {
      state: "none",
      error: 0,
      passes: 0,
      resetBytes: 0,
      chunks: 0,
      holdMaxUs: 0,
      busyKiB: 0,
      freeKiB: 0,
    },
  };
}
