/*
 * The measuring stage, bottom up: measure() here is one pass of a step's lanes
 * over N trials at one skew (the pool runs the core, tally.ts reads the
 * counters); skew.ts runs passes as --skew asks (one skew, a sweep, an auto
 * search) and repeat.ts runs that as --repeat and --duration ask. Each strategy
 * wraps the one below it and only calls down; run.ts calls measureStep() and
 * gets one Measurement per step.
 */
import { kernelCheck, readCounters } from '../env/kernel.js';
import type { Layout, Platform } from '../core/native.js';
import { StepMemory } from '../core/memory.js';
import type { Options } from '../options/options.js';
import type { StepPlan } from '../plan/plan.js';
import type { LanePool } from './pool.js';
import type { Progress } from './progress.js';
import { tallyStep, type Startup, type StepTally } from '../tally/tally.js';
import { giveUpWhenNothingConnects } from './watchdog.js';
import { netRxDelta, readNetRx } from '../env/softirq.js';
import { addVethPackets, type VethPackets } from '../env/netpath.js';

/** Everything one measurement needs; built once per run. */
export interface StepContext {
  /** The local lanes, or (--peer) the control connection that runs both sides of a step. */
  pool: Pick<LanePool, 'runStep'>;
  platform: Platform;
  layout: Layout;
  options: Options;
  progress: Progress;
  /** The memory being measured now, so a signal can stop it. */
  onMemory(memory: StepMemory | undefined): void;
  /** True once the run was asked to stop. */
  stopping(): boolean;
  /** --path veth: the resetting namespace's /proc/PID/net, where the RSTs are counted. */
  countersDir?: string;
  /** --path veth: both veth ends' packet counters now. */
  vethPackets?: () => VethPackets;
  /** --peer: the step's tally with serve's side merged in. */
  mergePeer?: (tally: StepTally) => StepTally;
}

export interface Measurement {
  tally: StepTally;
  failedLanes: number[];
}

// Node's time origin is set as the process starts; hrtime and the lanes' start_ns
// both read CLOCK_MONOTONIC, so the two can be subtracted.
const processStartNs = process.hrtime.bigint() - BigInt(Math.round(performance.now() * 1e6));

export function startup(handedNs: bigint, firstTrialNs: bigint): Startup | undefined {
  if (firstTrialNs === 0n) return undefined;
  return {
    poolStartMs: Number(firstTrialNs - handedNs) / 1e6,
    sinceProcessStartMs: Number(firstTrialNs - processStartNs) / 1e6,
  };
}

/** One pass of a step's lanes over `trials` trials at one skew. */
export async function measure(ctx: StepContext, step: StepPlan, trials: number, skewNs = 0, detail = ''): Promise<Measurement> {
  const memory = new StepMemory(ctx.layout, step.lanes.length, trials);
  ctx.onMemory(memory);
  if (ctx.stopping()) memory.stop();
  ctx.progress.startStep(step, memory, trials, detail, ctx.options.durationMs);
  try {
    const handedNs = process.hrtime.bigint();
    const before = readCounters(ctx.countersDir);
    const packetsBefore = ctx.vethPackets?.();
    const rxBefore = readNetRx(ctx.platform.os);
    const stopWatching = giveUpWhenNothingConnects(step, memory, ctx.platform);
    const failedLanes = await ctx.pool.runStep(step, memory, ctx.options, skewNs).finally(stopWatching);
    const rx = netRxDelta(rxBefore, readNetRx(ctx.platform.os));
    const after = readCounters(ctx.countersDir);
    const packetsAfter = ctx.vethPackets?.();
    const withSkew = ctx.options.race === 'cross-thread' || ctx.options.skew.kind !== 'none';
    let tally = tallyStep(step, memory, ctx.platform, ctx.options.probes, withSkew);
    tally.kernel = kernelCheck(before, after, ctx.countersDir === undefined ? 'machine' : 'netns');
    if (ctx.mergePeer) tally = ctx.mergePeer(tally);
    if (step.placement !== undefined) tally.placement = step.placement;
    if (rx) tally.netRx = rx;
    if (packetsBefore && packetsAfter) {
      const neg = (x: VethPackets['listen']) => ({ device: x.device, rxPackets: -x.rxPackets, txPackets: -x.txPackets });
      tally.vethPackets = addVethPackets(packetsAfter, { listen: neg(packetsBefore.listen), client: neg(packetsBefore.client) });
    }
    const started = startup(handedNs, memory.firstStartNs());
    if (started) tally.startup = started;
    ctx.progress.endStep(tally.trials);
    return { tally, failedLanes };
  } finally {
    ctx.onMemory(undefined);
  }
}
