import { native } from './native.js';
import type { Options, Race } from './options.js';

export interface LanePlan {
  /** CPU the victim (worker) thread is pinned to; -1 where the OS cannot pin. */
  cpu: number;
  /** CPU of the resetter thread in cross-thread runs; -1 otherwise or where it cannot pin. */
  resetCpu: number;
}

export interface StepPlan {
  cores: number;
  lanes: LanePlan[];
  /** Threads this step runs: a lane is one thread, or two in cross-thread runs. */
  threads: number;
  /** More threads than CPUs this process may use: timing is shared, not per core. */
  oversubscribed: boolean;
}

export interface Plan {
  race: Race;
  iterations: number;
  allowedCpus: number[];
  canPin: boolean;
  steps: StepPlan[];
  /** Largest lane count of any step: the worker pool's size. */
  maxLanes: number;
  /** Steps left out because their lanes would not fit a resource limit. */
  skipped: SkippedStep[];
}

export interface SkippedStep {
  cores: number;
  reason: string;
}

/** Threads a step of `cores` lanes runs, and whether they outnumber the allowed CPUs. */
export function stepShape(cores: number, race: Race, allowedCount: number): Pick<StepPlan, 'threads' | 'oversubscribed'> {
  const threads = race === 'cross-thread' ? 2 * cores : cores;
  return { threads, oversubscribed: threads > allowedCount };
}

/**
 * Which CPU each lane gets is the native core's rule (native/src/plan.c), the
 * same one close-stress-core runs by: victim on the i-th allowed CPU, its
 * resetter on the next.
 */
export function buildPlan(
  options: Options,
  allowedCpus: number[],
  canPin: boolean,
  laneCap: { lanes: number; reason: string } = { lanes: Infinity, reason: '' },
): Plan {
  const cross = options.race === 'cross-thread';
  const fits = options.cores.filter((cores) => cores <= laneCap.lanes);
  const skipped = options.cores.filter((cores) => cores > laneCap.lanes).map((cores) => ({ cores, reason: laneCap.reason }));
  const steps = fits.map((cores): StepPlan => {
    const lanes = native().planLanes(cores, cross, allowedCpus, canPin);
    return { cores, lanes, ...stepShape(cores, options.race, allowedCpus.length) };
  });
  return {
    race: options.race,
    iterations: options.iterations,
    allowedCpus,
    canPin,
    steps,
    maxLanes: Math.max(0, ...fits),
    skipped,
  };
}
