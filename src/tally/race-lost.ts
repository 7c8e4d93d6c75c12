import type { CloseExpectation } from '../common/kernel-versions.js';
import { wilson, type Interval } from '../common/stats.js';
import { closeAttempts, type StepTally } from './tally.js';

/**
 * Races lost that close() did not report, from a kernel counter: on FreeBSD
 * 15, soclose() disconnects a connection the RST already closed and
 * tcp_disconnect() calls tcp_close() on it a second time, so tcps_closed
 * counts more than the closes the trials account for (two connections per
 * trial, each stranger's accepted socket, each lane's listener once per
 * before/after read). Machine-wide: other connections closing on the host
 * during the step add to it.
 */
export interface RaceLost {
  available: boolean;
  /** Why there is no figure (unavailable). */
  reason?: string;
  counter?: 'tcps_closed';
  /** The counter's delta over the step. */
  counted?: number;
  /** Closes the step's trials, strangers and listeners account for. */
  expected?: number;
  /** counted - expected: closes beyond those, one per race lost. */
  lost?: number;
  /** Victim closes made: the share's denominator. */
  closes?: number;
  share?: number;
  ci95?: Interval;
  caveat?: string;
}

export const RACE_LOST_CAVEAT = 'machine-wide: connections of other programs closing during the step add to it';

const unavailable = (reason: string): RaceLost => ({ available: false, reason });

export function raceLost(step: StepTally, expect: CloseExpectation | undefined): RaceLost {
  if (!expect) return unavailable('the kernel of the run is not recorded');
  if (!expect.raceCounter) return unavailable(expect.noRaceCounter ?? 'no such counter on this kernel');
  const counter = expect.raceCounter;
  if (!step.kernel) return unavailable('no kernel counters were recorded for this step');
  if (step.kernel.unavailable) return unavailable(`kernel counters unavailable: ${step.kernel.unavailable}`);
  const counted = step.kernel.deltas[counter];
  if (counted === undefined) return unavailable(`${counter} was not among the counters read (${step.kernel.source})`);
  if ((step.probes ?? []).includes('accept')) return unavailable('the accept probe opens a connection per trial whose closes are not counted exactly');
  if (step.setupFailed > 0) return unavailable(`${step.setupFailed} trials' setup failed; their sockets' closes are not counted exactly`);
  const closes = closeAttempts(step);
  const expected = 2 * closes + step.strangers + step.lanes.length * (step.kernel.reads ?? 1);
  const lost = counted - expected;
  if (lost < 0) {
    return unavailable(`${counter} rose by ${counted}, fewer than the ${expected} closes the trials account for: it does not count what this tool assumes on this kernel`);
  }
  if (lost > closes) {
    return unavailable(`${counter} rose by ${lost} more than the trials account for, more than one per victim close: other traffic on the host`);
  }
  return { available: true, counter, counted, expected, lost, closes, share: closes > 0 ? lost / closes : 0, ci95: wilson(lost, closes), caveat: RACE_LOST_CAVEAT };
}
