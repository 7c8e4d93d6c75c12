import { CALLS, LANE_STAGES, STAGES, type Layout, type Platform } from './native.js';
import type { StepMemory } from './memory.js';
import type { StepPlan } from './plan.js';

export type CallName = (typeof CALLS)[number];
export type StageName = (typeof STAGES)[number];

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
}

/** errno names come from the OS's headers (native), never a built-in table. */
export function errnoName(platform: Platform, errno: number, slots: number): string {
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

function row(memory: StepMemory, lane: number, offset: number, platform: Platform, layout: Layout, withOk: boolean) {
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

/** Reads a finished (or stopped) step's memory into plain numbers. */
export function tallyStep(step: StepPlan, memory: StepMemory, platform: Platform): StepTally {
  const layout = memory.layout;
  const L = layout.lane;
  const slotBytes = layout.errnoSlots * 8;
  const calls = Object.fromEntries(CALLS.map((c) => [c, { ok: 0, errors: {} }])) as Record<CallName, Outcomes>;
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
      const r = row(memory, i, L.calls + c * slotBytes, platform, layout, true);
      calls[name].ok += r.ok;
      addCounts(calls[name].errors, r.errors);
    });
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
  };
}

/** Victim close() calls actually made: trials whose setup succeeded. */
export function closeAttempts(step: StepTally): number {
  return step.calls.close.ok + sumCounts(step.calls.close.errors);
}
