// Installing the hook DLL into a program with threads
// (tests/fixtures/dll_install.c): an attempt that commits moves threads and
// writes jumps; one given up, or a failed installation, leaves the process
// exactly as it was: no thread redirected, no code changed, every page of
// ucrtbase.dll with its protection. Conditions the suite cannot provoke
// for real are made to look real with HEAPSHIFT_TEST_FAULTS (dll/README.md).
import { win32 } from "node:path";
import { assert } from "./assert.ts";
import { type Arch, fixture, hookDll, testArches } from "./harness.ts";
import { assertValues, runValues, type Values } from "./fixture_values.ts";
import { builtMimallocVersion } from "./built_dll.ts";

/** heapshift's own reason codes (dll/STATS.md). */
const REASON = {
  threadInSite: 6,
  tls: 14,
  readback: 7,
  protect: 8,
  threadOpen: 9,
  threadSuspend: 10,
  threadContext: 11,
  tooManyThreads: 12,
  unsafeSite: 15,
  restore: 16,
  foreignHook: 17,
  pageMap: 18,
  pin: 19,
};

function run(
  arch: Arch,
  mode: string,
  faults = "",
  env: Record<string, string> = {},
): Promise<Values> {
  return runValues("dll_install.exe", [mode, hookDll(arch)], {
    env: { HEAPSHIFT_TEST_FAULTS: faults, ...env },
    arch,
  });
}

/** The HEAPSHIFT_VERBOSE log of a run of `dll_install.exe` (next to it). */
async function verboseLog(
  arch: Arch,
  runIt: (env: Record<string, string>) => Promise<Values>,
): Promise<string> {
  const dir = win32.dirname(fixture("dll_install.exe", arch));
  const logs = async () => {
    const names = new Set<string>();
    for await (const e of Deno.readDir(dir)) {
      if (/^heapshift-\d+\.log$/.test(e.name)) names.add(e.name);
    }
    return names;
  };
  const before = await logs();
  await runIt({ HEAPSHIFT_VERBOSE: "1" });
  const added = [...await logs()].filter((n) => !before.has(n));
  assert(added.length === 1, `one new log in ${dir}: ${added}`);
  const path = `${dir}\\${added[0]}`;
  const text = await Deno.readTextFile(path);
  await Deno.remove(path);
  return text;
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

/** The bytes malloc's jump covers under Wine: x64 jmp [rip+0] with its
 * slot, x86 jmp rel32 (its malloc has no hot-patch prologue). */
const MALLOC_JUMP: Record<Arch, number> = { x64: 14, x86: 5 };

testArches(
  "install: a thread stopped inside a site's bytes fails the installation (no fault needed); one stopped past them does not",
  async (arch) => {
    // The check itself, not the `busy` test fault: a thread whose pc lies
    // in the bytes a jump overwrites would resume in the middle of it.
    const len = MALLOC_JUMP[arch];
    for (const k of [1, len - 1]) {
      const r = await run(arch, `inside:${k}`);
      assertUntouched(r, REASON.threadInSite, { "stopped.at": k });
    }
    const r = await run(arch, `inside:${len}`);
    assertValues(r, {
      "state": 1,
      "stopped.at": len,
      "pages.changed": 0,
      "malloc.is_mimalloc": 1,
    });
  },
);

testArches(
  "install: a Win32 heap call outside the functions the jumps replace fails the installation",
  async (arch) => {
    // Microsoft's ucrtbase calls HeapFree, HeapSize and HeapReAlloc only in
    // the _base functions it patches; one elsewhere would hand mimalloc's
    // blocks to the heap after the takeover. Wine's calls the heap from many
    // places (on blocks of its own): checked as Microsoft's is, it must be
    // refused (x64: by .pdata functions; x86: by the code decoded from the
    // sites).
    assertUntouched(await run(arch, "plain", "heap-calls"), REASON.unsafeSite);
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

testArches(
  "install: a page map mimalloc cannot commit whole for the hooks' lookup fails it cleanly",
  async (arch) => {
    assertUntouched(await run(arch, "plain", "page-map"), REASON.pageMap);
  },
);

testArches(
  "install: a DLL that cannot pin itself in memory (an unload would remove the code the jumps point to) patches nothing",
  async (arch) => {
    assertUntouched(await run(arch, "plain", "pin"), REASON.pin);
  },
);

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

testArches(
  "install: a thread id the snapshot listed that now names another process's thread is skipped",
  async (arch) => {
    // That thread is suspended 127 times: suspending it once more would fail
    // the installation (thread-suspend), so a live state proves it was left
    // alone.
    assertValues(await run(arch, "foreign"), {
      "foreign.count": 127,
      "state": 1,
      "stats.reason": 0,
      "malloc.is_mimalloc": 1,
    });
  },
);

testArches(
  "install: a thread that refuses SuspendThread for a while (its kernel exit) is retried, not fatal",
  async (arch) => {
    assertValues(await run(arch, "threads:2", "suspend-refused:3"), {
      "state": 1,
      "stats.reason": 0,
      "malloc.is_mimalloc": 1,
    });
    // One that keeps refusing fails it, with the error it gave.
    assertUntouched(
      await run(arch, "threads:2", "suspend-refused"),
      REASON.threadSuspend,
      { "stats.error": 5 },
    );
  },
);

testArches(
  "install: the attempts are bounded in time, not in number (Sleep(1) is 15.6 ms on Windows)",
  async (arch) => {
    // Every attempt finds a site busy, and each pause lasts 16 ms as on
    // Windows: 200 attempts would hold the loader lock over 3 s.
    const r = await run(arch, "plain", "busy,retry-sleep:16");
    assertUntouched(r, REASON.threadInSite);
    const ms = Number(r.get("load.ms"));
    assert(ms < 1500, `LoadLibrary took ${ms} ms\n${r.text}`);
  },
);

testArches(
  "install: another thread changing the protection of a page to be patched meanwhile: 10 loads, each live, every page as it was",
  async (arch) => {
    for (let i = 0; i < 10; i++) {
      const r = await run(arch, "reprotect");
      assertValues(r, {
        "state": 1,
        "pages.changed": 0,
        "malloc.is_mimalloc": 1,
      });
    }
  },
);

testArches(
  "install: a site changed since the plan (another tool patching meanwhile) fails the installation, nothing written",
  async (arch) => {
    assertUntouched(
      await run(arch, "plain", "site-changed"),
      REASON.foreignHook,
    );
  },
);

testArches(
  "install: a page whose protection cannot be restored is reported",
  async (arch) => {
    // Committed: hooks live, and the writable page is not kept quiet.
    assertValues(await run(arch, "plain", "restore"), {
      "state": 1,
      "stats.state": 1,
      "stats.reason": REASON.restore,
      "stats.error": 5,
      "malloc.is_mimalloc": 1,
    });
    // Given up: no page was made writable (only the attempt that commits
    // does), so none stays so.
    assertUntouched(
      await run(arch, "plain", "busy,restore"),
      REASON.threadInSite,
    );
  },
);

testArches(
  "install: a page that cannot be made writable (Arbitrary Code Guard's error 1655) fails the installation, every page as it was",
  async (arch) => {
    // The first page refused: none was made writable. The second: the
    // first, made writable, gets its protection back.
    for (const n of [1, 2]) {
      assertUntouched(
        await run(arch, "plain", `protect:${n}`),
        REASON.protect,
        { "stats.error": 1655 },
      );
    }
    // That first page's protection cannot be put back either: reported
    // (restore takes precedence, dll/STATS.md), not left quietly writable.
    assertValues(await run(arch, "plain", "protect:2,restore"), {
      "state": 3,
      "stats.state": 3,
      "stats.reason": REASON.restore,
      "stats.error": 5,
      "code.changed": 0,
      "pages.changed": 1,
      "malloc.is_mimalloc": 0,
    });
    // and its log does not say that nothing was changed
    const log = await verboseLog(
      arch,
      (env) => run(arch, "plain", "protect:2,restore", env),
    );
    assert(
      log.includes("no code was changed, but a page may have stayed writable"),
      log,
    );
    assert(!log.includes("nothing was changed"), log);
  },
);

/** Landings (test-only) inside malloc's jump, and what is then written. */
const LANDINGS: Record<Arch, [number, number | "refused", string][]> = {
  // x64: at +13 only the 12-byte form (mov rax; jmp rax) is left; at +5
  // neither.
  x64: [[13, 1, "48b8"], [5, "refused", ""]],
  // x86: malloc has no hot-patch prologue under Wine: jmp rel32 or nothing.
  x86: [[3, "refused", ""], [1, "refused", ""]],
};

testArches(
  "install: a branch that lands inside a site's bytes makes it choose a shorter jump or refuse",
  async (arch) => {
    for (const [at, state, code] of LANDINGS[arch]) {
      const r = await run(arch, "plain", `branch-in-site:${at}`);
      if (state === "refused") {
        assertUntouched(r, REASON.unsafeSite);
      } else {
        assertValues(r, { "state": 1, "code.malloc": code });
      }
    }
  },
);

testArches(
  "install: an export that takes blocks and cannot be patched fails the installation; one that only allocates is left alone",
  async (arch) => {
    // Left as it was, _aligned_free (or _msize, an _o_ twin ...) would hand
    // mimalloc's blocks to the CRT heap: HeapFree of a foreign pointer ends
    // a Windows process. Under Wine every export of the surface can be
    // patched, so a test fault refuses the one site.
    // (Not _o__msize and the other _o_ twins: Wine's are aliases, the same
    // code as the required _msize.)
    for (const name of ["_aligned_free", "_aligned_msize"]) {
      assertUntouched(
        await run(arch, "plain", `refuse-site:${name}`),
        REASON.unsafeSite,
      );
    }
    // _strdup and _heapmin unpatched: their code allocates through the
    // hooked malloc, or asks the CRT heap; the rest goes live.
    for (const name of ["_strdup", "_heapmin"]) {
      assertValues(await run(arch, "plain", `refuse-site:${name}`), {
        "state": 1,
        "stats.state": 1,
        "malloc.is_mimalloc": 1,
      });
    }
  },
);

testArches(
  "install: outside Wine, a _msize, _expand or _recalloc that forwards to no _base function fails the installation as unsafe-site",
  async (arch) => {
    // Microsoft's wrap non-exported _base functions that the CRT also calls
    // directly (_recalloc_base -> _msize_base): hooking only the export
    // would leave those calls to size mimalloc's blocks with HeapSize.
    // Wine's do the work themselves, so taken for Microsoft's they fail.
    assertUntouched(await run(arch, "plain", "not-wine"), REASON.unsafeSite);
  },
);

testArches(
  "install: an export another tool already hooked (it jumps out of ucrtbase) fails the installation as foreign-hook",
  async (arch) => {
    // Its jump would take mimalloc's blocks to code that believes in the
    // CRT heap. Written before the fixture records the code, so "nothing
    // changed" means heapshift wrote nothing.
    for (const name of ["_aligned_free", "malloc"]) {
      assertUntouched(
        await run(arch, `prehooked:${name}`),
        REASON.foreignHook,
        { prehooked: 1 },
      );
    }
  },
);

testArches(
  "install: another tool's hook in a form that does not jump out where decoded, or looks like code, fails the installation as foreign-hook",
  async (arch) => {
    // Each would otherwise be taken for ucrtbase's own code and written
    // over: the other tool's blocks would then reach HeapFree (a crash on
    // Windows). "pushmov" decodes as plain code: only ucrtbase's file,
    // compared byte for byte (relocated), tells it.
    const forms = arch === "x64"
      ? ["movrax", "pushmov"]
      : ["pushret", "absind"];
    for (const form of forms) {
      for (const name of ["free", "_aligned_free"]) {
        assertUntouched(
          await run(arch, `prehooked:${name}:${form}`),
          REASON.foreignHook,
          { prehooked: 1 },
        );
      }
      // An entry that only allocates is left as it is (Windows' hotpatching
      // also sends a function elsewhere); the rest goes live.
      assertValues(await run(arch, `prehooked:_strdup:${form}`), {
        "prehooked": 1,
        "state": 1,
        "malloc.is_mimalloc": 1,
      });
    }
  },
);

testArches(
  "install: another tool's export-table hook (the export leads out of ucrtbase's image) fails the installation as foreign-hook",
  async (arch) => {
    // GetProcAddress gives the other tool's stub, not ucrtbase's code: what
    // the user must hear is that another tool hooks the allocator, not that
    // this ucrtbase cannot be patched (no-room).
    for (const name of ["free", "_aligned_free"]) {
      assertUntouched(
        await run(arch, `prehooked:${name}:eat`),
        REASON.foreignHook,
        { prehooked: 1 },
      );
    }
  },
);

testArches(
  "install: with ucrtbase's file out of reach, another tool's jumps that look like code are still told by their shape",
  async (arch) => {
    // The file comparison is off when the mapped image no longer matches
    // its file (an app-local ucrtbase replaced on disk), the path is too
    // long, or the file cannot be opened (a sandbox's token): then only
    // the shape of the bytes tells. "pushmov" is subhook's x64 jump,
    // "pushxchg" PolyHook's.
    const forms = arch === "x64"
      ? ["movrax", "pushmov", "pushxchg"]
      : ["pushret"];
    for (const form of forms) {
      assertUntouched(
        await run(arch, `prehooked:free:${form}`, "no-file"),
        REASON.foreignHook,
        { prehooked: 1 },
      );
    }
  },
);

testArches(
  "install: a stats block another process created first under heapshift's name, saying it is live here, does not stop the takeover",
  async (arch) => {
    // Anyone may create Local\\heapshift-PID first (the pid and creation
    // time are public): only a heapshift loaded in the process owns it.
    const r = await run(arch, "squatted");
    assertValues(r, {
      "squatted": 1,
      "state": 1,
      "stats.state": 1,
      "malloc.is_mimalloc": 1,
    });
  },
);

testArches(
  "install: a module's code is compared with its file with the base relocations applied (a DLL loaded away from its preferred base)",
  async (arch) => {
    // On Windows ASLR relocates ucrtbase in every process; under Wine it
    // sits at its preferred base, so a fixture DLL stands in for it.
    const r = await runValues(
      "dll_reloc.exe",
      [hookDll(arch), fixture("dll_reloc.dll", arch)],
      { arch },
    );
    assertValues(r, {
      "squatted": 1,
      "relocated": 1,
      "table.points_in": 1,
      "table.same": 1,
      "table.tail.same": 1,
      "code.same": 1,
      "table.changed.same": 0,
      "table.restored.same": 1,
    });
  },
);

testArches(
  "install: with no TLS index left, the DLL stays loaded, pinned, and idle, and takes no heap (an inject and an eject, 20 times)",
  async (arch) => {
    // Pinned before anything can fail, as every other way out leaves it:
    // unloaded, a build with a static CRT (MSVC) would leave that CRT's
    // thread callbacks pointing into unmapped code. The private heap comes
    // only with the TLS index (each load once left one in the program).
    const r = await runValues(
      "dll_tls.exe",
      [hookDll(arch), "0", "low", "20"],
      { arch },
    );
    assertValues(r, { unloaded: 0, heaps_added: 0 });
  },
);

testArches(
  "install: with too few TLS indexes left the DLL fails closed, and the thread's TEB is left alone (x86: the SEH chain)",
  async (arch) => {
    // heapshift's own indexes come first (emulated TLS, two for the
    // counters, and with mimalloc 2 its heap cache), then mimalloc 3's (2),
    // which must lie below 1087 (the TEB's expansion slots, less the one
    // mimalloc keeps): with the highest indexes free, up to two are no use
    // to it. mimalloc 2 needs none of its own.
    const low = builtMimallocVersion(arch).startsWith("3.") ? 5 : 4;
    const most = { low, high: low + 2 };
    for (const end of ["low", "high"] as const) {
      let live: number | null = null; // the fewest free that hooked
      for (let free = 0; free <= 9; free++) {
        const r = await runValues(
          "dll_tls.exe",
          [hookDll(arch), `${free}`, end],
          { arch },
        );
        const at = `${free} free (${end}):\n${r.text}`;
        assertValues(r, { allocs_ok: 1, teb0_same: 1 });
        if (r.get("state") === "1") {
          assert(r.get("owned") === "1", at);
          live ??= free;
        } else {
          // failed closed, and only while too few were free
          assert(live === null && r.get("state") === "3", at);
          assert(r.get("owned") === "0", at);
          // also without the first index (the emulated TLS's)
          assertValues(r, { "stats.reason": REASON.tls });
          // every index but that first one is given back
          assertValues(r, { free_after: Math.max(free - 1, 0) });
        }
      }
      assert(
        live !== null && live >= low && live <= most[end],
        `${end}: ${live}`,
      );
    }
  },
);
