import type { StepMemory } from '../core/memory.js';
import type { Platform } from '../core/native.js';
import type { StepPlan } from '../plan/plan.js';
import { closeAttempts, tallyStep } from '../tally/tally.js';

/** How long a step may go without a single victim close before it is given up. */
export const GIVE_UP_MS = 5000;
const CHECK_MS = 500;

/**
 * Lanes back off after every failed setup, so a step whose every setup fails
 * for good (no ephemeral port, a firewall) would crawl through its trials for
 * minutes. Once GIVE_UP_MS pass without one victim close, stop the step; the
 * run then fails naming the setup errors. Call the returned function when the
 * step ends.
 */
export function giveUpWhenNothingConnects(step: StepPlan, memory: StepMemory, platform: Platform): () => void {
  const started = Date.now();
  const timer = setInterval(() => {
    const tally = tallyStep(step, memory, platform);
    if (closeAttempts(tally) > 0) clearInterval(timer);
    else if (Date.now() - started >= GIVE_UP_MS && tally.setupFailed > 0) {
      memory.stop();
      clearInterval(timer);
    }
  }, CHECK_MS);
  timer.unref();
  return () => clearInterval(timer);
}
