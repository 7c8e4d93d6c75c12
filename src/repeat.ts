import type { StepPlan } from './plan.js';
import { measureWithSkew } from './skew.js';
import type { Measurement, StepContext } from './step.js';
import { mergeTallies } from './tally.js';

/**
 * --duration: the native limit is set past reach and the step's stop word is
 * set from here when the time is up, the same way a signal stops it.
 */
function timed(ctx: StepContext, durationMs: number): StepContext {
  let timer: NodeJS.Timeout | undefined;
  return {
    ...ctx,
    options: { ...ctx.options, iterations: Number.MAX_SAFE_INTEGER },
    onMemory: (memory) => {
      clearTimeout(timer);
      ctx.onMemory(memory);
      if (memory) timer = setTimeout(() => memory.stop(), durationMs);
    },
  };
}

/** One step as the options ask: --repeat runs of --iterations trials or --duration each. */
export async function measureStep(ctx: StepContext, step: StepPlan): Promise<Measurement> {
  const { repeat, durationMs, skew } = ctx.options;
  const runCtx = durationMs !== undefined ? timed(ctx, durationMs) : ctx;
  const runs: Measurement[] = [];
  for (let r = 0; r < repeat; r++) {
    if (r > 0 && ctx.stopping()) break;
    const m = await measureWithSkew(runCtx, step, skew);
    runs.push(m);
    if (m.failedLanes.length > 0) break;
  }
  if (repeat === 1) return runs[0]!;
  const tally = mergeTallies(runs.map((m) => m.tally));
  tally.repeats = { trialsPerSec: runs.map((m) => (m.tally.elapsedNs > 0 ? m.tally.trials / (m.tally.elapsedNs / 1e9) : 0)) };
  return { tally, failedLanes: runs.flatMap((m) => m.failedLanes) };
}
