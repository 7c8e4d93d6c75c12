// Runs inside a piscina worker thread: one task is one lane, blocking this
// thread in native code until the step ends. Nothing here runs per trial.
import { native, type LaneConfig } from './native.js';

export interface LaneTask {
  memory: BigUint64Array;
  stepOffset: number;
  laneOffset: number;
  config: LaneConfig;
  /** Which step and lane this is: for messages, and the test hook below. */
  cores: number;
  lane: number;
}

/**
 * TEST ONLY, not a user option: CLOSE_STRESS_TEST_FAIL_LANE=<cores>:<lane>
 * makes that lane's worker throw before it starts (<cores>:<lane>:exit: its
 * thread exits instead), so tests can check that a
 * worker dying mid-run ends the run with a clear message and keeps the steps
 * already finished.
 */
const FAIL_LANE = process.env.CLOSE_STRESS_TEST_FAIL_LANE;

export default function runLane(task: LaneTask): boolean {
  if (FAIL_LANE === `${task.cores}:${task.lane}`) throw new Error('CLOSE_STRESS_TEST_FAIL_LANE: injected failure');
  if (FAIL_LANE === `${task.cores}:${task.lane}:exit`) process.exit(70);
  return native().runLane(task.memory, task.stepOffset, task.laneOffset, task.config);
}
