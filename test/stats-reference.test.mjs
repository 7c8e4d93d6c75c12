// Statistics against values from other implementations, so the figures a
// kernel developer quotes are the ones a statistician would compute.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fisherExact, meanInterval, wilson } from '../dist/common/stats.js';
import { bucketHigh, mergeHistograms, percentiles } from '../dist/tally/latency.js';
import { native } from '../dist/core/native.js';

const close = (actual, expected, rel, what) =>
  assert.ok(Math.abs(actual - expected) <= rel * Math.abs(expected), `${what}: ${actual} is not ${expected} (within ${rel})`);

// Two-sided p-values from SciPy 1.17.1, scipy.stats.fisher_exact(table)[1],
// computed on this machine (R is not installed; SciPy uses R's rule: sum the
// tables no more likely than the observed one). The first is also R's own
// documented example: fisher.test(TeaTasting) gives p-value = 0.4857.
const FISHER = [
  { table: [3, 1, 1, 3], p: 0.48571428571428565, source: 'R ?fisher.test TeaTasting; SciPy' },
  { table: [10, 999990, 0, 1000000], p: 0.001953081055063084, source: 'SciPy' },
  { table: [12, 999988, 3, 999997], p: 0.03515558350245735, source: 'SciPy' },
  { table: [300, 700, 250, 750], p: 0.014093391894333672, source: 'SciPy' },
  { table: [5, 99995, 5, 99995], p: 1, source: 'SciPy (identical rows)' },
];
for (const { table, p, source } of FISHER) {
  test(`Fisher's exact test (two-sided) of [[${table.slice(0, 2)}], [${table.slice(2)}]] is ${p} as ${source} computes it`, () => {
    close(fisherExact(...table), p, 1e-8, 'p');
  });
}

// Wilson score intervals from SciPy 1.17.1,
// scipy.stats.binomtest(k, n).proportion_ci(method='wilson') (95%).
const WILSON = [
  { k: 0, n: 1_000_000, low: 0, high: 3.841444063944942e-06 },
  { k: 3, n: 1000, low: 0.0010207838811386186, high: 0.008783014053503173 },
  { k: 12, n: 1_000_000, low: 6.8647726157685394e-06, high: 2.0976579253518866e-05 },
  { k: 50, n: 100, low: 0.4038315303659956, high: 0.5961684696340044 },
];
for (const { k, n, low, high } of WILSON) {
  test(`Wilson 95% interval of ${k} in ${n} is [${low}, ${high}] as SciPy's binomtest computes it`, () => {
    const ci = wilson(k, n);
    if (low === 0) assert.ok(ci.low < 1e-12);
    else close(ci.low, low, 1e-9, 'low');
    close(ci.high, high, 1e-9, 'high');
  });
}

test('throughput of repeats: mean with a t interval (SciPy t.ppf(0.975, 2) = 4.302652729911275)', () => {
  const r = meanInterval([10, 12, 14]);
  const half = (4.302652729911275 * 2) / Math.sqrt(3);
  assert.equal(r.mean, 12);
  close(r.high - 12, half, 1e-9, 'half width');
  close(12 - r.low, half, 1e-9, 'half width');
  assert.deepEqual(meanInterval([5]), { mean: 5, n: 1 }, 'one value: no interval, not a zero-width one');
  assert.equal(meanInterval([10, 50], 0.95, 0).low, 0, 'clamped at what is possible');
});

test('latency percentiles are the upper bounds of the buckets they fall in; merge adds counts per bucket', () => {
  const h = { unit: 'ns', scheme: 'log-linear-16', counts: [[5, 1], [100, 98], [992, 1]] };
  assert.deepEqual(percentiles(h), { count: 100, p50: 104, p90: 104, p99: 104, 'p99.9': 1024, max: 1024 });
  assert.equal(percentiles({ ...h, counts: [] }), undefined);
  const m = mergeHistograms(h, { ...h, counts: [[100, 2], [4096, 1]] });
  assert.deepEqual(m.counts, [[5, 1], [100, 100], [992, 1], [4096, 1]]);
});

test('bucket upper bounds agree with the C core\'s bucket table', () => {
  const lows = native().layout().latencyBucketLows;
  for (let i = 0; i + 1 < lows.length; i++) assert.equal(bucketHigh(lows[i]), lows[i + 1], `bucket ${i}`);
});
