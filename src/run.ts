import type { Logger } from 'pino';
import { captureEnvironment } from './env/env.js';
import { RunError } from './common/errors.js';
import type { StepMemory } from './core/memory.js';
import { native } from './core/native.js';
import type { Options } from './options/options.js';
import { buildPlan } from './plan/plan.js';
import { descriptorBudget, laneCap } from './env/limits.js';
import { LanePool } from './measure/pool.js';
import type { Progress } from './measure/progress.js';
import { raceOf, stepResult, withScaling, type RunResult, type StepResult } from './result/result.js';
import { rstsPerReset } from './env/kernel.js';
import { JournalWriter } from './result/journal.js';
import { VethPath } from './env/netpath.js';
import { RemotePeer } from './measure/remote.js';
import { parseHostPort } from './measure/control.js';
import { measureStep } from './measure/repeat.js';
import type { StepContext } from './measure/step.js';
import { stepFailure, type StepTally } from './tally/tally.js';

export interface RunOutcome {
  result: RunResult;
  /** 0 completed, 1 failed, 128+signal when interrupted. */
  exitCode: number;
  /** Why the journal could not be written, when it could not (the result is intact). */
  journalError?: string;
}

const SIGNAL_EXIT = { SIGINT: 130, SIGTERM: 143 } as const;

/** A step that measured nothing is a failed run, not a clean one. */
function checkStep(step: StepTally, failedLanes: number[]): void {
  const why = stepFailure(step, failedLanes);
  if (why) throw new RunError(why);
}

/**
 * SIGINT/SIGTERM, from before the first step until the last byte of the
 * result is written (the caller releases them): a signal while the pool
 * closes or the table and JSON are written must not kill the process with
 * the result unsaved. The first signal stops the step in hand; a second
 * one exits at once (the user means it).
 */
export class StopSignals {
  received: keyof typeof SIGNAL_EXIT | undefined;
  private stopper: (() => void) | undefined;
  private readonly handlers: Record<keyof typeof SIGNAL_EXIT, () => void>;
  private isSaved = false;

  constructor(log: Logger) {
    const on = (name: keyof typeof SIGNAL_EXIT) => () => {
      if (this.received) process.exit(SIGNAL_EXIT[name]);
      this.received = name;
      this.stopper?.();
      if (this.isSaved) log.warn({ event: 'signal', signal: name, saved: true }, `${name} came while the finished run was being saved; it is saved whole and says completed`);
      else log.warn({ event: 'signal', signal: name }, `${name}: stopping; saving what was measured (again to quit at once)`);
    };
    this.handlers = { SIGINT: on('SIGINT'), SIGTERM: on('SIGTERM') };
    process.on('SIGINT', this.handlers.SIGINT).on('SIGTERM', this.handlers.SIGTERM);
  }

  /** What stops the measurement in hand. */
  onStop(stop: () => void): void {
    this.stopper = stop;
  }

  /** 130 / 143 once a signal came, else undefined. */
  get exitCode(): number | undefined {
    return this.received && SIGNAL_EXIT[this.received];
  }

  /**
   * Called once every output is written. From the status check in run() to
   * the last write the save is synchronous, so no handler runs inside it: a
   * signal that came meanwhile is handled only now, and the files it finds
   * are whole and rightly say completed. Two turns of the event loop cross
   * one poll phase, where libuv hands the caught signal to its handler, so
   * the exit status says the signal came instead of losing it.
   */
  async saved(): Promise<void> {
    this.isSaved = true;
    for (let i = 0; i < 2; i++) await new Promise((resolve) => setImmediate(resolve));
  }

  release(): void {
    process.off('SIGINT', this.handlers.SIGINT).off('SIGTERM', this.handlers.SIGTERM);
  }
}

/** Test-only hook: hold the finishing phase (pool closed, nothing saved yet) open, so a test can signal inside it. */
async function testFinishDelay(): Promise<void> {
  const ms = Number(process.env.CLOSE_STRESS_TEST_FINISH_DELAY_MS ?? 0);
  if (!(ms > 0)) return;
  process.stderr.write(`close-stress: test: finishing in ${ms} ms\n`);
  await new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * options -> plan -> pool -> native -> tallies. Steps finished before a
 * failure or a signal are kept: the caller reports and saves them.
 */
export async function run(options: Options, progress: Progress, log: Logger, signals: StopSignals, peerToken?: string): Promise<RunOutcome> {
  const platform = native().platform();
  const layout = native().layout();
  const environment = captureEnvironment(platform);
  // --peer: each lane is one thread here; its other half is serve's.
  const plan = buildPlan(options.peer ? { ...options, race: 'same-thread' } : options, platform.allowedCpus, platform.canPin, laneCap(descriptorBudget(), Math.max(...options.cores) * (options.lanesPerCore ?? 1)), environment.topology);
  if (plan.steps.length === 0) throw new RunError(plan.skipped[0]?.reason ?? 'no step to run');
  // Before the journal opens, so its header records the namespaces; nothing is measured yet, so a failure is a plain error.
  let veth: VethPath | undefined;
  if (options.path === 'veth') {
    const opened = await VethPath.open(options.family, options.resetSide, options.rpsCpus);
    veth = opened.path;
    for (const owner of opened.removed) log.warn({ event: 'stale-netns', owner }, `removed the network namespaces left by run ${owner}, which is gone`);
    environment.netPath = veth.record;
    log.info({ event: 'veth', netPath: veth.record }, 'veth pair ready');
  }
  let peer: RemotePeer | undefined;
  if (options.peer) {
    const { host, port } = parseHostPort(options.peer, '--peer', false);
    peer = await RemotePeer.open(options.peer, host, port, peerToken ?? '', options, plan.maxLanes);
    environment.remote = peer.record;
    peer.onWarn = (message) => log.warn({ event: 'serve-stopped' }, message);
    log.info({ event: 'peer', peer: options.peer, serveRole: peer.record.serveRole }, 'serve accepted this controller');
  }
  const startedAt = new Date().toISOString();
  const steps: StepResult[] = [];
  const race = raceOf(options);
  const journal = options.journal ? JournalWriter.open(options.journal, { tool: environment.tool, options, race, environment, startedAt }) : undefined;
  const outcome = (result: RunResult, exitCode: number): RunOutcome => ({
    result,
    exitCode,
    ...(journal?.error && { journalError: journal.error.message }),
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
  if (!platform.canPin) log.warn({ event: 'no-pinning', os: platform.os }, 'this OS cannot pin threads to CPUs; lanes float');
  for (const s of plan.skipped) log.warn({ event: 'skipped', cores: s.cores, reason: s.reason }, `${s.cores}-core step skipped: ${s.reason}`);
  for (const s of plan.steps) {
    if (s.oversubscribed) {
      log.info({ event: 'oversubscribed', cores: s.cores, threads: s.threads, cpus: platform.allowedCpus.length }, `${s.cores}-core step runs ${s.threads} threads on ${platform.allowedCpus.length} CPUs`);
    }
  }

  let current: StepMemory | undefined;
  signals.onStop(() => current?.stop());

  const pool = peer ?? new LanePool(plan, veth?.laneNet());
  const ctx: StepContext = {
    pool, platform, layout, options, progress,
    ...(peer && { mergePeer: (t: StepTally) => peer!.merge(t) }),
    onMemory: (m) => { current = m; },
    stopping: () => signals.received !== undefined,
    ...(veth && { countersDir: veth.countersDir(), vethPackets: () => veth!.readPackets() }),
  };
  try {
    for (const step of plan.steps) {
      if (signals.received) break;
      const { tally, failedLanes } = await measureStep(ctx, step);
      tally.interrupted = signals.received !== undefined;
      journal?.step(tally);
      steps.push(stepResult(tally, environment.os));
      const rsts = rstsPerReset(tally.kernel, tally.calls.resetClose.ok);
      if (rsts !== undefined && rsts < 1) {
        log.warn({ event: 'no-rst', cores: step.cores, rstsPerReset: rsts, counter: tally.kernel?.rstCounter?.name }, `${step.cores}-core step: the kernel counted fewer RSTs than resetting closes; the step is not evidence`);
      }
      log.info({ event: 'step', cores: step.cores, trials: tally.trials, elapsedNs: tally.elapsedNs, close: tally.calls.close, setupFailed: tally.setupFailed }, 'step finished');
      checkStep(tally, failedLanes);
    }
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    log.error({ event: 'failed', error: message }, 'run failed');
    return outcome(finish('failed', message), 1);
  } finally {
    progress.stop();
    await pool.close();
    veth?.close();
    await testFinishDelay();
  }
  if (signals.received) return outcome(finish('interrupted', `stopped by ${signals.received}`), SIGNAL_EXIT[signals.received]);
  log.info({ event: 'end' }, 'run completed');
  return outcome(finish('completed'), 0);
}
