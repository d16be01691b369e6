// A load of heapshift that lands while exit() runs the program's atexit
// handlers (an injection at the wrong moment) must not wait for exit():
// the handler may itself need the loader lock, which our DllMain holds.
// Registering our own atexit entry from DllMain did wait (the CRT's exit
// lock), and the process hung (tests/fixtures/dll_exit_inject.c).
import { assert, assertEquals } from "./assert.ts";
import { fixture, heapWatch, hookDll, testArches } from "./harness.ts";
import { runProgram } from "../../cli/_test_utils.ts";

const STUCK_MS = 30_000;

testArches(
  "exit: heapshift loaded while exit() runs atexit handlers that need the loader: no hang",
  async (arch) => {
    const w = heapWatch();
    // Past STUCK_MS it is killed and the test fails with its output.
    const out = await runProgram(
      fixture("dll_exit_inject.exe", arch),
      [hookDll(arch)],
      { stderr: "inherit", timeoutMs: STUCK_MS },
    );
    await w.check();
    const text = out.stdout;
    assertEquals(out.code, 0, text);
    assert(text.includes("loaded=1 state=1"), text);
    assert(text.includes("handler_done=1"), text);
  },
);
