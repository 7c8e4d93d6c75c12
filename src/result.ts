import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Environment } from './env.js';
import type { Options } from './options.js';
import { UsageError } from './errors.js';
import { hasPosixList, outsidePosix, POSIX_ERRORS, type PosixCall } from './posix.js';
import { callsMade, sumCounts, type Outcomes, type StepTally } from './tally.js';
import { hitsOf, type Hits } from './hits.js';
import { meanInterval, wilson, zeroEventUpperBound, type Interval } from './stats.js';

export const SCHEMA = 'close-stress/result';
export const SCHEMA_VERSION = 1;

export type Status = 'completed' | 'interrupted' | 'failed';

/** POSIX verdict for one syscall of one step. */
export interface Verdict {
  /** Where the allowed list comes from (POSIX.1-2008 / POSIX.1-2024 XSH page). */
  section: string;
  attempts: number;
  outside: number;
  outsideErrnos: Record<string, number>;
  ci95: Interval;
  /** Exact one-sided 95% bound when nothing outside POSIX was seen. */
  upper95WhenZero?: number;
}

/** How this step's rate compares with the baseline step's, per core. */
export interface Scaling {
  /** The 1-core step when the run has one, else the step with the fewest cores. */
  baselineCores: number;
  trialsPerSecPerCore: number;
  /** Lanes' worth of CPUs the step could really use: k, fewer when oversubscribed (may be fractional). */
  effectiveCores: number;
  /** rate / (effective cores x rate per core at the baseline): 1 is perfect, a collapse reads as << 1. */
  efficiency: number;
}

/** Where a step's time went before its first trial (absent in results rebuilt from a journal). */
export interface Startup {
  /** From handing the step to the pool to the first lane passing the start gate. */
  poolStartMs: number;
  /** From process start (Node's time origin) to the same moment. */
  sinceProcessStartMs: number;
}

export interface StepResult extends StepTally {
  trialsPerSec: number;
  /** With --repeat: mean throughput of the runs and its 95% t interval. */
  throughput?: { mean: number; low: number; high: number; n: number };
  /** Per tallied call that POSIX gives an error list for (sockerror has none). */
  posix: { close: Verdict } & Partial<Record<string, Verdict>>;
  scaling?: Scaling;
  startup?: Startup;
  /** Victim close() errors outside POSIX per second of step time, and the time to the first. */
  hits?: Hits;
}

export interface RunResult {
  schema: typeof SCHEMA;
  schemaVersion: typeof SCHEMA_VERSION;
  status: Status;
  error?: string;
  options: Options;
  race: { shape: Options['race']; resetSide: Options['resetSide']; victim: 'client' | 'server' };
  environment: Environment;
  startedAt: string;
  finishedAt: string;
  steps: StepResult[];
  /** Steps asked for but not run, and why (e.g. the descriptor limit). */
  skipped?: { cores: number; reason: string }[];
}

export function verdict(call: PosixCall, outcomes: Outcomes): Verdict {
  const attempts = callsMade(outcomes);
  const outsideErrnos = outsidePosix(call, outcomes.errors);
  const outside = sumCounts(outsideErrnos);
  return {
    section: POSIX_ERRORS[call].section,
    attempts,
    outside,
    outsideErrnos,
    ci95: wilson(outside, attempts),
    ...(outside === 0 && { upper95WhenZero: zeroEventUpperBound(attempts) }),
  };
}

export function stepResult(step: StepTally): StepResult {
  const seconds = step.elapsedNs / 1e9;
  const posix: StepResult['posix'] = { close: verdict('close', step.calls.close) };
  for (const [call, outcomes] of Object.entries(step.calls)) {
    if (call !== 'close' && hasPosixList(call)) posix[call] = verdict(call, outcomes);
  }
  return {
    ...step,
    trialsPerSec: seconds > 0 ? step.trials / seconds : 0,
    ...(step.repeats && { throughput: meanInterval(step.repeats.trialsPerSec) }),
    posix,
    hits: hitsOf(step, posix.close.outsideErrnos),
  };
}

/** Adds `scaling` to every step, against the 1-core step (else the smallest). */
export function withScaling(steps: StepResult[], allowedCpus = Infinity): StepResult[] {
  const measured = steps.filter((s) => s.trialsPerSec > 0);
  const base = measured.find((s) => s.cores === 1) ?? [...measured].sort((a, b) => a.cores - b.cores)[0];
  if (!base) return steps;
  // An oversubscribed step cannot use more CPUs than it is allowed: judging
  // 16 lanes on 2 CPUs against 16 cores would read as a collapse that is not one.
  // A cross-thread lane is two threads, so it needs two CPUs to run unshared.
  // K lanes per CPU (--lanes-per-core) share their CPU by choice: the step still has N cores.
  const usable = (s: StepResult): number => {
    const perCore = s.threads / (s.lanesPerCore ?? 1) / s.cores;
    return Math.min(s.threads / (s.lanesPerCore ?? 1), allowedCpus) / perCore;
  };
  const basePerCore = base.trialsPerSec / usable(base);
  return steps.map((s) => ({
    ...s,
    scaling: {
      baselineCores: base.cores,
      trialsPerSecPerCore: s.trialsPerSec / s.cores,
      effectiveCores: usable(s),
      efficiency: s.trialsPerSec / usable(s) / basePerCore,
    },
  }));
}

/**
 * Refuses, before anything runs, an output path that cannot be written or
 * that would silently replace an earlier result.
 */
export function checkOutputPath(file: string, flag: string, force: boolean): void {
  if (file.trim() === '') throw new UsageError(`${flag} takes a file name, not ''`);
  const dir = path.dirname(path.resolve(file));
  try {
    if (!statSync(dir).isDirectory()) throw new Error();
  } catch {
    throw new UsageError(`${flag} ${file}: directory ${dir} does not exist`);
  }
  const existing = statSync(file, { throwIfNoEntry: false });
  if (existing?.isDirectory()) throw new UsageError(`${flag} ${file} is a directory; it takes a file name`);
  if (existing && !force) throw new UsageError(`${flag} ${file} already exists; pass --force to overwrite it`);
  // access(2) says yes to root on a read-only mount or /proc: only creating a file tells.
  const probe = path.join(dir, `.${path.basename(file)}.${process.pid}.probe`);
  try {
    closeSync(openSync(probe, 'wx', 0o600));
    unlinkSync(probe);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new UsageError(`${flag} ${file}: cannot write in ${dir} (${code})`);
  }
}

/** Temp file, fsync, rename: a reader never sees half a result, even after a crash. */
export function writeAtomic(file: string, text: string): void {
  const tmp = path.join(path.dirname(path.resolve(file)), `.${path.basename(file)}.${process.pid}.tmp`);
  let fd: number | undefined;
  try {
    fd = openSync(tmp, 'w', 0o644);
    writeSync(fd, text);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, file);
  } catch (err) {
    if (fd !== undefined) closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {
      /* nothing to clean */
    }
    throw err;
  }
}

export function writeResult(file: string, result: RunResult): void {
  writeAtomic(file, `${JSON.stringify(result, null, 2)}\n`);
}
