import { fmtDuration, fmtInt } from '../common/format.js';
import { poissonRate } from '../common/stats.js';
import type { StepTally } from './tally.js';

/**
 * Sensitivity, the figure a kernel developer asks for first ("how long until
 * I see it?"): victim close() errors POSIX does not allow per second of step
 * time, with Garwood's exact 95% interval, and the time to the first one.
 */
export interface Hits {
  /** Victim close() errors outside POSIX. */
  count: number;
  /** Step time they were counted over (all runs of the step, merged). */
  seconds: number;
  perSec: number;
  ci95: { low: number; high: number };
  /** ns from the step's start to the first of them; absent when none was seen (or the record predates it). */
  firstAfterNs?: number;
}

/** Hits of one step, given its victim close() errors outside POSIX (the verdict's rule). */
export function hitsOf(step: Pick<StepTally, 'elapsedNs' | 'firstCloseErrorNs'>, outsideErrnos: Record<string, number>): Hits {
  const count = Object.values(outsideErrnos).reduce((a, b) => a + b, 0);
  const seconds = step.elapsedNs / 1e9;
  const r = poissonRate(count, seconds);
  const firsts = Object.keys(outsideErrnos)
    .map((e) => step.firstCloseErrorNs?.[e])
    .filter((ns): ns is number => ns !== undefined);
  return {
    count,
    seconds,
    perSec: r.rate,
    ci95: { low: r.low, high: r.high },
    ...(firsts.length > 0 && { firstAfterNs: Math.min(...firsts) }),
  };
}

/** A step's hits: saved with it, or worked out for a result saved before they were. */
export function hitsFor(step: Pick<StepTally, 'elapsedNs' | 'firstCloseErrorNs'> & { hits?: Hits; posix: { close: { outsideErrnos: Record<string, number> } } }): Hits {
  return step.hits ?? hitsOf(step, step.posix.close.outsideErrnos);
}

/** A rate per second to three digits: 850/s, 31.2/s, 0.0833/s. */
export const fmtPerSec = (r: number): string => (r >= 1000 ? `${fmtInt(r)}/s` : r === 0 ? '0/s' : `${r.toPrecision(3)}/s`);

/** A step length: 30.0s, 250ms. */
const fmtSeconds = (s: number): string => (s >= 1 ? `${s.toPrecision(3)}s` : fmtDuration(s * 1e9));

/** "31.2/s [25.0, 38.5]", or, where none was seen, "0 in 30.0s (<0.100/s)". */
export function hitsCell(h: Hits | undefined): string {
  if (!h || !(h.seconds > 0)) return '-';
  if (h.count === 0) return `0 in ${fmtSeconds(h.seconds)} (<${fmtPerSec(h.ci95.high)})`;
  const n = (r: number): string => (r >= 1000 ? fmtInt(r) : r.toPrecision(3));
  return `${fmtPerSec(h.perSec)} [${n(h.ci95.low)}, ${n(h.ci95.high)}]`;
}

/** Time from the step's start to its first hit: "1.20ms", or "-" when there was none. */
export const firstHitCell = (h: Hits | undefined): string => (h?.firstAfterNs === undefined ? '-' : fmtDuration(h.firstAfterNs));
