import type { Logger } from 'pino';
import { captureEnvironment } from './env.js';
import { RunError } from './errors.js';
import { StepMemory } from './memory.js';
import { native } from './native.js';
import type { Options } from './options.js';
import { buildPlan, type StepPlan } from './plan.js';
import { LanePool } from './pool.js';
import type { Progress } from './progress.js';
import { stepResult, withScaling, type RunResult, type StepResult, type Startup } from './result.js';
import { closeAttempts, tallyStep, type StepTally } from './tally.js';

export interface RunOutcome {
  result: RunResult;
  /** 0 completed, 1 failed, 128+signal when interrupted. */
  exitCode: number;
}

const SIGNAL_EXIT = { SIGINT: 130, SIGTERM: 143 } as const;

// Node's time origin is set as the process starts; hrtime and the lanes' start_ns
// both read CLOCK_MONOTONIC, so the two can be subtracted.
const processStartNs = process.hrtime.bigint() - BigInt(Math.round(performance.now() * 1e6));

function startup(handedNs: bigint, firstTrialNs: bigint): Startup | undefined {
  if (firstTrialNs === 0n) return undefined;
  return {
    poolStartMs: Number(firstTrialNs - handedNs) / 1e6,
    sinceProcessStartMs: Number(firstTrialNs - processStartNs) / 1e6,
  };
}

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
      `${plan.cores}-core step: lane ${i} (CPU ${plan.lanes[i]?.cpu}) could not start: ${why?.stage ?? 'unknown'} failed with ${why?.errno ?? 'unknown error'}`,
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
  const plan = buildPlan(options, platform.allowedCpus, platform.canPin);
  const startedAt = new Date().toISOString();
  const steps: StepResult[] = [];
  const result = (status: RunResult['status'], error?: string): RunResult => ({
    schema: 'close-stress/result',
    schemaVersion: 1,
    status,
    ...(error !== undefined && { error }),
    options,
    race: { shape: options.race, resetSide: options.resetSide, victim: options.resetSide === 'server' ? 'client' : 'server' },
    environment: captureEnvironment(platform),
    startedAt,
    finishedAt: new Date().toISOString(),
    steps: withScaling(steps),
  });

  log.info({ event: 'start', options, allowedCpus: platform.allowedCpus, canPin: platform.canPin, steps: plan.steps.map((s) => s.cores) }, 'run started');
  if (!platform.canPin) log.warn({ event: 'no-pinning', os: platform.os }, 'this OS cannot pin threads to CPUs; workers float');
  for (const s of plan.steps) {
    if (s.oversubscribed) {
      log.warn({ event: 'oversubscribed', cores: s.cores, threads: s.threads, cpus: platform.allowedCpus.length }, `${s.cores}-core step runs ${s.threads} threads on ${platform.allowedCpus.length} CPUs`);
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
  try {
    for (const step of plan.steps) {
      if (signal) break;
      current = new StepMemory(layout, step.lanes.length, options.iterations);
      progress.startStep(step, current, options.iterations);
      const handedNs = process.hrtime.bigint();
      const failedLanes = await pool.runStep(step, current, options);
      const started = startup(handedNs, current.firstStartNs());
      const tally = tallyStep(step, current, platform);
      tally.interrupted = signal !== undefined;
      progress.endStep(tally.trials);
      steps.push({ ...stepResult(tally), ...(started && { startup: started }) });
      log.info({ event: 'step', cores: step.cores, trials: tally.trials, elapsedNs: tally.elapsedNs, close: tally.calls.close, setupFailed: tally.setupFailed }, 'step finished');
      checkStep(tally, step, failedLanes);
    }
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    log.error({ event: 'failed', error: message }, 'run failed');
    return { result: result('failed', message), exitCode: 1 };
  } finally {
    progress.stop();
    process.off('SIGINT', handlers.SIGINT).off('SIGTERM', handlers.SIGTERM);
    await pool.close();
  }
  if (signal) return { result: result('interrupted', `stopped by ${signal}`), exitCode: SIGNAL_EXIT[signal] };
  log.info({ event: 'end' }, 'run completed');
  return { result: result('completed'), exitCode: 0 };
}
