// --lanes-per-core K: K lanes on each CPU of a step, pinned K to each; the
// step is still "N cores" for its label, oversubscription and efficiency.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { buildPlan } from '../dist/plan/plan.js';
import { withScaling } from '../dist/result/result.js';
import { runCli, tempDir } from './helpers/cli.mjs';
import { assertValid } from './helpers/schema.mjs';

const options = (cores, extra = {}) => ({ cores, iterations: 10, race: 'same-thread', resetSide: 'server', family: 4, force: false, quiet: true, logLevel: 'silent', ...extra });

test('K lanes per core: a step of N cores runs N*K lanes, K pinned to each of its N CPUs, and is not called oversubscribed', () => {
  const plan = buildPlan(options([1, 2, 4], { lanesPerCore: 3 }), [0, 1], true);
  const [one, two, four] = plan.steps;
  assert.deepEqual(one.lanes.map((l) => l.cpu), [0, 0, 0]);
  assert.deepEqual(two.lanes.map((l) => l.cpu), [0, 0, 0, 1, 1, 1]);
  assert.deepEqual([one.threads, two.threads, four.threads], [3, 6, 12]);
  assert.deepEqual(plan.steps.map((s) => s.lanesPerCore), [3, 3, 3]);
  assert.deepEqual(plan.steps.map((s) => s.oversubscribed), [false, false, true], 'only a step wanting more CPUs than allowed is');
  assert.equal(plan.maxLanes, 12);
  const cross = buildPlan(options([1], { lanesPerCore: 2, race: 'cross-thread' }), [0, 1], true).steps[0];
  assert.deepEqual(cross.lanes, [{ cpu: 0, resetCpu: 1 }, { cpu: 0, resetCpu: 1 }]);
  assert.equal(cross.threads, 4);
  assert.equal(buildPlan(options([2]), [0, 1], true).steps[0].lanesPerCore, 1, 'default: one lane per core');
});

test('efficiency with K lanes per core counts the step\'s N cores, not its N*K threads', () => {
  const step = (cores, threads, rate, lanesPerCore) => ({ cores, threads, trialsPerSec: rate, lanesPerCore, oversubscribed: false });
  const [one, two] = withScaling([step(1, 2, 100, 2), step(2, 4, 200, 2)], 2);
  assert.equal(one.scaling.effectiveCores, 1);
  assert.equal(two.scaling.effectiveCores, 2);
  assert.equal(two.scaling.efficiency, 1);
});

test('--lanes-per-core 2 runs and says so in the table and JSON', (t) => {
  const json = path.join(tempDir(t), 'r.json');
  const r = runCli(['--cores', '2', '--iterations', '2000', '--lanes-per-core', '2', '--json', json, '--quiet']);
  assert.equal(r.code, 0, r.stderr);
  assertValid('result', r.result);
  assert.equal(r.result.options.lanesPerCore, 2);
  const [one, two] = r.result.steps;
  assert.deepEqual([one.cores, one.threads, one.lanesPerCore, one.lanes.length], [1, 2, 2, 2]);
  assert.deepEqual([two.cores, two.threads, two.lanes.length], [2, 4, 4]);
  if (r.result.environment.cpu.canPin) assert.deepEqual(one.lanes.map((l) => l.cpu), [r.result.environment.cpu.allowed[0], r.result.environment.cpu.allowed[0]]);
  assert.equal(one.trials, 2000);
  assert.match(r.stdout, /2 lanes pinned to each CPU of a step \(--lanes-per-core\)/);
});

test('--lanes-per-core refuses 0 and more than 1024 lanes in a step, in one line', () => {
  for (const [args, re] of [[['--lanes-per-core', '0'], /--lanes-per-core takes a positive integer/], [['--cores', '512', '--lanes-per-core', '4'], /makes 2048 lanes in a step; at most 1024/]]) {
    const r = runCli([...args, '--iterations', '10']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, re);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  }
});
