// The pure pieces: option parsing, the plan, statistics, the POSIX table.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCount, parseCores, sweep, MAX_CORES } from '../dist/options/options.js';
import { buildPlan } from '../dist/plan/plan.js';
import { wilson, zeroEventUpperBound } from '../dist/common/stats.js';

test('--iterations accepts 1e6, 1000000 and 1_000_000 as the same count', () => {
  for (const s of ['1e6', '1000000', '1_000_000', '1E6', '1.5e3']) {
    assert.equal(parseCount(s, '--iterations'), s === '1.5e3' ? 1500 : 1_000_000);
  }
});

test('--iterations refuses what is not a positive integer below 2^53', () => {
  for (const s of ['0', '-1', '1.5', '1e-3', '', ' ', 'NaN', 'Infinity', '0x10', '1__0', '_1', '9007199254740992', '1e16', '2.5e0']) {
    assert.throws(() => parseCount(s, '--iterations'), { name: 'UsageError', message: /--iterations/ }, s);
  }
  assert.equal(parseCount('9007199254740991', '--iterations'), 2 ** 53 - 1);
});

test('--cores N sweeps powers of two up to N, plus N', () => {
  assert.deepEqual(sweep(16), [1, 2, 4, 8, 16]);
  assert.deepEqual(sweep(6), [1, 2, 4, 6]);
  assert.deepEqual(sweep(1), [1]);
  assert.deepEqual(parseCores('16', true), [1, 2, 4, 8, 16]);
  assert.deepEqual(parseCores('16', false), [16]);
  assert.deepEqual(parseCores('2,8,16', true), [2, 8, 16]);
  assert.throws(() => parseCores(String(MAX_CORES + 1), true), /at most 1024/);
});

test('the plan pins lane i to the i-th allowed CPU, wraps when oversubscribed, and puts the resetter on the next CPU', () => {
  const options = { cores: [1, 2, 4], iterations: 10, race: 'cross-thread', resetSide: 'server', family: 4 };
  const plan = buildPlan(options, [3, 5], true);
  assert.deepEqual(plan.steps.map((s) => s.lanes), [
    [{ cpu: 3, resetCpu: 5 }],
    [{ cpu: 3, resetCpu: 5 }, { cpu: 5, resetCpu: 3 }],
    [{ cpu: 3, resetCpu: 5 }, { cpu: 5, resetCpu: 3 }, { cpu: 3, resetCpu: 5 }, { cpu: 5, resetCpu: 3 }],
  ]);
  assert.deepEqual(plan.steps.map((s) => [s.threads, s.oversubscribed]), [[2, false], [4, true], [8, true]]);
  const same = buildPlan({ ...options, race: 'same-thread' }, [0, 1], true);
  assert.deepEqual(same.steps.map((s) => s.oversubscribed), [false, false, true]);
  const floating = buildPlan(options, [0, 1], false);
  assert.ok(floating.steps.every((s) => s.lanes.every((l) => l.cpu === -1 && l.resetCpu === -1)));
});

// Newcombe RG, "Two-sided confidence intervals for the single proportion",
// Statistics in Medicine 17 (1998) 857-872, Table II, method 3 (Wilson score, no correction).
const newcombe = [
  [81, 263, 0.2553, 0.3662],
  [15, 148, 0.0624, 0.1605],
  [0, 20, 0, 0.1611],
  [1, 29, 0.0061, 0.1718],
];
for (const [k, n, low, high] of newcombe) {
  test(`Wilson 95% interval for ${k}/${n} matches Newcombe (1998): ${low}-${high}`, () => {
    const ci = wilson(k, n);
    assert.ok(Math.abs(ci.low - low) < 5e-5, `low ${ci.low}`);
    assert.ok(Math.abs(ci.high - high) < 5e-5, `high ${ci.high}`);
  });
}

test('zero events in 1e6 trials: below 3.0e-6 at 95% (the rule of three)', () => {
  assert.equal(zeroEventUpperBound(1e6).toExponential(1), '3.0e-6');
  assert.ok(Math.abs(zeroEventUpperBound(100) - 0.0295) < 1e-4);
});

