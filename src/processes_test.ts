import assert from "node:assert/strict";
import { HeapshiftError } from "./heapshift_error.ts";
import { isNewInstance, waitForProcess } from "./processes.ts";

Deno.test("waitForProcess() refuses a timeout or interval that is not a number of milliseconds, before it looks", async () => {
  const bad: [Parameters<typeof waitForProcess>[1], RegExp][] = [
    [
      { timeout: NaN },
      /the timeout must be a positive number of milliseconds, 0 \(look once\) or Infinity \(no limit\), not NaN/,
    ],
    [{ timeout: -1 }, /the timeout must be .*, not -1/],
    [
      { interval: 0 },
      /the polling interval must be a positive number of milliseconds up to 2147483647 \(a timer.s limit\), not 0/,
    ],
    [{ interval: NaN }, /the polling interval must be .*, not NaN/],
    [{ interval: Infinity }, /the polling interval must be .*, not Infinity/],
    [{ interval: 2 ** 31 }, /the polling interval must be .*, not 2147483648/],
    // From JavaScript: a value of another type is named as such.
    [
      { interval: "50" as unknown as number },
      /the polling interval must be .*, not a string \("50"\)$/,
    ],
    [{ interval: null as unknown as number }, /polling interval .*, not null$/],
    [
      { timeout: "1000" as unknown as number },
      /the timeout must be a positive number of milliseconds, 0 \(look once\) or Infinity \(no limit\), not a string \("1000"\)$/,
    ],
  ];
  for (const [options, message] of bad) {
    await assert.rejects(
      waitForProcess("game.exe", options),
      (e) =>
        e instanceof HeapshiftError && e.kind === "bad-argument" &&
        /^Cannot wait for game\.exe: /.test(e.message) &&
        message.test(e.message),
      JSON.stringify(options),
    );
  }
});

Deno.test("findProcesses, findProcess and waitForProcess refuse a name that is not a string, and a signal that is not an AbortSignal, before they look", async () => {
  const { findProcess, findProcesses } = await import("./processes.ts");
  const bad = (e: unknown, text: RegExp) =>
    e instanceof HeapshiftError && e.kind === "bad-argument" &&
    text.test(e.message);
  for (const name of [5, null, undefined, ""]) {
    const text =
      /^Cannot (find|wait for) a process: the name must be an executable's file name such as game\.exe, not /;
    assert.throws(() => findProcesses(name as never), (e) => bad(e, text));
    assert.throws(() => findProcess(name as never), (e) => bad(e, text));
    await assert.rejects(
      waitForProcess(name as never),
      (e) => bad(e, text),
    );
  }
  await assert.rejects(
    waitForProcess("game.exe", { signal: "stop" as never }),
    (e) =>
      bad(
        e,
        /^Cannot wait for game\.exe: signal must be an AbortSignal, not a string$/,
      ),
  );
});

Deno.test("waitForProcess refuses options that are not an object (null, a number, an array) as bad-argument, before it looks", async () => {
  for (const options of [null, 5, "x", []]) {
    await assert.rejects(
      waitForProcess("game.exe", options as never),
      (e) =>
        e instanceof HeapshiftError && e.kind === "bad-argument" &&
        /^Cannot wait for game\.exe: the options must be an object, not /
          .test(e.message),
      JSON.stringify(options),
    );
  }
});

Deno.test("waitForProcess refuses a newOnly that is not a boolean as bad-argument, before it looks", async () => {
  // A string is truthy: "false" must not mean newOnly.
  for (const newOnly of ["false", 1, null]) {
    await assert.rejects(
      waitForProcess("game.exe", { newOnly } as never),
      (e) =>
        e instanceof HeapshiftError && e.kind === "bad-argument" &&
        /^Cannot wait for game\.exe: newOnly must be true or false, not /
          .test(e.message),
      JSON.stringify(newOnly),
    );
  }
});

// Windows gives an ended process's pid to the next one soon after: a game
// that Steam restarts may come back under its old pid (Wine reuses a pid
// only once its table is full, so no test under Wine shows it).
Deno.test("waitForProcess newOnly takes a pid seen before for a new instance when its creation time differs", () => {
  const before = new Map<number, bigint | undefined>([
    [100, 5n],
    [200, undefined],
  ]);
  const at = (times: Record<number, bigint | undefined>) => ({
    createdAt: (pid: number) => times[pid],
  });
  assert.equal(isNewInstance(300, before, at({})), true, "a pid not seen");
  assert.equal(isNewInstance(100, before, at({ 100: 5n })), false, "the same");
  assert.equal(isNewInstance(100, before, at({ 100: 9n })), true, "reused");
  assert.equal(
    isNewInstance(100, before, at({})),
    false,
    "its time unreadable now: taken for the one seen",
  );
  assert.equal(
    isNewInstance(200, before, at({ 200: 9n })),
    false,
    "its time unreadable then: taken for the one seen",
  );
});
