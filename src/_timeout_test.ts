import assert from "node:assert/strict";
import { MAX_TIMER_MS, timeoutMs } from "./_timeout.ts";

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
