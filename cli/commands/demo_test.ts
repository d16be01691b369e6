import assert from "node:assert/strict";
import { bar, barScale } from "./demo.ts";

const cells = (s: string) => s.replaceAll(" ", "").length;

Deno.test("throughput bars scale to the run instead of saturating", () => {
  const ucrt = 380_000;
  let full = barScale(0, { ref: ucrt });
  assert.equal(cells(bar(ucrt, full)), 6, "the UCRT reference is a quarter");
  // A run that keeps getting faster, far past 4× the UCRT rate.
  const rates = [1.2e6, 1.5e6, 1.8e6, 3e6, 6e6, 12e6, 25e6, 11e6, 2e6];
  for (const rate of rates) {
    const grown = barScale(full, { rate });
    assert.ok(grown >= full, "the scale never shrinks");
    full = grown;
    assert.ok(rate <= full, `${rate}/s fits the scale (${full})`);
    const n = cells(bar(rate, full));
    assert.equal(n, Math.round(24 * rate / full), `${rate}/s is to scale`);
  }
  // A full bar stands for a round number: 1, 2, 2.5 or 5 × 10^k.
  assert.match(String(full), /^(1|2|25|5)0*$/);
  // At one scale, faster is longer: 1.5 and 3 M ops/s differ.
  const at = barScale(barScale(0, { ref: ucrt }), { rate: 3e6 });
  assert.ok(cells(bar(3e6, at)) > cells(bar(1.5e6, at)));
  assert.equal(bar(0, 0), " ".repeat(24));
});
