import assert from 'node:assert/strict';
import { test } from 'node:test';
import { withScaling } from '../dist/result.js';

const step = (cores, trialsPerSec) => ({ cores, trialsPerSec });

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
