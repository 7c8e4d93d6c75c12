import type { Logger } from 'pino';
import { captureEnvironment } from './env.js';
import { RunError } from './errors.js';
import type { StepMemory } from './memory.js';
import { native } from './native.js';
import type { Options } from './options.js';
import { buildPlan, type StepPlan } from './plan.js';
import { descriptorBudget, laneCap } from './limits.js';
import { LanePool } from './pool.js';
import type { Progress } from './progress.js';
import { stepResult, withScaling, type RunResult, type StepResult } from './result.js';
import { rstsPerReset } from './kernel.js';
import { JournalWriter } from './journal.js';
import { measureStep } from './repeat.js';
import type { StepContext } from './step.js';
import { closeAttempts, type StepTally } from './tally.js';

export interface RunOutcome {
  result: RunResult;
  /** 0 completed, 1 failed, 128+signal when interrupted. */
  exitCode: number;
  /** Why the journal could not be written, when it could not (the result is intact). */
  journalError?: string;
}

const SIGNAL_EXIT = { SIGINT: 130, SIGTERM: 143 } as const;

function describeSetupFailures(step: StepTally): string {
  return Object.entries(step.setupFailures)
    .flatMap(([stage, byErrno]) => Object.entries(byErrno ?? {}).map(([e, n]) => `${stage} ${e} x${n}`))
    .join(', ');
}

/** A step that measured nothing is a failed run, not a clean one. */
function checkStep(step: StepTally, plan: StepPlan, failedLanes: number[]): void {
  if (failedLanes.length > 0) {
    const i = failedLanes[0]!;
    const why = step.lanes[i]?.failure;
    throw new RunError(
      `${plan.cores}-core step: lane ${i} (CPU ${plan.lanes[i]?.cpu}) could not start: ${why?.stage ?? 'unknown'} failed with ${why?.errno ?? 'unknown error'}` +
        (why?.errno === 'EMFILE' || why?.errno === 'ENFILE' ? '; raise the descriptor limit (ulimit -n)' : ''),
    );
  }
  if (step.trials > 0 && closeAttempts(step) === 0) {
    throw new RunError(`${plan.cores}-core step: every trial's setup failed (${describeSetupFailures(step)})`);
  }
}

/**
 * options -> plan -> pool -> native -> tallies. Steps finished before a
 * failure or a signal are kept: the caller reports and saves them.
 */
export async function run(options: Options, progress: Progress, log: Logger): Promise<RunOutcome> {
  const platform = native().platform();
  const layout = native().layout();
  const plan = buildPlan(options, platform.allowedCpus, platform.canPin, laneCap(descriptorBudget(), Math.max(...options.cores) * (options.lanesPerCore ?? 1)));
  if (plan.steps.length === 0) throw new RunError(plan.skipped[0]?.reason ?? 'no step to run');
  const startedAt = new Date().toISOString();
  const steps: StepResult[] = [];
  const environment = captureEnvironment(platform);
  const race: RunResult['race'] = { shape: options.race, resetSide: options.resetSide, victim: options.resetSide === 'server' ? 'client' : 'server' };
  const journal = options.journal ? JournalWriter.open(options.journal, { tool: environment.tool, options, race, environment, startedAt }) : undefined;
  const outcome = (result: RunResult, exitCode: number): RunOutcome => ({
    result,
    exitCode,
    ...(journal?.error && { journalError: `${journal.path}: ${journal.error.message}` }),
  });
  const finish = (status: RunResult['status'], error?: string): RunResult => {
    journal?.end(status, error);
    return result(status, error);
  };
  const result = (status: RunResult['status'], error?: string): RunResult => ({
    schema: 'close-stress/result',
    schemaVersion: 1,
    status,
    ...(error !== undefined && { error }),
    options,
    race,
    environment,
    startedAt,
    finishedAt: new Date().toISOString(),
    steps: withScaling(steps, platform.allowedCpus.length),
    ...(plan.skipped.length > 0 && { skipped: plan.skipped }),
  });

  log.info({ event: 'start', options, allowedCpus: platform.allowedCpus, canPin: platform.canPin, steps: plan.steps.map((s) => s.cores) }, 'run started');
  if (!platform.canPin) log.warn({ event: 'no-pinning', os: platform.os }, 'this OS cannot pin threads to CPUs; workers float');
  for (const s of plan.skipped) log.warn({ event: 'skipped', cores: s.cores, reason: s.reason }, `${s.cores}-core step skipped: ${s.reason}`);
  for (const s of plan.steps) {
    if (s.oversubscribed) {
      log.info({ event: 'oversubscribed', cores: s.cores, threads: s.threads, cpus: platform.allowedCpus.length }, `${s.cores}-core step runs ${s.threads} threads on ${platform.allowedCpus.length} CPUs`);
    }
  }

  let current: StepMemory | undefined;
  let signal: keyof typeof SIGNAL_EXIT | undefined;
  const onSignal = (name: keyof typeof SIGNAL_EXIT) => () => {
    if (signal) process.exit(SIGNAL_EXIT[name]); // second signal: the user means it
    signal = name;
    current?.stop();
    log.warn({ event: 'signal', signal: name }, 'stopping: saving what was measured');
  };
  const handlers = { SIGINT: onSignal('SIGINT'), SIGTERM: onSignal('SIGTERM') };
  process.on('SIGINT', handlers.SIGINT).on('SIGTERM', handlers.SIGTERM);

  const pool = new LanePool(plan);
  const ctx: StepContext = {
    pool, platform, layout, options, progress,
    onMemory: (m) => { current = m; },
    stopping: () => signal !== undefined,
  };
  try {
    for (const step of plan.steps) {
      if (signal) break;
      const { tally, failedLanes } = await measureStep(ctx, step);
      tally.interrupted = signal !== undefined;
      journal?.step(tally);
      steps.push(stepResult(tally));
      const rsts = rstsPerReset(tally.kernel, tally.calls.resetClose.ok);
      if (rsts !== undefined && rsts < 1) {
        log.warn({ event: 'no-rst', cores: step.cores, rstsPerReset: rsts, counter: tally.kernel?.rstCounter?.name }, `${step.cores}-core step: the kernel counted fewer RSTs than resetting closes; the step is not evidence`);
      }
      log.info({ event: 'step', cores: step.cores, trials: tally.trials, elapsedNs: tally.elapsedNs, close: tally.calls.close, setupFailed: tally.setupFailed }, 'step finished');
      checkStep(tally, step, failedLanes);
    }
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    log.error({ event: 'failed', error: message }, 'run failed');
    return outcome(finish('failed', message), 1);
  } finally {
    progress.stop();
    process.off('SIGINT', handlers.SIGINT).off('SIGTERM', handlers.SIGTERM);
    await pool.close();
  }
  if (signal) return outcome(finish('interrupted', `stopped by ${signal}`), SIGNAL_EXIT[signal]);
  log.info({ event: 'end' }, 'run completed');
  return outcome(finish('completed'), 0);
}
