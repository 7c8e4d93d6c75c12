// Runs inside a piscina worker thread: one task is one lane, blocking this
// thread in native code until the step ends. Nothing here runs per trial.
import { native, type LaneConfig } from './native.js';

export interface LaneTask {
  memory: BigUint64Array;
  stepOffset: number;
  laneOffset: number;
  config: LaneConfig;
}

export default function runLane(task: LaneTask): boolean {
  return native().runLane(task.memory, task.stepOffset, task.laneOffset, task.config);
}
