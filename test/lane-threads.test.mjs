// A lane costs a native thread, not a JS worker: a step's lanes run as
// pinned pthreads of the C core (native/src/lanes.c), a few worker threads
// driving them, and every trial is still counted in its own lane's counters.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { native } from '../dist/native.js';
import { buildPlan } from '../dist/plan.js';
import { LANES_PER_WORKER, LanePool, laneGroups } from '../dist/pool.js';
import { StepMemory } from '../dist/memory.js';
import { tallyStep } from '../dist/tally.js';

const options = (cores) => ({ cores: [cores], iterations: 20_000, race: 'same-thread', resetSide: 'server', family: 4, probes: [], skew: { kind: 'none' }, force: false, quiet: true, logLevel: 'silent', repeat: 1 });

/** Threads of this process by name (Linux: /proc/self/task/<tid>/comm). */
function threadNames() {
  const names = {};
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const name = readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim();
      names[name] = (names[name] ?? 0) + 1;
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return names;
}

test('a step\'s lanes go to the workers in consecutive groups of at most 64, each lane exactly once', () => {
  assert.equal(LANES_PER_WORKER, 64);
  assert.deepEqual(laneGroups(1), [[0]]);
  assert.deepEqual(laneGroups(64).map((g) => g.length), [64]);
  assert.deepEqual(laneGroups(65).map((g) => g.length), [32, 33], 'as even as the cap allows, not 64 + 1');
  const big = laneGroups(1024);
  assert.equal(big.length, 16);
  assert.deepEqual(big.flat(), Array.from({ length: 1024 }, (_, i) => i));
});

test('a 64-lane step runs on one worker thread driving 64 native lane threads, each pinned where the plan put it, and every trial is counted in its lane', {
  skip: !existsSync('/proc/self/task') && 'thread names are read from /proc/self/task (Linux)',
}, async () => {
  const platform = native().platform();
  const layout = native().layout();
  const plan = buildPlan(options(64), platform.allowedCpus, platform.canPin);
  const [step] = plan.steps;
  const pool = new LanePool(plan);
  try {
    const memory = new StepMemory(layout, step.lanes.length, plan.iterations);
    let most = 0;
    const watch = setInterval(() => { most = Math.max(most, threadNames()['cs-lane'] ?? 0); }, 5);
    const failed = await pool.runStep(step, memory, options(64)).finally(() => clearInterval(watch));
    assert.deepEqual(failed, []);
    assert.equal(pool.workers, 1, 'one worker for 64 lanes, not 64');
    assert.equal(most, 64, 'the lanes were 64 threads of this process at once');
    assert.equal(threadNames()['cs-lane'] ?? 0, 0, 'and are gone when the step is');

    const tally = tallyStep(step, memory, platform);
    assert.equal(tally.trials, plan.iterations);
    const L = layout.lane;
    const slots = layout.errnoSlots;
    for (const [i, lane] of tally.lanes.entries()) {
      // Each lane's own words: its close outcomes plus its setup failures are its trials.
      let closes = 0;
      let setups = 0;
      for (let e = 0; e < slots; e++) closes += memory.read(i, L.calls, e);
      for (let s = 0; s < layout.stageCount * slots; s++) setups += memory.read(i, L.setup, s);
      assert.equal(closes + setups, memory.read(i, L.done), `lane ${i}`);
      assert.equal(lane.trials, memory.read(i, L.done), `lane ${i}`);
      if (platform.canPin) {
        assert.equal(lane.pinned, true, `lane ${i}`);
        assert.deepEqual(lane.cpusSeen, lane.trials > 0 ? [step.lanes[i].cpu] : [], `lane ${i} ran only on its CPU`);
      }
    }
  } finally {
    await pool.close();
  }
});
