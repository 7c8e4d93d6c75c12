import { rstsPerReset } from '../env/kernel.js';
import { UsageError } from '../common/errors.js';
import { CALLS, PROBES } from '../core/native.js';
import type { RunResult } from '../result/result.js';
import { fmtInt } from '../common/format.js';
import { wilson, zeroEventUpperBound } from '../common/stats.js';
import { callsMade } from '../tally/tally.js';

/**
 * `git bisect run` reads the exit status: 0 good, 1 bad, 125 "cannot test
 * this commit" (skip), and anything above 127 aborts the bisection. A run
 * that could not measure (setup failed, no victim close made) must say 125,
 * never 0 or 1, or bisect blames the wrong commit; an error that says nothing
 * about the kernel (a typo in a flag, an output file refused, the tool not
 * built) would fail the same way at every commit, so it aborts instead of
 * turning into a verdict.
 */
export const BISECT_EXIT = { good: 0, bad: 1, skip: 125, abort: 128 } as const;

const BISECT_FLAGS = ['--fail-on', '--fail-above'];

/**
 * Whether the command line asks for a bisect verdict, read from argv itself:
 * a usage error must abort the bisection even when the flags around it could
 * not be parsed. (bin/close-stress.js repeats this test for the one case
 * this file cannot be loaded: the tool not built.)
 */
export function bisectRequested(argv: readonly string[]): boolean {
  return argv.slice(2).some((a) => BISECT_FLAGS.some((f) => a === f || a.startsWith(`${f}=`)));
}

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
  // listed errnos are summed per syscall, each over that syscall's own calls
  const counted = new Map<string, string[]>();
  for (const f of rule.failOn) counted.set(f.call, [...(counted.get(f.call) ?? []), f.errno]);
  const rates = measured.flatMap((s) => (rule.failOn.length === 0
    ? [{ call: 'close', events: s.posix.close.outside, attempts: s.posix.close.attempts }]
    : [...counted].map(([call, errnos]) => {
        const o = s.calls[call as keyof typeof s.calls];
        return { call, events: errnos.reduce((a, e) => a + (o?.errors[e] ?? 0), 0), attempts: callsMade(o) };
      })).map((r) => ({ ...r, cores: s.cores, rate: r.attempts > 0 ? r.events / r.attempts : 0 })));
  const bad = rates.find((r) => r.rate > rule.above);
  if (bad) {
    return { exitCode: BISECT_EXIT.bad, reason: `bad: ${bad.cores} cores: ${what}: ${bad.events} in ${bad.attempts} ${bad.call}() calls (${bad.rate.toExponential(2)} > ${rule.above})` };
  }
  const unmeasured = [...new Set(rule.failOn.map((f) => f.call))].filter((call) =>
    measured.every((s) => callsMade(s.calls[call as keyof typeof s.calls]) === 0));
  if (unmeasured.length > 0) return { exitCode: BISECT_EXIT.skip, reason: `could not measure: no ${unmeasured.join('(), ')}() call was made` };
  // A kernel that counted no RST for the resets says the race was never set up on this commit:
  // "good" would clear it without a test. Counters that cannot be read prove nothing either way,
  // and would skip every commit on such a host: those stay good, and say so.
  const noRst = measured.find((s) => {
    const r = s.kernel && !s.kernel.unavailable ? rstsPerReset(s.kernel, s.calls.resetClose.ok) : undefined;
    return r !== undefined && r < 1;
  });
  if (noRst) return { exitCode: BISECT_EXIT.skip, reason: `could not measure: ${cores(noRst.cores)}: ${noRst.closeVerdict?.reason ?? 'the RST injection did not happen'}` };
  const unproven = measured.find((s) => s.closeVerdict?.verdict === 'unverified');
  const caveat = unproven ? ` (RSTs not proven: ${unproven.closeVerdict?.reason})` : '';
  return { exitCode: BISECT_EXIT.good, reason: `good: ${what}: ${[...new Set(rates.map((r) => r.call))].map((call) => rulesOut(rates.filter((r) => r.call === call), rule.above)).join('; ')}${caveat}` };
}

/**
 * What a good verdict rules out, per syscall: with nothing seen, the exact
 * one-sided bound on the rate over all its calls, and the weakest step's own
 * bound (each step is judged alone); else the highest step rate and its
 * Wilson upper limit against the threshold.
 */
function rulesOut(rates: { call: string; cores: number; events: number; attempts: number; rate: number }[], above: number): string {
  const events = rates.reduce((a, r) => a + r.events, 0);
  const attempts = rates.reduce((a, r) => a + r.attempts, 0);
  const call = `${rates[0]!.call}() calls`;
  const weakest = rates.filter((r) => r.attempts > 0).sort((a, b) => a.attempts - b.attempts)[0]!;
  if (events === 0) {
    const perStep = rates.length > 1
      ? `; each step below ${fmtBound(zeroEventUpperBound(weakest.attempts))} (fewest: ${fmtInt(weakest.attempts)} at ${cores(weakest.cores)})`
      : '';
    return `0 in ${fmtInt(attempts)} ${call}: rate below ${fmtBound(zeroEventUpperBound(attempts))} at 95%${perStep}`;
  }
  const top = [...rates].sort((a, b) => b.rate - a.rate)[0]!;
  return `${fmtInt(events)} in ${fmtInt(attempts)} ${call}; highest step ${cores(top.cores)}: ${top.rate.toExponential(2)} (95% up to ${fmtBound(wilson(top.events, top.attempts).high)}), at or below ${above}`;
}

const cores = (n: number): string => `${n} ${n === 1 ? 'core' : 'cores'}`;
const fmtBound = (r: number): string => r.toExponential(1);
