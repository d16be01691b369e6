import assert from "node:assert/strict";
import { MAX_TIMER_MS, timeoutMs } from "./_timeout.ts";
import { HeapshiftError } from "./heapshift_error.ts";

Deno.test("timeoutMs: a finite timeout past what a timer can hold waits as long as a timer can instead of not at all", async () => {
  const doing = "inject x.dll into process 1";
  assert.equal(timeoutMs(3e9, { fallback: 1, doing }), MAX_TIMER_MS);
  assert.equal(timeoutMs(undefined, { fallback: 10_000, doing }), 10_000);
  assert.equal(
    timeoutMs(Infinity, { fallback: 1, doing, infinite: true }),
    Infinity,
  );
  // A timer given more fires at once: what the cap is for.
  const fired = await new Promise<boolean>((resolve) => {
    const t = setTimeout(() => resolve(true), MAX_TIMER_MS);
    setTimeout(() => {
      clearTimeout(t);
      resolve(false);
    }, 50);
  });
  assert.equal(fired, false);
  assert.throws(() => timeoutMs(-1, { fallback: 1, doing }), /not -1/);
});

Deno.test("timeoutMs: the message says what the function takes (0 and Infinity where allowed), and a value of the wrong type from JavaScript as such, null too", () => {
  const doing = "wait for game.exe";
  const bad = (value: unknown, options: object, text: RegExp) =>
    assert.throws(
      () => timeoutMs(value as number, { fallback: 1, doing, ...options }),
      (e) =>
        e instanceof HeapshiftError && e.kind === "bad-argument" &&
        text.test(e.message),
      String(value),
    );
  bad(
    -1,
    { zero: true, infinite: true },
    /^Cannot wait for game\.exe: the timeout must be a positive number of milliseconds, 0 \(look once\) or Infinity \(no limit\), not -1$/,
  );
  bad(
    0,
    { infinite: true },
    /the timeout must be a positive number of milliseconds or Infinity \(no limit\), not 0$/,
  );
  bad(Infinity, {}, /a positive number of milliseconds, not Infinity$/);
  bad("1000", {}, /milliseconds, not a string \("1000"\)$/);
  bad(null, {}, /milliseconds, not null$/);
  bad(10n, {}, /milliseconds, not a bigint \(10\)$/);
});
