import jstatModule from 'jstat';

// jstat (CommonJS) is the statistics library here: its normal and beta
// quantiles are what the intervals need, and it is widely used and tested.
const { jStat } = jstatModule as unknown as typeof import('jstat');

export interface Interval {
  rate: number;
  low: number;
  high: number;
}

/** Two-sided normal quantile for a confidence level (0.95 -> 1.95996...). */
export function zFor(confidence: number): number {
  return jStat.normal.inv(1 - (1 - confidence) / 2, 0, 1);
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
