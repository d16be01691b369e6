// Exit never hangs: ExitProcess kills threads in the middle of mimalloc's
// bookkeeping (tests/fixtures/dll_exit.c parks one inside the reclaim of an
// abandoned segment, its reader count raised, or with v3 of an abandoned
// page, its bit in the abandoned map cleared, while eight others allocate),
// and the frees that run after it, in DLLs detached before and after
// heapshift, must not wait for the dead. 200 runs, each must be gone within
// 2 s of calling exit(0), with exit code 0; 20 of quick_exit(0); and 20
// each of _exit(0) and ExitProcess(0), which run no exit table: only the
// loader's shutdown tells the threads are gone, and the DLL detached before
// heapshift frees into mimalloc with a dead thread's reader count raised.
import { assertEquals } from "./assert.ts";
import {
  type Arch,
  fixture,
  hookDll,
  readLines,
  testArches,
  UCRT_UNDER_TEST,
} from "./harness.ts";

const RUNS = 200;
const QUICK_RUNS = 20;
const DIRECT_RUNS = 20;
const EXIT_BOUND_MS = 2_000;
/** A run still alive this long after exit(0) is stuck (killed, reported). */
const STUCK_MS = 15_000;

/** How the fixture ends its process. */
type How = "exit" | "quick_exit" | "_exit" | "ExitProcess";

interface ExitRun {
  lines: string[];
  /** ms from reading "exiting" to the process being gone. */
  exitMs: number;
  code: number;
}

/** A run of `exe` (a fixture) with the hook DLL and `args`. */
async function exitRun(
  arch: Arch,
  exe: string,
  args: string[],
): Promise<ExitRun> {
  const child = new Deno.Command(fixture(exe, arch), {
    args: [hookDll(arch), ...args],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines: string[] = [];
  let exiting = 0;
  const reading = (async () => {
    for await (const line of readLines(child.stdout)) {
      lines.push(line);
      if (line === "exiting") exiting = Date.now();
    }
  })();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const stuck = new Promise<"stuck">((resolve) => {
    timer = setTimeout(() => resolve("stuck"), 60_000);
  });
  // A run that never reaches "exiting" is cut off after a minute; one that
  // does gets STUCK_MS after it.
  const poll = setInterval(() => {
    if (exiting && Date.now() - exiting > STUCK_MS) {
      clearTimeout(timer);
      try {
        child.kill();
      } catch { /* gone */ }
    }
  }, 100);
  const status = await Promise.race([child.status, stuck]);
  clearInterval(poll);
  clearTimeout(timer);
  if (status === "stuck") {
    child.kill();
    await child.status;
  }
  const end = Date.now();
  await reading;
  return {
    lines,
    // The line may be read only after the process is already gone.
    exitMs: exiting ? Math.max(0, end - exiting) : -1,
    code: status === "stuck" ? -1 : status.code,
  };
}

/** `runs` runs of the fixture ending with `how`, alternating the order. */
async function exitRuns(arch: Arch, how: How, runs: number) {
  for (let i = 0; i < runs; i++) {
    const order = i % 2 ? "after" : "before";
    const run = await exitRun(arch, "dll_exit.exe", [order, how]);
    const what = `run ${i} (late DLL loaded ${order} heapshift): ${
      run.lines.join(" | ")
    }`;
    const ready = /^ready \d+ live=1 late=1 mimalloc=(\d+)$/.exec(
      run.lines[0] ?? "",
    );
    assertEquals(ready !== null, true, what);
    // A thread parked inside the abandoned list's reader window (v2: a
    // segment's reader count; v3: a page's abandoned bit) is killed by the
    // exit; v3 on x64 keeps its page headers apart, where the fixture cannot
    // guard one alone: chance kills only.
    const unforced = Number(ready![1]) >= 300 && arch === "x64";
    assertExited(run, unforced ? "parked=unforced" : "parked=1", {
      how,
      what,
    });
  }
}

/**
 * `run` printed `parked` then "exiting", and ended with code 0 within
 * EXIT_BOUND_MS of it; `what` names the run in the messages.
 */
function assertExited(
  run: ExitRun,
  parked: string,
  options: { how: string; what: string },
): void {
  const { how, what } = options;
  if (run.lines[1] === "parked=nolock") {
    throw new Error(
      `${what}: the fixture found no symbol for the lock in heapshift.dll, whose COFF symbol table it reads: the mingw build keeps one, an MSVC build has none: these cases need the DLL mingw-w64's gcc builds`,
    );
  }
  assertEquals(run.lines.slice(1), [parked, "exiting"], what);
  assertEquals(
    run.exitMs >= 0 && run.exitMs <= EXIT_BOUND_MS,
    true,
    `${what}: still running ${run.exitMs} ms after ${how}(0)`,
  );
  assertEquals(run.code, 0, what);
}

testArches(
  `exit(0) while 8 threads allocate: ${RUNS} runs, each gone within 2 s`,
  (arch) => exitRuns(arch, "exit", RUNS),
);

// quick_exit runs its own table (at_quick_exit), not atexit's.
testArches(
  `quick_exit(0) while 8 threads allocate: ${QUICK_RUNS} runs, each gone within 2 s`,
  (arch) => exitRuns(arch, "quick_exit", QUICK_RUNS),
);

// No exit table runs: heapshift learns of the end only from the loader
// (RtlDllShutdownInProgress), and the late DLL loaded after it is detached
// before it, its frees reaching mimalloc (a segment freed with v2, or a
// page emptied with v3, waits for the parked reader, which the exit
// killed).
for (const how of ["_exit", "ExitProcess"] as const) {
  testArches(
    `${how}(0) while 8 threads allocate: ${DIRECT_RUNS} runs, each gone within 2 s`,
    (arch) => exitRuns(arch, how, DIRECT_RUNS),
  );
}

// A thread killed while it holds one of mimalloc 3's locks
// (tests/fixtures/dll_exit_lock.c parks it there for good through
// heapshift's imports, and checks by name, from heapshift's symbol table,
// that it holds that lock): arena.c's arena_reserve_lock, held while it
// reserves a new arena; the main heap's arena_pages_lock (arena.c), held
// while its first page in a new arena is recorded; page-map.c's
// mi_page_map_lock (x64; x86's page map is flat), held while a part of the
// page map is added for a new arena at a fresh 512 MiB boundary; and the
// main heap's theaps_lock (theap.c), held while a thread's first allocation
// sets up its theap. After a direct _exit or ExitProcess the DLL detached
// before heapshift allocates 48 MiB, which needs a new arena or a page in
// the new one, on the main thread (reserve, arena_pages, page_map) or on a
// thread that never allocated, which needs a theap (theaps). With mimalloc
// 2 nothing is parked and the exit is the same. Not theaps on Microsoft's
// ucrtbase: there a new thread's theap is set up by the CRT's own
// allocation before the thread's function runs (unmarked), and the marked
// thread then parked in its DLL_THREAD_DETACH's theap removal, holding the
// loader lock, which no exit kills (a hang of the fixture's making).
const LOCK_RUNS = 4;
const LOCKS = {
  reserve: "arena_reserve_lock",
  arena_pages: "arena_pages_lock",
  page_map: "mi_page_map_lock",
  theaps: "theaps_lock",
} as const;
const LOCK_CASES = [
  ["reserve", "_exit"],
  ["reserve", "ExitProcess"],
  ["arena_pages", "_exit"],
  ["arena_pages", "ExitProcess"],
  ["page_map", "_exit"],
  ["page_map", "ExitProcess"],
  ["theaps", "ExitProcess"],
] as const;
for (
  const [lock, how] of LOCK_CASES.filter(([lock]) =>
    lock !== "theaps" || UCRT_UNDER_TEST === "wine"
  )
) {
  testArches(
    `${how}(0) while a killed thread holds mimalloc 3's ${
      LOCKS[lock]
    }: ${LOCK_RUNS} runs, each gone within 2 s`,
    async (arch) => {
      for (let i = 0; i < LOCK_RUNS; i++) {
        const run = await exitRun(arch, "dll_exit_lock.exe", [lock, how]);
        const what = `run ${i}: ${run.lines.join(" | ")}`;
        const ready = /^ready \d+ mimalloc=(\d+)$/.exec(run.lines[0] ?? "");
        assertEquals(ready !== null, true, what);
        const parked = Number(ready![1]) < 300 ||
            (lock === "page_map" && arch === "x86")
          ? "parked=skipped"
          : "parked=1";
        assertExited(run, parked, { how, what });
      }
    },
  );
}
