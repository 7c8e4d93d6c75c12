// A piscina worker for the two-host loop: one task is one lane's side of a
// step, blocking this thread in native code (remote.c) until the step ends.
import { native } from '../core/native.js';
import type { RemoteLaneTask, RemoteBinding } from './remote-lanes.js';

export default function runRemoteLane(task: RemoteLaneTask): boolean {
  return (native() as unknown as RemoteBinding).runRemoteLane(task.memory, 0, task.laneOffset, task.config);
}
