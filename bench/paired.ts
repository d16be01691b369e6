/**
 * Ratios between variants measured in pairs.
 *
 * The harness runs every variant of a workload back to back in each rep
 * (bench/harness.ts), so two runs of the same rep saw the same machine. On
 * a shared VM the machine's speed moves by more than 2× between reps (seen
 * here: the same cell at 56 and 143 ms in one run), which a ratio of two
 * medians carries; the median of the per-rep ratios cancels what both runs
 * of a rep shared (not all of the noise: runs a second apart still
 * differ). Its confidence interval comes from order statistics (no
 * assumption about the distribution), so a miss can be told apart from
 * noise.
 *
 * @module
 */

/** A median with a distribution-free confidence interval. */
export interface MedianInterval {
  median: number;
  /** The interval's ends: order statistics of the values. */
  lo: number;
  hi: number;
  /** Its coverage (≥ the level asked for when there are enough values:
   * 6 for 95%; with fewer, the min and max and what they cover). */
  level: number;
  n: number;
}

/** P(B ≤ k) for B ~ Binomial(n, 1/2). The terms are carried as
 * logarithms: 2^-n alone underflows past n = 1074. */
function binomialHalfCdf(n: number, k: number): number {
  let logTerm = -n * Math.LN2; // ln(C(n, 0) / 2^n)
  let sum = Math.exp(logTerm);
  for (let i = 1; i <= k; i++) {
    logTerm += Math.log(n - i + 1) - Math.log(i);
    sum += Math.exp(logTerm);
  }
  return sum;
}

/**
 * The median of `xs` and the narrowest interval of order statistics
 * `[x(k+1), x(n−k)]` that covers the true median with probability at least
 * `level` (1 − 2·P(B ≤ k), B ~ Binomial(n, ½)). null when empty.
 */
export function medianInterval(
  xs: number[],
  level = 0.95,
): MedianInterval | null {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  const n = v.length;
  if (n === 0) return null;
  const mid = (n - 1) / 2;
  const median = (v[Math.floor(mid)] + v[Math.ceil(mid)]) / 2;
  let k = 0;
  let cover = 1 - 2 * binomialHalfCdf(n, 0);
  while (k + 1 <= mid) {
    const c = 1 - 2 * binomialHalfCdf(n, k + 1);
    if (c < level) break;
    k++;
    cover = c;
  }
  return { median, lo: v[k], hi: v[n - 1 - k], level: Math.max(cover, 0), n };
}

/** One run as pairing needs it: its rep and its time (ms), when it ran. */
export interface PairableRun {
  rep: number;
  /** null or ≤ 0: the run failed or has no time; it pairs with nothing. */
  ms: number | null;
}

/** Each rep's time: its first run that has one. */
function timesByRep(rs: PairableRun[]): Map<number, number> {
  const m = new Map<number, number>();
  for (const r of rs) {
    if (r.ms !== null && r.ms > 0 && !m.has(r.rep)) m.set(r.rep, r.ms);
  }
  return m;
}

/** Fewest pairs for a paired ratio; callers fall back to medians below. */
export const MIN_PAIRS = 3;

/**
 * The median over reps of `num`'s time ÷ `den`'s time in the same rep,
 * with its interval; null under {@linkcode MIN_PAIRS} pairs. A rep with
 * several runs of one side pairs its first.
 */
export function pairedRatio(
  num: PairableRun[],
  den: PairableRun[],
): MedianInterval | null {
  const a = timesByRep(num), b = timesByRep(den);
  const ratios = [...a].filter(([rep]) => b.has(rep)).map(([rep, t]) =>
    t / b.get(rep)!
  );
  return ratios.length >= MIN_PAIRS ? ratioInterval(ratios) : null;
}

/** {@linkcode medianInterval} of ratios, whose median with an even count is
 * the geometric mean of the middle two (not their average), so that a ÷ b
 * comes out as exactly 1 / (b ÷ a); the interval's order statistics are
 * the same either way. */
function ratioInterval(ratios: number[]): MedianInterval | null {
  const m = medianInterval(ratios);
  if (m === null || m.n % 2) return m;
  const v = ratios.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  return { ...m, median: Math.sqrt(v[m.n / 2 - 1] * v[m.n / 2]) };
}

/**
 * The geometric mean over several comparisons taken rep by rep: for each
 * rep in which every comparison has both runs, the geometric mean of its
 * ratios; then their median and interval. null under
 * {@linkcode MIN_PAIRS} such reps.
 */
export function pairedGeomean(
  comparisons: { num: PairableRun[]; den: PairableRun[] }[],
): MedianInterval | null {
  if (!comparisons.length) return null;
  const maps = comparisons.map(({ num, den }) => ({
    a: timesByRep(num),
    b: timesByRep(den),
  }));
  const reps = [...maps[0].a.keys()].filter((rep) =>
    maps.every((m) => m.a.has(rep) && m.b.has(rep))
  );
  const g = reps.map((rep) =>
    Math.exp(
      maps.reduce((s, m) => s + Math.log(m.a.get(rep)! / m.b.get(rep)!), 0) /
        maps.length,
    )
  );
  return g.length >= MIN_PAIRS ? ratioInterval(g) : null;
}
