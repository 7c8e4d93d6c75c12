import { UsageError } from './errors.js';
import { CALLS, PROBES } from './native.js';
import type { RunResult } from './result.js';
import { callsMade } from './tally.js';

/**
 * `git bisect run` reads the exit status: 0 good, 1 bad, 125 "cannot test
 * this commit" (skip). A run that could not measure (setup failed, no victim
 * close made) must say 125, never 0 or 1, or bisect blames the wrong commit.
 */
export const BISECT_EXIT = { good: 0, bad: 1, skip: 125 } as const;

export interface FailOn {
  call: string;
  errno: string;
}

export interface BisectRule {
  /** Outcomes that count: listed errnos, or (empty) every close() error POSIX does not allow. */
  failOn: FailOn[];
  /** The rate (of those outcomes, per step) that must be exceeded; 0 means "seen at all". */
  above: number;
}

/** `ECONNRESET,close:ECONNRESET,shutdown:ECONNRESET`: a bare errno means the victim close(). */
export function parseFailOn(text: string): FailOn[] {
  return text.split(',').map((part) => {
    const [call, errno] = part.includes(':') ? part.split(':', 2) as [string, string] : ['close', part];
    if (!(CALLS as readonly string[]).includes(call)) {
      throw new UsageError(`--fail-on: unknown syscall '${call}' in '${part}' (one of ${CALLS.join(', ')})`);
    }
    if (!/^E[A-Z0-9]+$/.test(errno)) throw new UsageError(`--fail-on takes errno names like ECONNRESET or close:ECONNRESET, not '${part}'`);
    return { call, errno };
  });
}

/**
 * A rule that can never be met would pass every commit as good: an errno this
 * OS does not have, or a probe's outcome when that probe does not run.
 */
export function checkFailOn(failOn: FailOn[], probes: readonly string[], errnoNames: readonly string[]): void {
  for (const f of failOn) {
    if (!errnoNames.includes(f.errno)) throw new UsageError(`--fail-on: ${f.errno} is not an errno name on this OS`);
    if ((PROBES as readonly string[]).includes(f.call) && !probes.includes(f.call)) {
      throw new UsageError(`--fail-on ${f.call}:${f.errno} needs --probe ${f.call}, or that call never runs`);
    }
  }
}

export function parseRate(text: string, flag: string): number {
  const r = Number(text);
  if (text.trim() === '' || !Number.isFinite(r) || r < 0 || r >= 1) throw new UsageError(`${flag} takes a rate in [0, 1) such as 1e-5, not '${text}'`);
  return r;
}

export interface BisectVerdict {
  exitCode: 0 | 1 | 125;
  reason: string;
}

/**
 * Met when any step's rate of the counted outcomes exceeds the threshold: a
 * regression that shows only at 16 cores must not be diluted by the 1-core step.
 */
export function judge(result: RunResult, rule: BisectRule): BisectVerdict {
  if (result.status === 'failed') return { exitCode: BISECT_EXIT.skip, reason: `could not measure: ${result.error ?? 'run failed'}` };
  const measured = result.steps.filter((s) => s.posix.close.attempts > 0);
  if (measured.length === 0) return { exitCode: BISECT_EXIT.skip, reason: 'could not measure: no victim close() was made' };
  const what = rule.failOn.length > 0 ? rule.failOn.map((f) => `${f.call}:${f.errno}`).join(',') : 'close() errors outside POSIX';
  for (const s of measured) {
    // listed errnos are summed per syscall, each over that syscall's own calls
    const counted = new Map<string, string[]>();
    for (const f of rule.failOn) counted.set(f.call, [...(counted.get(f.call) ?? []), f.errno]);
    const rates = rule.failOn.length === 0
      ? [{ call: 'close', events: s.posix.close.outside, attempts: s.posix.close.attempts }]
      : [...counted].map(([call, errnos]) => {
          const o = s.calls[call as keyof typeof s.calls];
          return { call, events: errnos.reduce((a, e) => a + (o?.errors[e] ?? 0), 0), attempts: callsMade(o) };
        });
    for (const r of rates) {
      const rate = r.attempts > 0 ? r.events / r.attempts : 0;
      if (rate > rule.above) {
        return { exitCode: BISECT_EXIT.bad, reason: `bad: ${s.cores} cores: ${what}: ${r.events} in ${r.attempts} ${r.call}() calls (${rate.toExponential(2)} > ${rule.above})` };
      }
    }
  }
  const unmeasured = [...new Set(rule.failOn.map((f) => f.call))].filter((call) =>
    measured.every((s) => callsMade(s.calls[call as keyof typeof s.calls]) === 0));
  if (unmeasured.length > 0) return { exitCode: BISECT_EXIT.skip, reason: `could not measure: no ${unmeasured.join('(), ')}() call was made` };
  return { exitCode: BISECT_EXIT.good, reason: `good: ${what} at or below ${rule.above} in every step` };
}
