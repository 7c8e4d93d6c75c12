import type { RunResult, StepResult } from './result.js';
import { POSIX_ERRORS } from './posix.js';
import { sumCounts } from './tally.js';

const fmtInt = (n: number): string => Math.round(n).toLocaleString('en-US');
const fmtRate = (r: number): string => (r === 0 ? '0' : r >= 0.001 ? `${(r * 100).toPrecision(3)}%` : r.toExponential(1));

/** Compact CPU list: [0,1,2,5] -> "0-2,5". */
export function cpuRanges(cpus: number[]): string {
  const sorted = [...new Set(cpus)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    parts.push(i === j ? `${sorted[i]}` : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(',') || '-';
}

function posixCell(step: StepResult): string {
  const v = step.posix.close;
  if (v.attempts === 0) return 'n/a';
  if (v.outside === 0) return `0 (<${fmtRate(v.upper95WhenZero ?? 1)})`;
  return `${fmtInt(v.outside)} ${fmtRate(v.ci95.rate)} [${fmtRate(v.ci95.low)}, ${fmtRate(v.ci95.high)}]`;
}

function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] ?? '').length)));
  const line = (cells: string[]): string =>
    cells.map((cell, c) => (c === cells.length - 1 ? cell : cell.padStart(widths[c]!))).join('  ').trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

/** The stdout report: a header naming what ran, a row per core count, then the verdict. */
export function renderTable(result: RunResult): string {
  const { options, environment: env, steps } = result;
  const errnos = [...new Set(steps.flatMap((s) => Object.keys(s.calls.close.errors)))].sort();
  const headers = ['cores', 'threads', 'trials', 'trials/s', 'efficiency', 'close OK', ...errnos, 'setup fail', 'outside POSIX [95% CI]', 'CPUs seen'];
  const rows = steps.map((s) => [
    `${s.cores}${s.oversubscribed ? '*' : ''}`,
    String(s.threads),
    fmtInt(s.trials) + (s.interrupted ? '!' : ''),
    fmtInt(s.trialsPerSec),
    s.scaling ? `${Math.round(s.scaling.efficiency * 100)}%` : '-',
    fmtInt(s.calls.close.ok),
    ...errnos.map((e) => fmtInt(s.calls.close.errors[e] ?? 0)),
    fmtInt(s.setupFailed),
    posixCell(s),
    cpuRanges(s.lanes.flatMap((l) => [...l.cpusSeen, ...l.resetCpusSeen])),
  ]);

  const victim = result.race.victim;
  const out: string[] = [
    `close-stress ${env.tool.version} on ${env.os.type} ${env.os.release} (${env.cpu.model})`,
    `race: ${options.race}; RST sent by the ${options.resetSide}, victim close() on the ${victim}; ` +
      `IPv${options.family} loopback; ${fmtInt(options.iterations)} trials per step`,
    `CPUs allowed: ${cpuRanges(env.cpu.allowed)} (${env.cpu.allowed.length}); ` +
      (env.cpu.canPin ? 'one worker pinned per CPU' : 'this OS cannot pin threads: workers float'),
    '',
    table(headers, rows),
    '',
  ];
  if (steps.some((s) => s.oversubscribed)) {
    out.push(`* oversubscribed: more threads than the ${env.cpu.allowed.length} allowed CPUs; those threads share CPUs.`);
  }
  if (steps.some((s) => s.interrupted)) out.push('! step interrupted before all its trials ran.');
  const base = steps.find((s) => s.scaling)?.scaling?.baselineCores;
  if (base !== undefined && steps.length > 1) {
    out.push(`efficiency: trials/s per core relative to the ${base}-core step (100% = linear scaling).`);
  }

  const resetErrors = steps.reduce((a, s) => a + sumCounts(s.calls.resetClose.errors), 0);
  if (resetErrors > 0) {
    const seen = [...new Set(steps.flatMap((s) => Object.keys(s.calls.resetClose.errors)))].join(', ');
    out.push(`resetting close() failed ${fmtInt(resetErrors)} times (${seen}); see the JSON for counts per step.`);
  }
  const setupErrs = [...new Set(steps.flatMap((s) => Object.entries(s.setupFailures).flatMap(([st, r]) => Object.keys(r ?? {}).map((e) => `${st}:${e}`))))];
  if (setupErrs.length > 0) out.push(`setup failures by stage: ${setupErrs.join(', ')}`);
  const strangers = steps.reduce((a, s) => a + s.strangers, 0);
  if (strangers > 0) out.push(`${fmtInt(strangers)} stranger connections reached a listener and were dropped.`);
  const fd = steps.reduce(
    (a, s) => ({ released: a.released + s.victimFd.released, retained: a.retained + s.victimFd.retained, reused: a.reused + s.victimFd.reused }),
    { released: 0, retained: 0, reused: 0 },
  );
  if (fd.released + fd.retained + fd.reused > 0) {
    out.push(
      `after a failed close(): descriptor released ${fmtInt(fd.released + fd.reused)} times` +
        (fd.reused ? ` (${fmtInt(fd.reused)} already reused by another thread)` : '') +
        `, still open ${fmtInt(fd.retained)} times. ` +
        (fd.released + fd.reused > 0 ? 'Retrying close() on this OS can close a stranger\'s descriptor.' : ''),
    );
  }
  out.push(verdictLine(result));
  return out.join('\n') + '\n';
}

export function verdictLine(result: RunResult): string {
  const attempts = result.steps.reduce((a, s) => a + s.posix.close.attempts, 0);
  const outside = result.steps.reduce((a, s) => a + s.posix.close.outside, 0);
  const allowed = POSIX_ERRORS.close['2024'].join(', ');
  if (attempts === 0) return 'verdict: no victim close() was measured.';
  if (outside === 0) {
    return `verdict: close() stayed within POSIX (${allowed}) in all ${fmtInt(attempts)} victim closes.`;
  }
  const names = [...new Set(result.steps.flatMap((s) => Object.keys(s.posix.close.outsideErrnos)))].join(', ');
  return `verdict: close() returned errors POSIX does not allow (${names}) in ${fmtInt(outside)} of ${fmtInt(attempts)} victim closes.`;
}
