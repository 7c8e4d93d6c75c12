import { native } from '../core/native.js';
import type { Options, Race } from '../options/options.js';
import { UsageError } from '../common/errors.js';
import { placeLanes, placementLabel, type Placement, type Resetter } from '../env/placement.js';
import type { Topology } from '../env/topology.js';

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
  /** How the lanes' CPUs were chosen (--placement, --resetter): "linear", "spread, resetter sibling". */
  placement?: string;
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

/** Every allowed CPU its own core of one package: what placement sees without a topology. */
function flatTopology(allowed: number[]): Topology {
  return {
    source: 'none', packages: 1, cores: allowed.length, cpus: allowed.length, notes: [],
    groups: { packages: [allowed], cores: allowed.map((c) => [c]), nodes: [allowed], llcs: allowed.map((c) => [c]) },
  };
}

/**
 * One step per placement, resetter position and core count (placements
 * outermost, so a sweep over placements repeats the core sweep for each).
 * The default (linear, resetter next) is the native core's rule
 * (native/src/plan.c), the one close-stress-core runs by: victim on the i-th
 * allowed CPU, its resetter on the next. Other placements and --resetter
 * positions read the topology (placement.ts).
 */
export function buildPlan(
  options: Options,
  allowedCpus: number[],
  canPin: boolean,
  laneCap: { lanes: number; reason: string } = { lanes: Infinity, reason: '' },
  topology: Topology = flatTopology(allowedCpus),
): Plan {
  const cross = options.race === 'cross-thread';
  const placements: Placement[] = options.placements ?? ['linear'];
  const resetters: Array<Resetter | undefined> = cross ? (options.resetters ?? ['next']) : [undefined];
  if (!canPin && (placements.some((p) => p !== 'linear') || resetters.some((r) => (r ?? 'next') !== 'next'))) {
    throw new UsageError('--placement and --resetter need pinning, and this OS cannot pin threads to CPUs (threads float)');
  }
  const k = options.lanesPerCore ?? 1;
  const fits = options.cores.filter((cores) => cores * k <= laneCap.lanes);
  const skipped = options.cores.filter((cores) => cores * k > laneCap.lanes).map((cores) => ({ cores, reason: laneCap.reason }));
  const shapes = placements.flatMap((placement) => resetters.map((resetter) => ({ placement, resetter })));
  const steps = shapes.flatMap(({ placement, resetter }) => fits.map((cores): StepPlan => {
    const placed = placement === 'linear' && (resetter ?? 'next') === 'next'
      ? native().planLanes(cores, cross, allowedCpus, canPin)
      : placeLanes(cores, placement, resetter, topology, allowedCpus).map((l) => ({ cpu: l.cpu, resetCpu: cross ? l.resetCpu : -1 }));
    // K lanes to a CPU (--lanes-per-core): each of the step's N lanes, as placed, K times over,
    // so K lanes share each of its N CPUs.
    const lanes = placed.flatMap((lane) => Array.from({ length: k }, () => ({ ...lane })));
    const shape = stepShape(cores, options.race, allowedCpus.length);
    // Oversubscribed means more CPUs wanted than allowed; K per CPU is chosen, not that.
    return { cores, lanes, threads: shape.threads * k, oversubscribed: shape.oversubscribed, lanesPerCore: k, placement: placementLabel(placement, resetter) };
  }));
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
