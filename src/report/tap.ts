import { createRequire } from 'node:module';

// Loaded on first use, as stats.ts loads jstat: only --tap needs YAML, and
// loading it costs every other start-up about 50 ms of CPU.
let yaml: typeof import('yaml') | undefined;
const stringify = (data: unknown): string => (yaml ??= createRequire(import.meta.url)('yaml') as typeof import('yaml')).stringify(data);
import { judge, type BisectRule } from './bisect.js';
import type { RunResult, StepResult, Verdict } from '../result/result.js';
import { placementLabel } from '../env/placement.js';

/**
 * Kernel CI runs tests through its own harnesses: kselftest and KernelCI read
 * KTAP, FreeBSD's kyua runs TAP test programs. One test point per planned step.
 *
 * "TAP version 13": what kselftest prints (ksft_print_header), what KTAP
 * parsers accept, and the newest version prove (Test::Harness 3.44) knows;
 * TAP 14 consumers read 13.
 */
export const TAP_EXIT = { pass: 0, fail: 1, skip: 4 } as const; // KSFT_PASS, KSFT_FAIL, KSFT_SKIP

export type TapExit = (typeof TAP_EXIT)[keyof typeof TAP_EXIT];

export interface TapPoint {
  cores: number;
  /** The step's --placement (and --resetter) label; 'linear' by default. */
  placement: string;
  outcome: 'ok' | 'not ok' | 'skip';
  reason: string;
  step?: StepResult;
}

/** `not ok` by default when any syscall's POSIX verdict has outcomes outside its list. */
function posixPoint(step: StepResult): Pick<TapPoint, 'outcome' | 'reason'> {
  const outside = Object.entries(step.posix).filter((e): e is [string, Verdict] => (e[1]?.outside ?? 0) > 0);
  if (outside.length === 0) {
    // The table's verdict line says such a step shows nothing either way; an `ok` here would contradict it.
    if (step.closeVerdict?.verdict === 'unverified') return { outcome: 'skip', reason: `unverified: ${step.closeVerdict.reason ?? 'the RSTs are not proven'}` };
    const attempts = step.posix.close.attempts;
    return { outcome: 'ok', reason: `close() within POSIX in ${attempts} victim closes` };
  }
  const what = outside.map(([call, v]) =>
    `${call}() ${Object.entries(v.outsideErrnos).map(([e, n]) => `${e} ${n}`).join(', ')} in ${v.attempts}`);
  return { outcome: 'not ok', reason: `outside POSIX: ${what.join('; ')}` };
}

function measuredPoint(result: RunResult, step: StepResult, rule: BisectRule | undefined): Pick<TapPoint, 'outcome' | 'reason'> {
  if (step.posix.close.attempts === 0) return { outcome: 'skip', reason: 'could not measure: no victim close() was made' };
  if (!rule) return posixPoint(step);
  // The --fail-on rule is bisect's, judged on this one step.
  const v = judge({ ...result, status: 'completed', steps: [step] }, rule);
  const reason = v.reason.replace(/^(good|bad): (\d+ cores: )?/, '').replace(/ in every step$/, '');
  return { outcome: v.exitCode === 0 ? 'ok' : v.exitCode === 1 ? 'not ok' : 'skip', reason };
}

/** Every planned step, in order: measured, skipped before it ran, or never reached. */
export function tapPoints(result: RunResult, rule?: BisectRule): TapPoint[] {
  const notRun = result.status === 'interrupted' ? 'interrupted before this step' : `not run: ${result.error ?? 'the run stopped'}`;
  const cross = result.options.race === 'cross-thread';
  // A sweep over placements plans every core count once per placement, as plan.ts does.
  const labels = (result.options.placements ?? ['linear']).flatMap((p) =>
    (cross ? (result.options.resetters ?? ['next']) : [undefined]).map((r) => placementLabel(p, r)));
  return labels.flatMap((placement) => result.options.cores.map((cores): TapPoint => {
    const step = result.steps.find((s) => s.cores === cores && (s.placement ?? 'linear') === placement);
    if (step) return { cores, placement, step, ...measuredPoint(result, step, rule) };
    const skipped = result.skipped?.find((s) => s.cores === cores);
    return { cores, placement, outcome: 'skip', reason: skipped?.reason ?? notRun };
  }));
}

/** The figures a CI log shows under a test point, named as in the JSON result. */
function figures(step: StepResult, reason: string, path: string | undefined): Record<string, unknown> {
  const verdicts = Object.fromEntries(
    Object.entries(step.posix)
      .filter((e): e is [string, Verdict] => e[1] !== undefined && (e[0] === 'close' || step.probes.includes(e[0])))
      .map(([call, v]) => [call, {
        attempts: v.attempts,
        ok: step.calls[call as keyof typeof step.calls]?.ok ?? 0,
        errors: step.calls[call as keyof typeof step.calls]?.errors ?? {},
        outsidePosix: v.outside,
        ci95: { low: v.ci95.low, high: v.ci95.high },
        ...(v.upper95WhenZero !== undefined && { upper95WhenZero: v.upper95WhenZero }),
      }]),
  );
  return {
    verdict: reason,
    cores: step.cores,
    ...(step.placement !== undefined && step.placement !== 'linear' && { placement: step.placement }),
    path: path ?? 'loopback',
    threads: step.threads,
    oversubscribed: step.oversubscribed,
    trials: step.trials,
    trialsPerSec: Math.round(step.trialsPerSec),
    ...(step.scaling && { efficiency: Number(step.scaling.efficiency.toFixed(3)) }),
    setupFailed: step.setupFailed,
    ...(step.setupFailed > 0 && { setupFailures: step.setupFailures }),
    victimFd: step.victimFd,
    ...(step.interrupted && { interrupted: true }),
    calls: verdicts,
  };
}

const coresText = (n: number, placement = 'linear'): string =>
  `${n} core${n === 1 ? '' : 's'}${placement === 'linear' ? '' : ` (${placement})`}`;

// '#' starts a directive in a TAP description; a newline would end the line.
const clean = (text: string): string => text.replace(/[#\n]/g, ' ');

function yamlBlock(data: Record<string, unknown>): string[] {
  const body = stringify(data).trimEnd().split('\n');
  return ['  ---', ...body.map((l) => `  ${l}`), '  ...'];
}

/** The run as a TAP document, and the exit status kselftest gives it. */
export function renderTap(result: RunResult, rule?: BisectRule): { text: string; exitCode: TapExit } {
  const points = tapPoints(result, rule);
  const lines = ['TAP version 13'];
  const failed = points.filter((p) => p.outcome === 'not ok').length;
  const skipped = points.filter((p) => p.outcome === 'skip').length;
  const passed = points.length - failed - skipped;
  if (skipped === points.length) {
    // kyua and kselftest read "1..0 # SKIP" as a program that skipped as a whole.
    const first = points[0]?.reason ?? 'no step planned';
    lines.push(`1..0 # SKIP ${clean(first)}`);
    for (const p of points) lines.push(`# ${coresText(p.cores, p.placement)}: ${clean(p.reason)}`);
  } else {
    lines.push(`1..${points.length}`);
    points.forEach((p, i) => {
      const head = `${p.outcome === 'not ok' ? 'not ok' : 'ok'} ${i + 1} - ${coresText(p.cores, p.placement)}`;
      lines.push(p.outcome === 'skip' ? `${head} # SKIP ${clean(p.reason)}` : `${head}: ${clean(p.reason)}`);
      if (p.step) lines.push(...yamlBlock(figures(p.step, p.reason, result.options.path)));
    });
  }
  lines.push(`# Totals: pass:${passed} fail:${failed} xfail:0 xpass:0 skip:${skipped} error:0`);
  const exitCode = failed > 0 ? TAP_EXIT.fail : passed === 0 ? TAP_EXIT.skip : TAP_EXIT.pass;
  return { text: `${lines.join('\n')}\n`, exitCode };
}
