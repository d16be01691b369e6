// The first hooked call after a mid-run load must not take a lock exit()
// holds: a thread that makes it while holding a lock of its own, with an
// atexit handler waiting for that lock, would wait for exit() forever.
// Arming the exit watch (_crt_atexit, the CRT's exit lock) on that call
// did (tests/fixtures/dll_exit_arm.c).
import { assert, assertEquals } from "./assert.ts";
import { fixture, heapWatch, hookDll, testArches } from "./harness.ts";
import { runProgram } from "../../cli/_test_utils.ts";

const STUCK_MS = 30_000;

testArches(
  "exit: the first hooked call after a mid-run load, made under a lock exit()'s handler waits for: no hang",
  async (arch) => {
    const w = heapWatch();
    // Past STUCK_MS it is killed and the test fails with its output.
    const out = await runProgram(
      fixture("dll_exit_arm.exe", arch),
      [hookDll(arch)],
      { stderr: "inherit", timeoutMs: STUCK_MS },
    );
    await w.check();
    const text = out.stdout;
    assertEquals(out.code, 0, text);
    assert(text.includes("state=1 handler_done=1"), text);
  },
);
