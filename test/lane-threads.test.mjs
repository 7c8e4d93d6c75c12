// A lane costs a native thread, not a JS worker: a step's lanes run as
// pinned pthreads of the C core (native/src/lanes.c), a few worker threads
// driving them, and every trial is still counted in its own lane's counters.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { native } from '../dist/core/native.js';
import { buildPlan } from '../dist/plan/plan.js';
import { LANES_PER_WORKER, LanePool, laneGroups } from '../dist/measure/pool.js';
import { StepMemory } from '../dist/core/memory.js';
import { tallyStep } from '../dist/tally/tally.js';

const options = (cores) => ({ cores: [cores], iterations: 20_000, race: 'same-thread', resetSide: 'server', family: 4, probes: [], skew: { kind: 'none' }, force: false, quiet: true, logLevel: 'silent', repeat: 1 });

/** This process's threads (Linux /proc/self/task): name and nice of each. */
function threads() {
  const out = [];
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      // Fields after "(comm)": state is field 3, nice field 19.
      out.push({ tid, name, nice: Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]) });
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return out;
}
const lanesNow = () => threads().filter((t) => t.name === 'cs-lane');
const ownNice = () => threads().find((t) => Number(t.tid) === process.pid).nice;

test('a step\'s lanes go to the workers in consecutive groups of at most 64, each lane exactly once', () => {
  assert.equal(LANES_PER_WORKER, 64);
  assert.deepEqual(laneGroups(1), [[0]]);
  assert.deepEqual(laneGroups(64).map((g) => g.length), [64]);
  assert.deepEqual(laneGroups(65).map((g) => g.length), [32, 33], 'as even as the cap allows, not 64 + 1');
  const big = laneGroups(1024);
  assert.equal(big.length, 16);
  assert.deepEqual(big.flat(), Array.from({ length: 1024 }, (_, i) => i));
});

test('a 64-lane step runs on one worker thread driving 64 native lane threads, each pinned where the plan put it, and every trial is counted in its lane; lanes that outnumber the CPUs yield to the driving thread', {
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
    const nices = new Set();
    const watch = setInterval(() => {
      const lanes = lanesNow();
      most = Math.max(most, lanes.length);
      for (const l of lanes) nices.add(l.nice);
    }, 5);
    const failed = await pool.runStep(step, memory, options(64)).finally(() => clearInterval(watch));
    assert.deepEqual(failed, []);
    assert.equal(pool.workers, 1, 'one worker for 64 lanes, not 64');
    assert.equal(most, 64, 'the lanes were 64 threads of this process at once');
    assert.equal(lanesNow().length, 0, 'and are gone when the step is');
    // 64 lanes on fewer CPUs would starve the main thread, which must see a signal and set the stop word.
    if (platform.allowedCpus.length < 64) assert.deepEqual([...nices], [Math.min(19, ownNice() + 10)], 'oversubscribed lanes run at nice +10');

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

    if (platform.allowedCpus.length >= 2) {
      const one = buildPlan(options(1), platform.allowedCpus, platform.canPin).steps[0];
      const seen = new Set();
      const poll = setInterval(() => { for (const l of lanesNow()) seen.add(l.nice); }, 2);
      await pool.runStep(one, new StepMemory(layout, 1, 20_000), options(1)).finally(() => clearInterval(poll));
      assert.deepEqual([...seen], [ownNice()], 'a lane with a CPU of its own keeps the process\'s priority');
    }
  } finally {
    await pool.close();
  }
});
