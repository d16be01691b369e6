import assert from "node:assert/strict";
import {
  medianInterval,
  type PairableRun,
  pairedGeomean,
  pairedRatio,
} from "./paired.ts";

const runs = (ms: (number | null)[]): PairableRun[] =>
  ms.map((t, i) => ({ rep: i + 1, ms: t }));

Deno.test("medianInterval: order statistics that cover the median at 95%", () => {
  assert.equal(medianInterval([]), null);
  const eleven = [11, 1, 10, 2, 9, 3, 8, 4, 7, 5, 6];
  const m = medianInterval(eleven)!;
  assert.equal(m.median, 6);
  // n = 11: [x(2), x(10)] covers 1 − 2·12/2048 = 98.8%; [x(3), x(9)] only
  // 93.5%, under 95%.
  assert.deepEqual([m.lo, m.hi], [2, 10]);
  assert.ok(Math.abs(m.level - (1 - 24 / 2048)) < 1e-12);
  // Under 6 values no pair of order statistics reaches 95%: min and max.
  const five = medianInterval([3, 1, 2, 5, 4])!;
  assert.deepEqual([five.median, five.lo, five.hi], [3, 1, 5]);
  assert.ok(five.level < 0.95);
  assert.equal(medianInterval([4, 1, 3, 2])!.median, 2.5);
  // 2^-n underflows past n = 1074: the interval must still narrow there.
  // n = 2001: the 95% interval is x(957)..x(1045) (normal approximation:
  // 1000.5 − 1.96·√2001/2 ≈ 956.7).
  const many = medianInterval(Array.from({ length: 2001 }, (_, i) => i))!;
  assert.equal(many.median, 1000);
  assert.ok(many.lo > 940 && many.lo < 970, `lo ${many.lo}`);
  assert.equal(many.hi, 2000 - many.lo);
  assert.ok(many.level >= 0.95 && many.level < 0.96, `level ${many.level}`);
});

Deno.test("pairedRatio: what the runs of a rep share cancels out", () => {
  // b is 10% slower than a in every rep, on a machine whose speed moves by
  // up to 2.6× from rep to rep: each side alone spreads over 2.6×, the
  // pairs not at all.
  const speed = [2, 1.1, 2.6, 1, 1.7, 1.2, 2.2];
  const a = speed.map((s) => 50 * s);
  const b = speed.map((s) => 55 * s);
  const p = pairedRatio(runs(b), runs(a))!;
  assert.ok(Math.abs(p.median - 1.1) < 1e-9);
  assert.ok(Math.abs(p.lo - 1.1) < 1e-9 && Math.abs(p.hi - 1.1) < 1e-9);
  assert.equal(p.n, 7);
});

Deno.test("pairedRatio: only reps where both ran, and at least 3 of them", () => {
  const p = pairedRatio(
    runs([20, null, 30, 40, 0]),
    runs([10, 10, 10, null, 10]),
  );
  assert.equal(p, null); // reps 1 and 3 only
  const q = pairedRatio(runs([20, 30, 40]), runs([10, 10, 10]))!;
  assert.deepEqual([q.median, q.lo, q.hi, q.n], [3, 2, 4, 3]);
  // a second run in a rep does not pair again
  const twice = [...runs([20, 30, 40]), { rep: 1, ms: 1000 }];
  assert.equal(pairedRatio(twice, runs([10, 10, 10]))!.median, 3);
});

Deno.test("pairedRatio: a ÷ b is exactly the inverse of b ÷ a, also with an even number of reps", () => {
  const a = runs([10, 12, 9, 20]), b = runs([10, 10, 10, 10]);
  const ab = pairedRatio(a, b)!, ba = pairedRatio(b, a)!;
  // the middle two of 4 ratios, 1.0 and 1.2: their geometric mean
  assert.ok(Math.abs(ab.median - Math.sqrt(1.2)) < 1e-12, `${ab.median}`);
  assert.ok(Math.abs(ab.median * ba.median - 1) < 1e-12);
  assert.ok(Math.abs(ab.lo * ba.hi - 1) < 1e-12);
  assert.ok(Math.abs(ab.hi * ba.lo - 1) < 1e-12);
});

Deno.test("pairedGeomean: per rep across comparisons, reps missing one are left out", () => {
  const g = pairedGeomean([
    { num: runs([10, 10, 10, 10]), den: runs([20, 20, 20, null]) },
    { num: runs([40, 40, 40, 40]), den: runs([10, 10, 10, 10]) },
  ])!;
  // sqrt(0.5 × 4) in reps 1–3; rep 4 lacks the first comparison's pair
  assert.equal(g.n, 3);
  assert.ok(Math.abs(g.median - Math.SQRT2) < 1e-12);
  assert.equal(pairedGeomean([]), null);
});
