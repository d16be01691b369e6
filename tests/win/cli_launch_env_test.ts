// What a launched program inherits of heapshift's environment: all of it,
// heapshift's own switches included (README: HEAPSHIFT_VERBOSE and the
// rest are set so). The test-only HEAPSHIFT_TEST_FAULTS, left set in a
// shell, would make heapshift.dll fake failures in a player's game: said.
import { assert, assertEquals } from "./assert.ts";
import { fixture, hookDll, test } from "./harness.ts";
import { runCli as cli } from "../../cli/_test_utils.ts";

test("cli: launch and inject of an executable warn that HEAPSHIFT_TEST_FAULTS, set in heapshift's environment, reaches the program", async () => {
  // An item heapshift.dll does not know: it fakes nothing.
  const env = { HEAPSHIFT_TEST_FAULTS: "none-such" };
  for (const command of ["launch", "inject"]) {
    const r = await cli(
      [command, fixture("sleeper.exe"), "--dll", hookDll(), "--json"],
      env,
    );
    let pid = 0;
    try {
      assertEquals(r.code, 0, r.stderr);
      pid = (JSON.parse(r.stdout) as { pid: number }).pid;
      const oneLine = r.stderr.replace(/\s*\n\s*/g, " ");
      assert(
        oneLine.includes(
          "warning: HEAPSHIFT_TEST_FAULTS=none-such is set in heapshift's environment: the program inherits it, and heapshift.dll fakes the failures it names (a switch for heapshift's tests: unset it)",
        ),
        `${command}: ${r.stderr}`,
      );
    } finally {
      if (pid) Deno.kill(pid, "SIGKILL");
    }
  }
});
