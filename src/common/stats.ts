import { createRequire } from 'node:module';

// jstat (CommonJS) is the statistics library here: its normal and beta
// quantiles are what the intervals need, and it is widely used and tested.
// Loaded on first use: it is a third of a run's start-up module loading and
// only the final verdicts need it.
let loaded: (typeof import('jstat'))['jStat'] | undefined;
const jstat = (): (typeof import('jstat'))['jStat'] =>
  (loaded ??= (createRequire(import.meta.url)('jstat') as typeof import('jstat')).jStat);

export interface Interval {
  rate: number;
  low: number;
  high: number;
}

/** Two-sided normal quantile for a confidence level (0.95 -> 1.95996...). */
export function zFor(confidence: number): number {
  return jstat().normal.inv(1 - (1 - confidence) / 2, 0, 1);
}

/**
 * Wilson score interval for k events in n trials: unlike the normal
 * approximation it stays inside [0, 1] and is sound for the rare events this
 * tool counts (k = 0 or a handful in a million).
 */
export function wilson(k: number, n: number, confidence = 0.95): Interval {
  if (n <= 0) return { rate: 0, low: 0, high: 1 };
  const z = zFor(confidence);
  const p = k / n;
  const z2 = z * z;
  const denom = 1 + z2 / n;
  const centre = (p + z2 / (2 * n)) / denom;
  const half = (z / denom) * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
  return { rate: p, low: Math.max(0, centre - half), high: Math.min(1, centre + half) };
}

/**
 * One-sided exact (Clopper-Pearson) upper bound when nothing was seen:
 * "0 in 1e6: below 3.0e-6 at 95%" is the claim a clean run can make.
 */
export function zeroEventUpperBound(n: number, confidence = 0.95): number {
  if (n <= 0) return 1;
  return 1 - Math.pow(1 - confidence, 1 / n);
}

/**
 * Fisher's exact test, two-sided, for the 2x2 table [[a, b], [c, d]]
 * (a of a+b events in one run, c of c+d in the other), as R's fisher.test
 * computes it: the sum of the hypergeometric probabilities of every table
 * with these margins that is no more likely than the one observed (relative
 * tolerance 1e-7). No well-kept npm package does this (those on the registry
 * are one-off, unmaintained), so it is here; the probabilities are built by
 * the ratio p(x+1)/p(x) in logs and normalised, which needs no
 * log-gamma of 1e6-sized arguments (the difference of two such values would
 * lose digits) and stays accurate in double for this tool's margins.
 */
export function fisherExact(a: number, b: number, c: number, d: number): number {
  const m = a + c; // events in both runs
  const n = b + d; // non-events
  const k = a + b; // first run's trials
  const lo = Math.max(0, k - n);
  const hi = Math.min(k, m);
  if (hi <= lo) return 1;
  const logd = new Float64Array(hi - lo + 1);
  // log p(x+1) - log p(x) for the hypergeometric count of events in the first run
  for (let x = lo; x < hi; x++) {
    logd[x - lo + 1] = logd[x - lo]! + Math.log(((m - x) * (k - x)) / ((x + 1) * (n - k + x + 1)));
  }
  let top = -Infinity;
  for (const v of logd) top = Math.max(top, v);
  let total = 0;
  for (const v of logd) total += Math.exp(v - top);
  const observed = logd[a - lo]!;
  const tolerance = Math.log1p(1e-7);
  let p = 0;
  for (const v of logd) if (v <= observed + tolerance) p += Math.exp(v - top);
  return Math.min(1, p / total);
}

/**
 * Garwood's exact interval for a Poisson rate: k events in `seconds` of
 * observation, from chi-square quantiles. With k = 0 the upper end is the
 * one-sided bound -ln(1 - confidence) / T (about 3 / T at 95%), the
 * "0 in 30 s" claim; the two-sided ends use alpha / 2.
 */
export function poissonRate(k: number, seconds: number, confidence = 0.95): Interval {
  if (!(seconds > 0)) return { rate: 0, low: 0, high: Infinity };
  const a = 1 - confidence;
  if (k === 0) return { rate: 0, low: 0, high: -Math.log(a) / seconds };
  const chi = jstat().chisquare.inv;
  return { rate: k / seconds, low: chi(a / 2, 2 * k) / 2 / seconds, high: chi(1 - a / 2, 2 * k + 2) / 2 / seconds };
}

export interface MeanInterval {
  mean: number;
  /** Absent for one value: no spread, so no interval (not a zero-width one). */
  low?: number;
  high?: number;
  n: number;
}

/**
 * Mean and two-sided t-distribution interval of a small sample (repeats of
 * one step). `atLeast` clamps the interval at what is possible (a rate is
 * never negative): with two repeats t is 12.7 and the raw interval often
 * crosses zero.
 */
export function meanInterval(xs: number[], confidence = 0.95, atLeast = -Infinity): MeanInterval {
  const n = xs.length;
  const mean = n > 0 ? xs.reduce((a, b) => a + b, 0) / n : 0;
  if (n < 2) return { mean, n };
  const sd = Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (n - 1));
  const half = jstat().studentt.inv(1 - (1 - confidence) / 2, n - 1) * (sd / Math.sqrt(n));
  return { mean, low: Math.max(atLeast, mean - half), high: mean + half, n };
}

export interface DispersionTest {
  /** Two-sided p of "same rate", beyond the between-repeat variation. */
  pValue: number;
  /** Pearson chi-square / residual df: 1 when repeats vary as binomial counts do, more under drift. */
  dispersion: number;
  /** Residual degrees of freedom: repeats on both sides minus 2. */
  df: number;
}

/** x log(x / y), 0 when x is 0. */
const xlogx = (x: number, y: number): number => (x === 0 ? 0 : x * Math.log(x / y));

/**
 * Two groups of repeats, each repeat [events, trials]: are the groups' rates
 * different beyond the spread the repeats show? A quasi-binomial model (as R's
 * glm(cbind(k, n - k) ~ group, family = quasibinomial) with anova(test = "F")):
 * the dispersion is the Pearson chi-square of the repeats around their
 * group's rate over its degrees of freedom, and the likelihood-ratio
 * statistic of the group difference, divided by it, is F(1, df). Race rates
 * drift between runs and boots more than binomial counts do (issue 10); this
 * charges a difference with that drift. The dispersion is never taken below 1:
 * repeats that by chance agree closely give no more confidence than Fisher's
 * binomial assumption does.
 */
export function quasiBinomialTest(a: Array<[number, number]>, b: Array<[number, number]>): DispersionTest {
  const groups = [a, b].map((g) => g.filter(([, n]) => n > 0));
  const df = groups[0]!.length + groups[1]!.length - 2;
  const totals = groups.map((g) => g.reduce(([k, n], [ki, ni]) => [k + ki, n + ni], [0, 0]));
  const [ka, na] = totals[0]!;
  const [kb, nb] = totals[1]!;
  if (df < 1 || na === 0 || nb === 0 || ka + kb === 0 || ka + kb === na + nb) return { pValue: 1, dispersion: 1, df: Math.max(df, 0) };
  let chi2 = 0;
  for (const g of groups) {
    const [k, n] = g.reduce(([x, y], [ki, ni]) => [x + ki, y + ni], [0, 0]);
    const p = k / n;
    if (p === 0 || p === 1) continue; // every repeat at the same bound: no spread to measure
    for (const [ki, ni] of g) chi2 += (ki - ni * p) ** 2 / (ni * p * (1 - p));
  }
  const dispersion = chi2 / df;
  const p0 = (ka + kb) / (na + nb);
  const deviance = 2 * (xlogx(ka, na * p0) + xlogx(na - ka, na * (1 - p0)) + xlogx(kb, nb * p0) + xlogx(nb - kb, nb * (1 - p0)));
  const f = Math.max(0, deviance) / Math.max(1, dispersion);
  // P(F(1, df) > f) as a regularised incomplete beta: no 1 - cdf, so small p keep their digits.
  const pValue = f === 0 ? 1 : jstat().ibeta(df / (df + f), df / 2, 0.5);
  return { pValue: Math.min(1, pValue), dispersion, df };
}
