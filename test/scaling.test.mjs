import assert from 'node:assert/strict';
import { test } from 'node:test';
import { withScaling } from '../dist/result/result.js';

const step = (cores, trialsPerSec, threads = cores) => ({ cores, threads, trialsPerSec });

test('efficiency is the per-core rate relative to the 1-core step, so a contention collapse reads far below 100%', () => {
  const [one, two, four] = withScaling([step(1, 100), step(2, 180), step(4, 100)]);
  assert.equal(one.scaling.efficiency, 1);
  assert.equal(two.scaling.efficiency, 0.9);
  assert.equal(four.scaling.efficiency, 0.25);
  assert.equal(four.scaling.trialsPerSecPerCore, 25);
  assert.equal(four.scaling.baselineCores, 1);
});

test('without a 1-core step, efficiency is relative to the step with the fewest cores', () => {
  const [eight, two] = withScaling([step(8, 400), step(2, 200)]);
  assert.equal(two.scaling.baselineCores, 2);
  assert.equal(two.scaling.efficiency, 1);
  assert.equal(eight.scaling.efficiency, 0.5);
});

test('a run with no measured step gets no scaling', () => {
  const [s] = withScaling([step(1, 0)]);
  assert.equal(s.scaling, undefined);
});

test('an oversubscribed step is judged by the CPUs it may use, and a cross-thread lane needs two', () => {
  // same-thread on 2 CPUs: 4 lanes can only use 2 of them.
  const [one, two, four] = withScaling([step(1, 100), step(2, 180), step(4, 190)], 2);
  assert.equal(two.scaling.efficiency, 0.9);
  assert.equal(four.scaling.effectiveCores, 2);
  assert.equal(four.scaling.efficiency, 0.95);
  // cross-thread on 2 CPUs: the 1-core step already uses both.
  const [c1, c2] = withScaling([step(1, 90, 2), step(2, 88, 4)], 2);
  assert.equal(c1.scaling.effectiveCores, 1);
  assert.equal(c2.scaling.effectiveCores, 1);
  assert.ok(Math.abs(c2.scaling.efficiency - 88 / 90) < 1e-12);
  assert.equal(one.scaling.efficiency, 1);
});
