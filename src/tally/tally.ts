import { CALLS, LANE_STAGES, STAGES, type Layout, type Platform, type RemoteRole } from '../core/native.js';

/** What naming a tally needs of the platform that measured it: its errno names. */
export type Naming = Pick<Platform, 'errnoNames'>;
import type { StepMemory } from '../core/memory.js';
import { mergeKernelChecks, type KernelCheck } from '../env/kernel.js';
import { addVethPackets, type VethPackets } from '../env/netpath.js';
import type { StepPlan } from '../plan/plan.js';
import { mergeHistograms, type Histogram } from './latency.js';
import { mergeNetRx, type NetRxWork } from '../env/softirq.js';

export type CallName = (typeof CALLS)[number];
export type StageName = (typeof STAGES)[number];

/**
 * Achieved skew: victim start minus resetter start; 10 ns buckets within
 * +-10 us, log-linear ones (16 per power of two) beyond.
 */
export interface SkewStats {
  samples: number;
  medianNs: number;
  p10Ns: number;
  p90Ns: number;
  /** Samples past the histogram's last bucket (|skew| >= beyondNs): quantiles there are lower bounds. */
  beyond?: { samples: number; beyondNs: number };
}

/** One point of a skew sweep or search: what was asked, what was achieved, what happened. */
export interface SkewPoint {
  askedNs: number;
  achievedMedianNs: number;
  achieved: SkewStats;
  trials: number;
  /** Time the point ran (its hits per second are over this); absent in records that predate it. */
  elapsedNs?: number;
  calls: Record<string, Outcomes>;
  /** true for the points an auto search tried before the step's own run. */
  search?: boolean;
}

/** Results of one syscall: successes, and failures by errno name. */
export interface Outcomes {
  ok: number;
  errors: Record<string, number>;
}

export interface LaneTally {
  cpu: number;
  resetCpu: number;
  pinned: boolean;
  trials: number;
  /** CPUs the kernel actually ran the victim (and resetter) thread on. */
  cpusSeen: number[];
  resetCpusSeen: number[];
  /** Why the lane could not start, when it could not. */
  failure?: { stage: string; errno: string };
}

/** Where a step's time went before its first trial (absent in results rebuilt from a journal). */
export interface Startup {
  /** From handing the step to the pool to the first lane passing the start gate. */
  poolStartMs: number;
  /** From process start (Node's time origin) to the same moment. */
  sinceProcessStartMs: number;
}

export interface StepTally {
  cores: number;
  threads: number;
  oversubscribed: boolean;
  /** Lanes pinned to each CPU of the step (--lanes-per-core); absent in records that predate it: 1. */
  lanesPerCore?: number;
  /** Trials finished: every one is a victim close result or a setup failure. */
  trials: number;
  elapsedNs: number;
  calls: Record<CallName, Outcomes>;
  /** Per-trial setup failures: stage -> errno name -> count. */
  setupFailures: Partial<Record<StageName, Record<string, number>>>;
  setupFailed: number;
  /** Connections to a lane's listener that were not its own client. */
  strangers: number;
  /** After a failed victim close: was the descriptor gone anyway? */
  victimFd: { released: number; retained: number; reused: number };
  lanes: LaneTally[];
  interrupted: boolean;
  /** Probes that ran in this step (their outcomes are in calls). */
  probes: string[];
  /** The accept probe's own connection could not be set up: errno -> count. */
  probeSetupFailures: Record<string, number>;
  latency: { close: { ok: Histogram; error: Histogram } };
  /**
   * Victim close(): ns from the step's start (its first lane passing the start
   * gate) to the first failure with each errno. Merged runs count the time of
   * the runs before as part of the step.
   */
  firstCloseErrorNs?: Record<string, number>;
  /** Cross-thread runs: how far apart the two threads really started. */
  achievedSkew?: SkewStats;
  /** Where the step's time went before its first trial (the first pass, when merged). */
  startup?: Startup;
  /** The kernel's own TCP counters over the step (machine-wide). */
  kernel?: KernelCheck;
  /** With --skew: the points run (a sweep, or an auto search and its choice). */
  skew?: {
    mode: 'fixed' | 'sweep' | 'auto';
    chosenNs?: number;
    /** auto: what the choice maximised ('hits/s'), or the named proxy it fell back to and why. */
    objective?: string;
    /** auto: the outcomes whose rate per second it maximised: the --fail-on list, else close() errors outside POSIX. */
    target?: string;
    points: SkewPoint[];
  };
  /** The machine's 1/5/15-minute load averages as the step began and ended: another load moves the figures. */
  load?: { before: number[]; after: number[] };
  /** With --repeat N: each run's throughput (the counts above are their sums). */
  repeats?: {
    trialsPerSec: number[];
    /** Each repeat's own outcomes (absent in results written before they were kept): the between-repeat spread. */
    calls?: Array<Record<string, Outcomes>>;
  };
  /** How the lanes' CPUs were chosen (--placement, --resetter). */
  placement?: string;
  /** Receive-side network work per CPU over the step (machine-wide): where the RSTs were processed. */
  netRx?: NetRxWork;
  /** --path veth: packets through both veth ends over the step (/proc/PID/net/dev in each namespace): proof the trials crossed the pair. */
  vethPackets?: VethPackets;
  /** --peer: each host's own part of the step (src/measure/remote.ts merges them into the counts above). */
  sides?: StepSides;
}

/** errno names come from the OS's headers (native), never a built-in table. */
export function errnoName(platform: Naming, errno: number, slots: number): string {
  if (errno === 0) return 'none';
  if (errno === slots - 1 && platform.errnoNames[String(errno)] === undefined) return `E>=${errno}`;
  return platform.errnoNames[String(errno)] ?? `errno ${errno}`;
}

function cpuList(memory: StepMemory, lane: number, offset: number, words: number): number[] {
  const cpus: number[] = [];
  for (let w = 0; w < words; w++) {
    const bits = Atomics.load(memory.words, (memory.laneOffset(lane) + offset) / 8 + w);
    for (let b = 0; b < 64; b++) if ((bits >> BigInt(b)) & 1n) cpus.push(w * 64 + b);
  }
  return cpus;
}

function row(memory: StepMemory, lane: number, offset: number, platform: Naming, layout: Layout, withOk: boolean) {
  const errors: Record<string, number> = {};
  let ok = 0;
  for (let e = 0; e < layout.errnoSlots; e++) {
    const n = memory.read(lane, offset, e);
    if (n === 0) continue;
    if (e === 0 && withOk) ok = n;
    else errors[errnoName(platform, e, layout.errnoSlots)] = (errors[errnoName(platform, e, layout.errnoSlots)] ?? 0) + n;
  }
  return { ok, errors };
}

export function addCounts(into: Record<string, number>, from: Record<string, number>): void {
  for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v;
}

export function sumCounts(counts: Record<string, number>): number {
  return Object.values(counts).reduce((a, b) => a + b, 0);
}

function histogram(memory: StepMemory, lane: number, offset: number, into: Map<number, number>): void {
  const lows = memory.layout.latencyBucketLows;
  for (let b = 0; b < memory.layout.latencyBuckets; b++) {
    const n = memory.read(lane, offset, b);
    if (n > 0) into.set(lows[b]!, (into.get(lows[b]!) ?? 0) + n);
  }
}

const toHistogram = (m: Map<number, number>): Histogram => ({
  unit: 'ns',
  scheme: 'log-linear-16',
  counts: [...m.entries()].sort((a, b) => a[0] - b[0]),
});


/** The far rows of the achieved skew: counts by |skew| in the latency buckets, below and above the fine range. */
export interface SkewFar {
  below: number[];
  above: number[];
  /** Lower bound in ns of each bucket (the latency buckets'). */
  lows: number[];
}

/**
 * Quantiles of the achieved skew: each sample stands for its bucket's lower
 * edge in the fine range and its bucket's middle beyond it (where a bucket is
 * 1/16 of a power of two wide). The last far bucket also holds whatever lies
 * past it: samples there are counted in `beyond`, never read as measured.
 */
export function skewStats(counts: number[], bucketNs: number, half: number, far?: SkewFar): SkewStats | undefined {
  const last = far ? far.lows.length - 1 : -1;
  const mid = (b: number): number => (b < last ? (far!.lows[b]! + far!.lows[b + 1]!) / 2 : far!.lows[b]!);
  const ordered: Array<[number, number]> = [];
  if (far) for (let b = far.below.length - 1; b >= 0; b--) if (far.below[b]) ordered.push([-mid(b), far.below[b]!]);
  counts.forEach((n, i) => { if (n) ordered.push([(i - half) * bucketNs, n]); });
  if (far) far.above.forEach((n, b) => { if (n) ordered.push([mid(b), n]); });
  const samples = ordered.reduce((a, [, n]) => a + n, 0);
  if (samples === 0) return undefined;
  const at = (q: number): number => {
    let seen = 0;
    for (const [v, n] of ordered) {
      seen += n;
      if (seen >= q * samples) return v;
    }
    return ordered[ordered.length - 1]![0];
  };
  const beyond = far ? (far.below[last] ?? 0) + (far.above[last] ?? 0) : 0;
  return {
    samples, medianNs: Math.round(at(0.5)), p10Ns: Math.round(at(0.1)), p90Ns: Math.round(at(0.9)),
    ...(beyond > 0 && { beyond: { samples: beyond, beyondNs: far!.lows[last]! } }),
  };
}

/** One skew point from the tally of a pass run at that skew (a live step's or a journal's). */
export function skewPoint(askedNs: number, tally: StepTally, search = false): SkewPoint {
  const achieved = tally.achievedSkew ?? { samples: 0, medianNs: 0, p10Ns: 0, p90Ns: 0 };
  return {
    askedNs,
    achievedMedianNs: achieved.medianNs,
    achieved,
    trials: tally.trials,
    elapsedNs: tally.elapsedNs,
    // A copy: merging repeats adds into the tally's own calls.
    calls: structuredClone(tally.calls) as Record<string, Outcomes>,
    ...(search && { search: true }),
  };
}

/** Reads a finished (or stopped) step's memory into plain numbers. */
export function tallyStep(
  step: StepPlan,
  memory: StepMemory,
  platform: Naming,
  probes: readonly string[] = [],
  /** Report the achieved skew: cross-thread runs, and same-thread runs asked for a skew. */
  withSkew = step.threads > step.cores,
): StepTally {
  const layout = memory.layout;
  const L = layout.lane;
  const slotBytes = layout.errnoSlots * 8;
  // The accept probe's own closes exist only when it runs.
  const tallied = CALLS.filter((c, i) => (c === 'acceptClose' ? probes.includes('accept') : i < layout.firstProbe || probes.includes(c)));
  const calls = Object.fromEntries(tallied.map((c) => [c, { ok: 0, errors: {} }])) as Record<CallName, Outcomes>;
  const probeSetupFailures: Record<string, number> = {};
  const latencyOk = new Map<number, number>();
  const latencyError = new Map<number, number>();
  const skewCounts = new Array<number>(layout.skewBuckets).fill(0);
  const skewFar: SkewFar = {
    below: new Array<number>(layout.latencyBuckets).fill(0),
    above: new Array<number>(layout.latencyBuckets).fill(0),
    lows: layout.latencyBucketLows,
  };
  const setupFailures: StepTally['setupFailures'] = {};
  const victimFd = { released: 0, retained: 0, reused: 0 };
  const lanes: LaneTally[] = [];
  let trials = 0;
  let strangers = 0;
  let start = Infinity;
  let end = 0;
  const firstErrorAt: Record<string, number> = {}; // monotonic ns, earliest over lanes

  for (let i = 0; i < step.lanes.length; i++) {
    const plan = step.lanes[i]!;
    const laneTrials = memory.read(i, L.done);
    trials += laneTrials;
    strangers += memory.read(i, L.strangers);
    victimFd.released += memory.read(i, L.fd_released);
    victimFd.retained += memory.read(i, L.fd_retained);
    victimFd.reused += memory.read(i, L.fd_reused);
    CALLS.forEach((name, c) => {
      if (!tallied.includes(name)) return;
      const r = row(memory, i, L.calls + c * slotBytes, platform, layout, true);
      calls[name].ok += r.ok;
      addCounts(calls[name].errors, r.errors);
    });
    addCounts(probeSetupFailures, row(memory, i, L.probe_setup, platform, layout, false).errors);
    histogram(memory, i, L.close_latency, latencyOk);
    histogram(memory, i, L.close_latency + layout.latencyBuckets * 8, latencyError);
    for (let b = 0; b < layout.skewBuckets; b++) skewCounts[b]! += memory.read(i, L.skew, b);
    for (let b = 0; b < layout.latencyBuckets; b++) {
      skewFar.below[b]! += memory.read(i, L.skew_far, b);
      skewFar.above[b]! += memory.read(i, L.skew_far, layout.latencyBuckets + b);
    }
    STAGES.forEach((name, s) => {
      const r = row(memory, i, L.setup + s * slotBytes, platform, layout, false);
      if (Object.keys(r.errors).length > 0) addCounts((setupFailures[name] ??= {}), r.errors);
    });
    for (let e = 1; e < layout.errnoSlots; e++) {
      const at = memory.read(i, L.close_first_error_ns, e);
      const name = errnoName(platform, e, layout.errnoSlots);
      if (at > 0 && !(firstErrorAt[name]! <= at)) firstErrorAt[name] = at;
    }
    const laneStart = memory.read(i, L.start_ns);
    const laneEnd = memory.read(i, L.end_ns);
    if (laneStart > 0) start = Math.min(start, laneStart);
    end = Math.max(end, laneEnd);
    const stage = memory.read(i, L.lane_stage);
    lanes.push({
      cpu: plan.cpu,
      resetCpu: plan.resetCpu,
      pinned: memory.read(i, L.pinned) === 1,
      trials: laneTrials,
      cpusSeen: cpuList(memory, i, L.victim_cpus, layout.cpuMaskWords),
      resetCpusSeen: cpuList(memory, i, L.reset_cpus, layout.cpuMaskWords),
      ...(stage !== 0 && {
        failure: {
          stage: LANE_STAGES[stage] ?? `stage ${stage}`,
          errno: errnoName(platform, memory.read(i, L.lane_errno), layout.errnoSlots),
        },
      }),
    });
  }
  const setupFailed = Object.values(setupFailures).reduce((a, r) => a + sumCounts(r), 0);
  const firstCloseErrorNs = Object.fromEntries(Object.entries(firstErrorAt).map(([e, at]) => [e, Math.max(0, at - start)]));
  return {
    cores: step.cores,
    threads: step.threads,
    oversubscribed: step.oversubscribed,
    // Only when chosen: a default step reads as before (and as close-stress-core writes it).
    ...(step.lanesPerCore > 1 && { lanesPerCore: step.lanesPerCore }),
    trials,
    elapsedNs: end > start ? end - start : 0,
    calls,
    setupFailures,
    setupFailed,
    strangers,
    victimFd,
    lanes,
    interrupted: memory.stopped,
    probes: [...probes],
    probeSetupFailures,
    latency: { close: { ok: toHistogram(latencyOk), error: toHistogram(latencyError) } },
    ...(Object.keys(firstCloseErrorNs).length > 0 && { firstCloseErrorNs }),
    ...(withSkew && { achievedSkew: skewStats(skewCounts, layout.skewBucketNs, layout.skewHalf, skewFar) }),
  };
}

function mergeOutcomes(into: Record<string, Outcomes>, from: Record<string, Outcomes>): void {
  for (const [name, o] of Object.entries(from)) {
    const t = (into[name] ??= { ok: 0, errors: {} });
    t.ok += o.ok;
    addCounts(t.errors, o.errors);
  }
}

/** Several runs of one step (skew points, repeats) as one: counts add up, time adds up. */
export function mergeTallies(parts: StepTally[]): StepTally {
  const [first, ...rest] = parts;
  if (!first) throw new Error('mergeTallies needs at least one tally');
  const out: StepTally = structuredClone(first);
  for (const t of rest) {
    for (const [e, ns] of Object.entries(t.firstCloseErrorNs ?? {})) {
      if ((out.firstCloseErrorNs ??= {})[e] === undefined) out.firstCloseErrorNs[e] = out.elapsedNs + ns;
    }
    out.trials += t.trials;
    out.elapsedNs += t.elapsedNs;
    mergeOutcomes(out.calls, t.calls);
    for (const [stage, byErrno] of Object.entries(t.setupFailures)) {
      addCounts((out.setupFailures[stage as StageName] ??= {}), byErrno ?? {});
    }
    out.setupFailed += t.setupFailed;
    out.strangers += t.strangers;
    for (const k of ['released', 'retained', 'reused'] as const) out.victimFd[k] += t.victimFd[k];
    out.lanes.forEach((lane, i) => {
      const other = t.lanes[i];
      if (!other) return;
      lane.trials += other.trials;
      lane.cpusSeen = [...new Set([...lane.cpusSeen, ...other.cpusSeen])].sort((a, b) => a - b);
      lane.resetCpusSeen = [...new Set([...lane.resetCpusSeen, ...other.resetCpusSeen])].sort((a, b) => a - b);
    });
    out.interrupted ||= t.interrupted;
    addCounts(out.probeSetupFailures, t.probeSetupFailures);
    out.latency.close.ok = mergeHistograms(out.latency.close.ok, t.latency.close.ok);
    out.latency.close.error = mergeHistograms(out.latency.close.error, t.latency.close.error);
    const kernel = mergeKernelChecks(out.kernel, t.kernel);
    if (kernel) out.kernel = kernel;
    else delete out.kernel;
    if (out.netRx && t.netRx) mergeNetRx(out.netRx, t.netRx);
    if (out.vethPackets && t.vethPackets) out.vethPackets = addVethPackets(out.vethPackets, t.vethPackets);
    if (out.sides && t.sides) for (const side of ['controller', 'serve'] as const) mergeSide(out.sides[side], t.sides[side]);
  }
  return out;
}

/** One host's part of two passes (repeats, skew points) as one. */
function mergeSide(into: { trials: number; setupFailures: StepTally['setupFailures']; setupFailed: number; strangers?: number; kernel?: KernelCheck; stoppedBy?: string }, from: typeof into): void {
  into.trials += from.trials;
  for (const [stage, byErrno] of Object.entries(from.setupFailures)) addCounts((into.setupFailures[stage as StageName] ??= {}), byErrno ?? {});
  into.setupFailed += from.setupFailed;
  if (into.strangers !== undefined) into.strangers += from.strangers ?? 0;
  const kernel = mergeKernelChecks(into.kernel, from.kernel);
  if (kernel) into.kernel = kernel;
  else delete into.kernel;
  if (into.stoppedBy === undefined && from.stoppedBy !== undefined) into.stoppedBy = from.stoppedBy;
}

/** Calls of one syscall that were made: successes plus failures of every errno. */
export function callsMade(o: Outcomes | undefined): number {
  return o ? o.ok + sumCounts(o.errors) : 0;
}

/** Share of the calls made that failed; undefined when none was made. */
export function failedShare(o: Outcomes | undefined): number | undefined {
  const n = callsMade(o);
  return n === 0 || !o ? undefined : sumCounts(o.errors) / n;
}

/** Victim close() calls actually made: trials whose setup succeeded. */
export function closeAttempts(step: StepTally): number {
  return callsMade(step.calls.close);
}

function describeSetupFailures(step: StepTally): string {
  return Object.entries(step.setupFailures)
    .flatMap(([stage, byErrno]) => Object.entries(byErrno ?? {}).map(([e, n]) => `${stage} ${e} x${n}`))
    .join(', ');
}

/** Why a step measured nothing (a lane could not start, no setup succeeded), or undefined: such a step fails the run. */
export function stepFailure(step: StepTally, failedLanes: number[]): string | undefined {
  if (failedLanes.length > 0) {
    const i = failedLanes[0]!;
    const lane = step.lanes[i];
    const why = lane?.failure;
    return (
      `${step.cores}-core step: lane ${i} (CPU ${lane?.cpu}) could not start: ${why?.stage ?? 'unknown'} failed with ${why?.errno ?? 'unknown error'}` +
      (why?.errno === 'EMFILE' || why?.errno === 'ENFILE' ? '; raise the descriptor limit (ulimit -n)' : '')
    );
  }
  if (step.trials > 0 && closeAttempts(step) === 0) return `${step.cores}-core step: every trial's setup failed (${describeSetupFailures(step)})`;
  return undefined;
}

/** Both sides of one step, kept beside the merged counts. */
export interface StepSides {
  controller: { role: RemoteRole; trials: number; setupFailures: StepTally['setupFailures']; setupFailed: number; kernel?: KernelCheck };
  serve: { role: RemoteRole; trials: number; setupFailures: StepTally['setupFailures']; setupFailed: number; strangers: number; kernel: KernelCheck; stoppedBy?: string };
}
