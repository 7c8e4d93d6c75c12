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

/**
 * Lane i runs on the i-th allowed CPU (wrapping when oversubscribed); its
 * resetter, when there is one, on the next allowed CPU, so that the RST and the
 * victim close start on two different CPUs whenever the machine has two.
 */
export function buildPlan(
  options: Options,
  allowedCpus: number[],
  canPin: boolean,
  laneCap: { lanes: number; reason: string } = { lanes: Infinity, reason: '' },
): Plan {
  const m = allowedCpus.length;
  const cpuAt = (i: number): number => (canPin ? (allowedCpus[i % m] ?? -1) : -1);
  const cross = options.race === 'cross-thread';
  const k = options.lanesPerCore ?? 1;
  const fits = options.cores.filter((cores) => cores * k <= laneCap.lanes);
  const skipped = options.cores.filter((cores) => cores * k > laneCap.lanes).map((cores) => ({ cores, reason: laneCap.reason }));
  const steps = fits.map((cores): StepPlan => {
    // K lanes to a CPU, on consecutive lanes: lane i runs on the step's CPU i / K.
    const lanes = Array.from({ length: cores * k }, (_, i) => ({
      cpu: cpuAt(Math.floor(i / k)),
      resetCpu: cross ? cpuAt(Math.floor(i / k) + 1) : -1,
    }));
    const threads = (cross ? 2 : 1) * cores * k;
    // Oversubscribed means more CPUs wanted than allowed; K per CPU is chosen, not that.
    return { cores, lanes, threads, oversubscribed: threads / k > m, lanesPerCore: k };
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
