import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { native, PROBES, RACE_CODES, SIDE_CODES } from '../core/native.js';
import type { Options } from '../options/options.js';
import type { Plan, StepPlan } from '../plan/plan.js';
import type { LaneGroupTask } from './worker.js';
import { StepMemory } from '../core/memory.js';
import { RunError } from '../common/errors.js';
import type { LaneNet } from '../env/netpath.js';

/**
 * Lanes one worker drives. A lane is a native thread (native/src/lanes.c);
 * a worker adds a V8 isolate (about 9 MB and 40 ms of start-up CPU here) and
 * then only waits for its lanes, so one per 64 lanes keeps its share of a
 * lane's cost small while a 1024-lane step still creates its threads from
 * 16 workers at once.
 */
export const LANES_PER_WORKER = 64;

/** A step's lanes as the workers take them: consecutive, in groups as even as LANES_PER_WORKER allows. */
export function laneGroups(lanes: number, perWorker = LANES_PER_WORKER): number[][] {
  const count = Math.ceil(lanes / perWorker);
  return Array.from({ length: count }, (_, g) => {
    const from = Math.floor((g * lanes) / count);
    const to = Math.floor(((g + 1) * lanes) / count);
    return Array.from({ length: to - from }, (_, i) => from + i);
  });
}

/**
 * The workers, started once for the whole run and as many as its largest
 * step needs, so that steps do not pay worker start-up.
 */
export class LanePool {
  private readonly piscina: Piscina;

  /** --path veth: the namespaces and address every lane's config carries. */
  constructor(plan: Plan, private readonly laneNet?: LaneNet) {
    const workers = Math.max(1, laneGroups(plan.maxLanes).length);
    this.piscina = new Piscina({
      filename: fileURLToPath(new URL('./worker.js', import.meta.url)),
      minThreads: workers,
      maxThreads: workers,
      concurrentTasksPerWorker: 1,
      idleTimeout: Number.MAX_SAFE_INTEGER,
      maxQueue: workers,
    });
  }

  /** Worker threads started: what a lane no longer costs. */
  get workers(): number {
    return this.piscina.threads.length;
  }

  /**
   * Runs one step; resolves with the lanes that could not start (their
   * reason is in the memory), after every lane has returned.
   */
  async runStep(step: StepPlan, memory: StepMemory, options: Options, skewNs = 0): Promise<number[]> {
    const platform = native().platform();
    const family = options.family === 6 ? platform.AF_INET6 : platform.AF_INET;
    const probes = options.probes.reduce((bits, p) => bits | (1 << PROBES.indexOf(p)), 0);
    const groups = laneGroups(step.lanes.length);
    const results = await Promise.allSettled(
      groups.map((group) => {
        const task: LaneGroupTask = {
          memory: memory.words,
          stepOffset: 0,
          cores: step.cores,
          lanes: group.map((i) => ({
            lane: i,
            laneOffset: memory.laneOffset(i),
            config: {
              family,
              race: RACE_CODES[options.race],
              resetSide: SIDE_CODES[options.resetSide],
              cpu: step.lanes[i]!.cpu,
              resetCpu: step.lanes[i]!.resetCpu,
              probes,
              skewNs,
              ...this.laneNet,
            },
          })),
        };
        // A group that throws never reaches the start gate: stop the others
        // at once rather than leave them waiting for it.
        return (this.piscina.run(task) as Promise<boolean[]>).catch((err: unknown) => {
          memory.stop();
          throw err;
        });
      }),
    );
    const failed: number[] = [];
    for (const [g, r] of results.entries()) {
      const group = groups[g]!;
      if (r.status === 'rejected') {
        const reason = (r.reason instanceof Error ? r.reason.message : String(r.reason)).split('\n')[0];
        const lanes = group.length === 1 ? `lane ${group[0]}` : `lanes ${group[0]}-${group.at(-1)}`;
        throw new RunError(`${step.cores}-core step: the worker for ${lanes} died: ${reason}`);
      }
      r.value.forEach((ok, k) => { if (!ok) failed.push(group[k]!); });
    }
    return failed;
  }

  async close(): Promise<void> {
    await this.piscina.destroy();
  }
}
