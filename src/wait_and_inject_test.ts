import assert from "node:assert/strict";
import { HeapshiftError } from "./heapshift_error.ts";
import { waitAndInject } from "./wait_and_inject.ts";

Deno.test("waitAndInject() names the option it refuses, before it reads the DLL or looks for the program", async () => {
  const doing = "Cannot wait for game.exe and inject into it";
  const cases: [object, string][] = [
    [
      { timeout: 0 },
      `${doing}: the timeout must be a positive number of milliseconds or Infinity (no limit), not 0`,
    ],
    [
      { watch: -1 },
      `${doing}: the watch must be a positive number of milliseconds, not -1`,
    ],
    [
      { watch: Infinity },
      `${doing}: the watch must be a positive number of milliseconds, not Infinity`,
    ],
    [
      { injectTimeout: "10" },
      `${doing}: the injectTimeout must be a positive number of milliseconds, not a string ("10")`,
    ],
  ];
  for (const [options, message] of cases) {
    const e = await waitAndInject("game.exe", "no such.dll", options).then(
      () => undefined,
      (e) => e,
    );
    assert.ok(e instanceof HeapshiftError, `${e}`);
    assert.deepEqual([e.kind, e.message], ["bad-argument", message]);
  }
});
