import assert from "node:assert/strict";
import { HeapshiftError } from "../../mod.ts";
import { CliError } from "../output.ts";
import { waitForNew } from "./inject.ts";

Deno.test("inject --wait: a timeout is said in the seconds given, other errors pass", async () => {
  const asked: number[] = [];
  const timeOut = (_: string, o: { timeout: number }) => {
    asked.push(o.timeout);
    return Promise.reject(
      new HeapshiftError(
        "timeout",
        "No process named x appeared within 1000 ms",
      ),
    );
  };
  await assert.rejects(
    () => waitForNew("game.exe", { seconds: 1, wait: timeOut }),
    (e) =>
      e instanceof CliError &&
      e.message ===
        "No process named game.exe started within 1 s (--wait SECONDS waits longer)",
  );
  assert.deepEqual(asked, [1000]);
  const other = new HeapshiftError("access-denied", "no");
  await assert.rejects(
    () =>
      waitForNew("game.exe", { seconds: 1, wait: () => Promise.reject(other) }),
    (e) => e === other,
  );
  const found = { pid: 7, name: "game.exe" };
  assert.equal(
    await waitForNew("game.exe", {
      seconds: 1,
      wait: () => Promise.resolve(found),
    }),
    found,
  );
});
