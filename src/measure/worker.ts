// Runs inside a piscina worker thread: one task is one group of a step's
// lanes, which the native core runs as pinned threads of their own while
// this thread waits for them. Nothing here runs per trial.
import { native, type LaneConfig } from '../core/native.js';

export interface LaneGroupTask {
  memory: BigUint64Array;
  stepOffset: number;
  lanes: Array<{ lane: number; laneOffset: number; config: LaneConfig }>;
  /** Which step this is: for messages, and the test hook below. */
  cores: number;
}

/**
 * TEST ONLY, not a user option: CLOSE_STRESS_TEST_FAIL_LANE=<cores>:<lane>
 * makes the worker holding that lane throw before its lanes start
 * (<cores>:<lane>:exit: its thread exits instead), so tests can check that a
 * worker dying mid-run ends the run with a clear message and keeps the steps
 * already finished.
 */
const FAIL_LANE = process.env.CLOSE_STRESS_TEST_FAIL_LANE;

/** One boolean per lane of the group: false where the lane could not start. */
export default function runLaneGroup(task: LaneGroupTask): boolean[] {
  for (const { lane } of task.lanes) {
    if (FAIL_LANE === `${task.cores}:${lane}`) throw new Error(`CLOSE_STRESS_TEST_FAIL_LANE: injected failure in lane ${lane}`);
    if (FAIL_LANE === `${task.cores}:${lane}:exit`) process.exit(70);
  }
  return native().runLanes(task.memory, task.stepOffset, task.lanes.map(({ laneOffset, config }) => ({ laneOffset, config })));
}
