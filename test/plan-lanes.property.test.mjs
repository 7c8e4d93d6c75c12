// Which lane runs on which CPU is written once, in C (native/src/plan.c), and
// reaches the CLI through the binding: these properties are the rule both
// front ends run by, checked over many CPU sets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { buildPlan } from '../dist/plan/plan.js';

const options = (cores, race) => ({ cores, iterations: 10, race, resetSide: 'server', family: 4, probes: [], skew: { kind: 'none' }, repeat: 1, force: false, quiet: true, logLevel: 'silent' });
const cpuSets = fc.uniqueArray(fc.integer({ min: 0, max: 1023 }), { minLength: 1, maxLength: 64 });

test('lane i runs on the i-th allowed CPU, wrapping; its resetter on the next one; nothing is pinned where the OS cannot pin', () => {
  fc.assert(
    fc.property(cpuSets, fc.integer({ min: 1, max: 200 }), fc.constantFrom('same-thread', 'cross-thread'), fc.boolean(), (allowed, cores, race, canPin) => {
      const [step] = buildPlan(options([cores], race), allowed, canPin).steps;
      const m = allowed.length;
      step.lanes.forEach((lane, i) => {
        assert.equal(lane.cpu, canPin ? allowed[i % m] : -1);
        assert.equal(lane.resetCpu, canPin && race === 'cross-thread' ? allowed[(i + 1) % m] : -1);
      });
      assert.equal(step.lanes.length, cores);
      assert.equal(step.threads, race === 'cross-thread' ? 2 * cores : cores);
      assert.equal(step.oversubscribed, step.threads > m);
    }),
    { numRuns: 500 },
  );
});

test('with two or more CPUs allowed and pinning, a cross-thread lane\'s RST and victim close start on two CPUs', () => {
  fc.assert(
    fc.property(cpuSets.filter((a) => a.length >= 2), fc.integer({ min: 1, max: 100 }), (allowed, cores) => {
      for (const lane of buildPlan(options([cores], 'cross-thread'), allowed, true).steps[0].lanes) assert.notEqual(lane.cpu, lane.resetCpu);
    }),
    { numRuns: 300 },
  );
});
