import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { native, PROBES, RACE_CODES, SIDE_CODES } from './native.js';
import type { Options } from './options.js';
import type { Plan, StepPlan } from './plan.js';
import type { LaneTask } from './worker.js';
import { StepMemory } from './memory.js';
import { RunError } from './errors.js';
import type { LaneNet } from './netpath.js';

/**
 * One worker thread per lane, started once for the whole run and sized for
 * its largest step, so that steps do not pay thread start-up.
 */
export class LanePool {
  private readonly piscina: Piscina;

  /** --path veth: the namespaces and address every lane's config carries. */
  constructor(plan: Plan, private readonly laneNet?: LaneNet) {
    this.piscina = new Piscina({
      filename: fileURLToPath(new URL('./worker.js', import.meta.url)),
      minThreads: plan.maxLanes,
      maxThreads: plan.maxLanes,
      concurrentTasksPerWorker: 1,
      idleTimeout: Number.MAX_SAFE_INTEGER,
      maxQueue: plan.maxLanes,
    });
  }

  /**
   * Runs one step; resolves with the lanes that could not start (their
   * reason is in the memory), after every lane has returned.
   */
  async runStep(step: StepPlan, memory: StepMemory, options: Options, skewNs = 0): Promise<number[]> {
    const platform = native().platform();
    const family = options.family === 6 ? platform.AF_INET6 : platform.AF_INET;
    const probes = options.probes.reduce((bits, p) => bits | (1 << PROBES.indexOf(p)), 0);
    const results = await Promise.allSettled(
      step.lanes.map((lane, i) => {
        const task: LaneTask = {
          memory: memory.words,
          stepOffset: 0,
          laneOffset: memory.laneOffset(i),
          cores: step.cores,
          lane: i,
          config: {
            family,
            race: RACE_CODES[options.race],
            resetSide: SIDE_CODES[options.resetSide],
            cpu: lane.cpu,
            resetCpu: lane.resetCpu,
            probes,
            skewNs,
            ...this.laneNet,
          },
        };
        // A lane that throws never reaches the start gate: stop the others
        // at once rather than leave them waiting for it.
        return (this.piscina.run(task) as Promise<boolean>).catch((err: unknown) => {
          memory.stop();
          throw err;
        });
      }),
    );
    const failed: number[] = [];
    for (const [i, r] of results.entries()) {
      if (r.status === 'rejected') {
        const reason = (r.reason instanceof Error ? r.reason.message : String(r.reason)).split('\n')[0];
        const cpu = step.lanes[i]?.cpu ?? -1;
        throw new RunError(`${step.cores}-core step: the worker for lane ${i} (${cpu >= 0 ? `CPU ${cpu}` : 'unpinned'}) died: ${reason}`);
      }
      if (!r.value) failed.push(i);
    }
    return failed;
  }

  async close(): Promise<void> {
    await this.piscina.destroy();
  }
}
