// Installing the hook DLL into a program with threads
// (tests/fixtures/dll_install.c): an attempt that commits moves threads and
// writes jumps; one given up, or a failed installation, leaves the process
// exactly as it was: no thread redirected, no code changed, every page of
// ucrtbase.dll with its protection. Conditions the suite cannot provoke
// for real are made to look real with HEAPSHIFT_TEST_FAULTS (dll/README.md).
import { assert } from "./assert.ts";
import { type Arch, hookDll, testArches } from "./harness.ts";
import { assertValues, runValues, type Values } from "./fixture_values.ts";

/** heapshift's own reason codes (dll/STATS.md). */
const REASON = {
  threadInSite: 6,
  readback: 7,
  threadOpen: 9,
  threadSuspend: 10,
  threadContext: 11,
  tooManyThreads: 12,
};

function run(arch: Arch, mode: string, faults = ""): Promise<Values> {
  return runValues("dll_install.exe", [mode, hookDll(arch)], {
    env: { HEAPSHIFT_TEST_FAULTS: faults },
    arch,
  });
}

/** A failed installation: the stats say why; nothing was changed. */
function assertUntouched(
  r: Values,
  reason: number,
  more: Record<string, string | number> = {},
) {
  assertValues(r, {
    "state": 3,
    "stats.state": 3,
    "stats.reason": reason,
    "stats.error": 0,
    "code.changed": 0,
    "pages.changed": 0,
    "malloc.is_mimalloc": 0,
    ...more,
  });
}

testArches(
  "install: every page of ucrtbase.dll keeps its protection",
  async (arch) => {
    const r = await run(arch, "plain");
    assertValues(r, {
      "state": 1,
      "pages.changed": 0,
      "malloc.is_mimalloc": 1,
    });
    assert(Number(r.get("pages")) > 16, r.text);
    assert(Number(r.get("code.changed")) > 0, r.text);
  },
);

testArches(
  "install: a given-up attempt redirects no thread (one parked at malloc runs the CRT's malloc)",
  async (arch) => {
    assertUntouched(await run(arch, "parked", "busy"), REASON.threadInSite, {
      "parked.rip_at_site": 1,
      "parked.rip_in_heapshift": 0,
      // A mimalloc block here would be HeapFree'd by the unpatched free.
      "parked.got_mimalloc": 0,
    });
  },
);

testArches(
  "install: a committed attempt moves a thread parked at malloc into the hook",
  async (arch) => {
    assertValues(await run(arch, "parked", "busy:3"), {
      "state": 1,
      "parked.rip_in_heapshift": 1,
      "parked.got_mimalloc": 1,
      "pages.changed": 0,
    });
  },
);

/** Threads that cannot be stopped and inspected: [what, mode, faults,
 * reason, more expected values]. */
const FAILS_CLOSED: [string, string, string, number, Record<string, number>][] =
  [
    ["cannot be opened", "threads:2", "open", REASON.threadOpen, {
      "stats.error": 5,
    }],
    [
      "is one too many",
      "threads:4",
      "max-threads:2",
      REASON.tooManyThreads,
      {},
    ],
    [
      "has registers that cannot be read",
      "plain",
      "context",
      REASON.threadContext,
      {
        "stats.error": 5,
      },
    ],
    // Suspended 127 times: SuspendThread fails with ERROR_SIGNAL_REFUSED.
    ["cannot be suspended", "suspended", "", REASON.threadSuspend, {
      "suspended.count": 127,
      "stats.error": 156,
    }],
  ];

for (const [what, mode, faults, reason, more] of FAILS_CLOSED) {
  testArches(
    `install: a thread that ${what} fails it cleanly`,
    async (arch) => {
      assertUntouched(await run(arch, mode, faults), reason, more);
    },
  );
}

testArches(
  "install: a thread that ended after the thread snapshot is not in the way",
  async (arch) => {
    assertValues(await run(arch, "exited", "snapshot-rendezvous"), {
      "victim.terminated": 1,
      "state": 1,
      "malloc.is_mimalloc": 1,
    });
  },
);

/** A return address inside malloc's site: its 14 bytes (x64), 5 (x86). */
const INSIDE: Record<Arch, number> = { x64: 5, x86: 3 };

testArches(
  "install: a return address inside a site makes the installer back off",
  async (arch) => {
    const k = INSIDE[arch];
    assertUntouched(
      await run(arch, `retaddr:${k}`, `call-in-site:${k}`),
      REASON.threadInSite,
    );
    // The same word where no call ends is no return address.
    assertValues(await run(arch, `retaddr:${k}`, `call-in-site:${k + 1}`), {
      "state": 1,
    });
  },
);

testArches(
  "install: a jump that does not read back is rolled back: failed, nothing live",
  async (arch) => {
    assertUntouched(await run(arch, "plain", "readback"), REASON.readback);
  },
);

testArches(
  "install: a rollback that does not read back either reports live hooks",
  async (arch) => {
    assertValues(await run(arch, "plain", "readback-sticky"), {
      "state": 1,
      "stats.state": 1,
      "stats.reason": REASON.readback,
      "malloc.is_mimalloc": 1,
    });
  },
);
