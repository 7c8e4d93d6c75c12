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
  /** Lanes pinned to each CPU of the step (--lanes-per-core): sharing a CPU on purpose. */
  lanesPerCore: number;
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
  const k = options.lanesPerCore ?? 1;
  const fits = options.cores.filter((cores) => cores * k <= laneCap.lanes);
  const skipped = options.cores.filter((cores) => cores * k > laneCap.lanes).map((cores) => ({ cores, reason: laneCap.reason }));
  const steps = fits.map((cores): StepPlan => {
    // K lanes to a CPU (--lanes-per-core): each of the step's N lanes, as the
    // native rule places it, K times over, so K lanes share each of its N CPUs.
    const lanes = native().planLanes(cores, cross, allowedCpus, canPin).flatMap((lane) => Array.from({ length: k }, () => ({ ...lane })));
    const shape = stepShape(cores, options.race, allowedCpus.length);
    // Oversubscribed means more CPUs wanted than allowed; K per CPU is chosen, not that.
    return { cores, lanes, threads: shape.threads * k, oversubscribed: shape.oversubscribed, lanesPerCore: k };
  });
  return {
    race: options.race,
    iterations: options.iterations,
    allowedCpus,
    canPin,
    steps,
    maxLanes: Math.max(0, ...fits) * k,
    skipped,
  };
}
