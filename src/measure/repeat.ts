import { loadAverage } from '../env/env.js';
import type { StepPlan } from '../plan/plan.js';
import { measureWithSkew } from './skew.js';
import type { Measurement, StepContext } from './step.js';
import { mergeTallies } from '../tally/tally.js';

/** How often a timed step checks its clock: the most a step overruns its duration by. */
const POLL_MS = 5;

/**
 * --duration: the native limit is set past reach and the step's stop word is
 * set from here, the way a signal stops it. The clock starts when a lane
 * starts measuring (its start_ns is set), not when the step is handed to the
 * workers, so a busy machine's thread wake-up is not counted as measuring.
 */
function timed(ctx: StepContext, durationMs: number): StepContext {
  let timer: NodeJS.Timeout | undefined;
  return {
    ...ctx,
    options: { ...ctx.options, iterations: Number.MAX_SAFE_INTEGER },
    onMemory: (memory) => {
      clearInterval(timer);
      ctx.onMemory(memory);
      if (!memory) return;
      let startedAt: number | undefined;
      const started = () => Array.from({ length: memory.lanes }, (_, i) => memory.read(i, memory.layout.lane.start_ns)).some((ns) => ns > 0);
      timer = setInterval(() => {
        if (startedAt === undefined) {
          if (started()) startedAt = performance.now();
        } else if (performance.now() - startedAt >= durationMs) {
          memory.stop();
          clearInterval(timer);
        }
      }, POLL_MS);
    },
  };
}

/** One step as the options ask: --repeat runs of --iterations trials or --duration each. */
export async function measureStep(ctx: StepContext, step: StepPlan): Promise<Measurement> {
  const { repeat, durationMs, skew } = ctx.options;
  const runCtx = durationMs !== undefined ? timed(ctx, durationMs) : ctx;
  const runs: Measurement[] = [];
  const before = loadAverage();
  for (let r = 0; r < repeat; r++) {
    if (r > 0 && ctx.stopping()) break;
    const m = await measureWithSkew(runCtx, step, skew);
    runs.push(m);
    if (m.failedLanes.length > 0) break;
  }
  const load = { before, after: loadAverage() };
  if (repeat === 1) {
    runs[0]!.tally.load = load;
    return runs[0]!;
  }
  const tally = mergeTallies(runs.map((m) => m.tally));
  // Each repeat's skew points stand on their own; one achieved-skew figure for
  // all repeats cannot be rebuilt from their summaries.
  delete tally.achievedSkew;
  const points = runs.flatMap((m) => m.tally.skew?.points ?? []);
  if (tally.skew) tally.skew = { mode: tally.skew.mode, points };
  tally.repeats = {
    trialsPerSec: runs.map((m) => (m.tally.elapsedNs > 0 ? m.tally.trials / (m.tally.elapsedNs / 1e9) : 0)),
    calls: runs.map((m) => m.tally.calls),
  };
  tally.load = load;
  return { tally, failedLanes: runs.flatMap((m) => m.failedLanes) };
}
