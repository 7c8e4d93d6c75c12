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
  const fits = options.cores.filter((cores) => cores <= laneCap.lanes);
  const skipped = options.cores.filter((cores) => cores > laneCap.lanes).map((cores) => ({ cores, reason: laneCap.reason }));
  const steps = fits.map((cores): StepPlan => {
    const lanes = Array.from({ length: cores }, (_, i) => ({
      cpu: cpuAt(i),
      resetCpu: cross ? cpuAt(i + 1) : -1,
    }));
    const threads = cross ? 2 * cores : cores;
    return { cores, lanes, threads, oversubscribed: threads > m };
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
