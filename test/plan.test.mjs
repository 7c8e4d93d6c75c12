// The plan under a lane cap (the descriptor limit): steps that do not fit are
// left out and named, never shrunk behind the user's back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildPlan } from '../dist/plan/plan.js';
import { laneCap, FDS_PER_LANE, FDS_RESERVED } from '../dist/env/limits.js';

const options = (cores) => ({ cores, iterations: 10, race: 'same-thread', resetSide: 'server', family: 4, force: false, quiet: true, logLevel: 'silent' });

test('steps with more lanes than the descriptor limit allows are skipped with the reason; the rest keep their core count', () => {
  const cap = laneCap({ limit: 64, open: 20, lanes: Math.floor((64 - 20 - FDS_RESERVED) / FDS_PER_LANE) }, 8);
  const plan = buildPlan(options([1, 2, 4, 8]), [0, 1], true, cap);
  assert.deepEqual(plan.steps.map((s) => s.cores), [1, 2, 4]);
  assert.deepEqual(plan.steps.map((s) => s.lanes.length), [1, 2, 4]);
  assert.equal(plan.maxLanes, 4);
  assert.deepEqual(plan.skipped.map((s) => s.cores), [8]);
  assert.match(plan.skipped[0].reason, /ulimit -n 64\).*raise it with ulimit -n 128/);
});

test('without a cap every step runs', () => {
  const plan = buildPlan(options([1, 2]), [0, 1], true);
  assert.deepEqual(plan.skipped, []);
  assert.equal(plan.maxLanes, 2);
});
