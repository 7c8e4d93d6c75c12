import { closeSync, fsyncSync, openSync, realpathSync, renameSync, unlinkSync, writeSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Environment } from '../env/env.js';
import type { Options } from '../options/options.js';
import { OutputError, UsageError } from '../common/errors.js';
import { hasPosixList, outsidePosix, POSIX_ERRORS, type PosixCall } from '../common/posix.js';
import { callsMade, sumCounts, type Outcomes, type Startup, type StepTally } from '../tally/tally.js';
import { hitsOf, type Hits } from '../tally/hits.js';
import { meanInterval, wilson, zeroEventUpperBound, type Interval, type MeanInterval } from '../common/stats.js';
import { rstCounterOf, rstsPerReset } from '../env/kernel.js';
import { closeExpectation, type KernelId } from '../common/kernel-versions.js';
import { raceLost, type RaceLost } from '../tally/race-lost.js';

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

export interface StepResult extends StepTally {
  /**
   * The step's one throughput, used by the table, JSON, HTML, compare and
   * efficiency alike: trials / measuring time, or with --repeat the mean of
   * the repeats' trials/s (each repeat one sample, so it has an interval).
   */
  trialsPerSec: number;
  /** With --repeat: all trials over all repeats' time (repeats weighted by their length). */
  pooledTrialsPerSec?: number;
  /** With --repeat: the repeats' mean trials/s (= trialsPerSec) and its 95% t interval, clamped at 0; no interval for n = 1. */
  throughput?: MeanInterval;
  /** Per tallied call that POSIX gives an error list for (sockerror has none). */
  posix: { close: Verdict } & Partial<Record<string, Verdict>>;
  scaling?: Scaling;
  startup?: Startup;
  /** Victim close() errors outside POSIX per second of step time, and the time to the first. */
  hits?: Hits;
  /** The POSIX verdict on this step's victim closes, or why it cannot be given (absent in results saved before it existed). */
  closeVerdict?: StepVerdict;
  /** Races lost that close() did not report, from a kernel counter where the kernel has one. */
  raceLost?: RaceLost;
}

/**
 * A step's verdict never contradicts its own evidence: closes that stayed
 * within POSIX prove nothing when the kernel did not count the RSTs that
 * were to race them.
 */
export interface StepVerdict {
  verdict: 'within POSIX' | 'outside POSIX' | 'unverified' | 'not measured';
  reason?: string;
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

/** Which end sends the RST and which end's close() is the victim. */
export function raceOf(options: Pick<Options, 'race' | 'resetSide'>): RunResult['race'] {
  return { shape: options.race, resetSide: options.resetSide, victim: options.resetSide === 'server' ? 'client' : 'server' };
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

export function stepVerdict(step: StepTally, close: Verdict): StepVerdict {
  if (close.attempts === 0) return { verdict: 'not measured', reason: 'no victim close() was made' };
  // An errno POSIX does not allow is evidence by itself, whatever the counters say.
  if (close.outside > 0) return { verdict: 'outside POSIX' };
  const k = step.kernel;
  if (!k) return { verdict: 'unverified', reason: 'no kernel counters were recorded, so the RSTs are not proven' };
  if (k.unavailable) return { verdict: 'unverified', reason: `kernel counters unavailable (${k.unavailable}), so the RSTs are not proven` };
  const counter = rstCounterOf(k);
  if (!counter) return { verdict: 'unverified', reason: `no RST counter among the kernel's counters (${k.source})` };
  const r = rstsPerReset(k, step.calls.resetClose.ok);
  if (r === undefined) return { verdict: 'unverified', reason: 'no resetting close() succeeded' };
  if (r < 1) {
    return { verdict: 'unverified', reason: `the kernel counted ${r.toFixed(2)} ${counter.name} per resetting close: the RST injection did not happen` };
  }
  return { verdict: 'within POSIX' };
}

export function stepResult(step: StepTally, kernel?: KernelId): StepResult {
  const seconds = step.elapsedNs / 1e9;
  const posix: StepResult['posix'] = { close: verdict('close', step.calls.close) };
  for (const [call, outcomes] of Object.entries(step.calls)) {
    if (call !== 'close' && hasPosixList(call)) posix[call] = verdict(call, outcomes);
  }
  const pooled = seconds > 0 ? step.trials / seconds : 0;
  const throughput = step.repeats && meanInterval(step.repeats.trialsPerSec, 0.95, 0);
  return {
    ...step,
    trialsPerSec: throughput ? throughput.mean : pooled,
    ...(throughput && { pooledTrialsPerSec: pooled, throughput }),
    posix,
    hits: hitsOf(step, posix.close.outsideErrnos),
    closeVerdict: stepVerdict(step, posix.close),
    raceLost: raceLost(step, kernel && closeExpectation(kernel)),
  };
}

/**
 * Adds `scaling` to every step, against the 1-core step (else the smallest)
 * of the same placement: a sweep over placements has one baseline each.
 */
export function withScaling(steps: StepResult[], allowedCpus = Infinity): StepResult[] {
  const placements = [...new Set(steps.map((s) => s.placement))];
  if (placements.length > 1) {
    const scaled = new Map(placements.flatMap((p) => {
      const group = steps.filter((s) => s.placement === p);
      return withScaling(group, allowedCpus).map((r, i) => [group[i]!, r] as const);
    }));
    return steps.map((s) => scaled.get(s)!);
  }
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
  // Commander takes the next word as the value even when it is a flag:
  // `--json -q` would write a file named -q and run without --quiet.
  if (file.startsWith('-')) {
    throw new UsageError(`${flag} needs a file name, not '${file}' (for a file whose name starts with '-', write ${flag}=./${file})`);
  }
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

/** One file, however it is named: symlinks and hard links resolved where the file exists, else its directory. */
function fileIdentity(file: string): string {
  const abs = path.resolve(file);
  const st = statSync(abs, { throwIfNoEntry: false });
  if (st) return `inode ${st.dev}:${st.ino}`;
  try {
    return path.join(realpathSync(path.dirname(abs)), path.basename(abs));
  } catch {
    return abs;
  }
}

/**
 * Two outputs on one file overwrite each other's bytes (a journal and a log
 * interleaved is neither): refused before anything runs.
 */
export function refuseSharedOutputs(outputs: { flag: string; file: string | undefined }[]): void {
  const seen = new Map<string, string>();
  for (const { flag, file } of outputs) {
    if (file === undefined) continue;
    const id = fileIdentity(file);
    const other = seen.get(id);
    if (other !== undefined) throw new UsageError(`${other} and ${flag} ${file} are the same file; give each output its own file`);
    seen.set(id, `${flag} ${file}`);
  }
}

/**
 * write(2) may take fewer bytes than asked (a file size limit, a disk filling
 * up) and Node does not retry: loop until every byte is in, and let the
 * failing call's errno through (EFBIG, ENOSPC, EDQUOT).
 */
export function writeWhole(fd: number, text: string | Buffer): void {
  const bytes = typeof text === 'string' ? Buffer.from(text) : text;
  for (let at = 0; at < bytes.length; ) {
    const n = writeSync(fd, bytes, at, bytes.length - at);
    if (n <= 0) throw Object.assign(new Error(`write returned ${n} with ${bytes.length - at} bytes left`), { code: 'EIO' });
    at += n;
  }
}

/** `cannot write FILE: ENOSPC (no space left on device)`: the path and the errno, in one line. */
export function outputError(file: string, err: unknown): OutputError {
  const e = err as NodeJS.ErrnoException;
  const why = e.code ? `${e.code} (${e.message.replace(/^[A-Z]+: /, '').replace(/, \w+.*$/, '')})` : e.message;
  return new OutputError(`cannot write ${file}: ${why}`);
}

/**
 * Temp file, whole write, fsync, rename: a reader never sees half a result,
 * even after a crash; a write that fails leaves no file behind, and what was
 * at `file` before stays.
 */
export function writeAtomic(file: string, text: string): void {
  const tmp = path.join(path.dirname(path.resolve(file)), `.${path.basename(file)}.${process.pid}.tmp`);
  let fd: number | undefined;
  try {
    fd = openSync(tmp, 'w', 0o644);
    writeWhole(fd, text);
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
    throw outputError(file, err);
  }
}

export function writeResult(file: string, result: RunResult): void {
  writeAtomic(file, `${JSON.stringify(result, null, 2)}\n`);
}
