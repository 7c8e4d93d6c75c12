import { CALLS, LANE_STAGES, STAGES, type Layout, type Platform } from './native.js';

/** What naming a tally needs of the platform that measured it: its errno names. */
export type Naming = Pick<Platform, 'errnoNames'>;
import type { StepMemory } from './memory.js';
import { mergeKernelChecks, type KernelCheck } from './kernel.js';
import { addVethPackets, type VethPackets } from './netpath.js';
import type { Startup } from './result.js';
import type { StepPlan } from './plan.js';
import { mergeHistograms } from './latency.js';
import { mergeNetRx, type NetRxWork } from './softirq.js';

export type CallName = (typeof CALLS)[number];
export type StageName = (typeof STAGES)[number];

/** Victim close() durations: sparse [bucket lower bound in ns, count], ascending. */
export interface Histogram {
  unit: 'ns';
  scheme: 'log-linear-16';
  counts: Array<[number, number]>;
}

/** Achieved skew: victim start minus resetter start, in 10 ns buckets. */
export interface SkewStats {
  samples: number;
  medianNs: number;
  p10Ns: number;
  p90Ns: number;
}

/** One point of a skew sweep or search: what was asked, what was achieved, what happened. */
export interface SkewPoint {
  askedNs: number;
  achievedMedianNs: number;
  achieved: SkewStats;
  trials: number;
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

export interface StepTally {
  cores: number;
  threads: number;
  oversubscribed: boolean;
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
  /** Cross-thread runs: how far apart the two threads really started. */
  achievedSkew?: SkewStats;
  /** Where the step's time went before its first trial (the first pass, when merged). */
  startup?: Startup;
  /** The kernel's own TCP counters over the step (machine-wide). */
  kernel?: KernelCheck;
  /** With --skew: the points run (a sweep, or an auto search and its choice). */
  skew?: { mode: 'fixed' | 'sweep' | 'auto'; chosenNs?: number; points: SkewPoint[] };
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


/** Quantiles of the achieved skew from its 10 ns buckets (bucket centres). */
export function skewStats(counts: number[], bucketNs: number, half: number): SkewStats | undefined {
  const samples = counts.reduce((a, b) => a + b, 0);
  if (samples === 0) return undefined;
  const at = (q: number): number => {
    let seen = 0;
    for (let i = 0; i < counts.length; i++) {
      seen += counts[i]!;
      if (seen >= q * samples) return (i - half) * bucketNs;
    }
    return half * bucketNs;
  };
  return { samples, medianNs: at(0.5), p10Ns: at(0.1), p90Ns: at(0.9) };
}

/** One skew point from the tally of a pass run at that skew (a live step's or a journal's). */
export function skewPoint(askedNs: number, tally: StepTally, search = false): SkewPoint {
  const achieved = tally.achievedSkew ?? { samples: 0, medianNs: 0, p10Ns: 0, p90Ns: 0 };
  return {
    askedNs,
    achievedMedianNs: achieved.medianNs,
    achieved,
    trials: tally.trials,
    // A copy: merging repeats adds into the tally's own calls.
    calls: structuredClone(tally.calls) as Record<string, Outcomes>,
    ...(search && { search: true }),
  };
}

/** Reads a finished (or stopped) step's memory into plain numbers. */
export function tallyStep(step: StepPlan, memory: StepMemory, platform: Naming, probes: readonly string[] = []): StepTally {
  const layout = memory.layout;
  const L = layout.lane;
  const slotBytes = layout.errnoSlots * 8;
  const tallied = CALLS.filter((c, i) => i < layout.firstProbe || probes.includes(c));
  const calls = Object.fromEntries(tallied.map((c) => [c, { ok: 0, errors: {} }])) as Record<CallName, Outcomes>;
  const probeSetupFailures: Record<string, number> = {};
  const latencyOk = new Map<number, number>();
  const latencyError = new Map<number, number>();
  const skewCounts = new Array<number>(layout.skewBuckets).fill(0);
  const setupFailures: StepTally['setupFailures'] = {};
  const victimFd = { released: 0, retained: 0, reused: 0 };
  const lanes: LaneTally[] = [];
  let trials = 0;
  let strangers = 0;
  let start = Infinity;
  let end = 0;

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
    STAGES.forEach((name, s) => {
      const r = row(memory, i, L.setup + s * slotBytes, platform, layout, false);
      if (Object.keys(r.errors).length > 0) addCounts((setupFailures[name] ??= {}), r.errors);
    });
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
  return {
    cores: step.cores,
    threads: step.threads,
    oversubscribed: step.oversubscribed,
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
    ...(step.threads > step.cores && { achievedSkew: skewStats(skewCounts, layout.skewBucketNs, layout.skewHalf) }),
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
  }
  return out;
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
