import { FEW_REPEATS, fmtDuration, fmtInt, fmtRate, fmtSkew, fmtThroughput } from '../common/format.js';
import type { RunResult, StepResult } from '../result/result.js';
import { POSIX_ERRORS } from '../common/posix.js';
import { rstCounterOf, rstsPerReset } from '../env/kernel.js';
import { closeExpectation } from '../common/kernel-versions.js';
import { firstHitCell, hitsCell, hitsFor } from '../tally/hits.js';
import { callsMade, failedShare, sumCounts, type Outcomes, type SkewStats } from '../tally/tally.js';
import { percentiles, PERCENTILES } from '../tally/latency.js';
import type { Options } from '../options/options.js';
import { describeTopology } from '../env/topology.js';
import { describePath, scopeText } from '../env/netpath.js';
import { netRxShare, type NetRxShare } from '../env/softirq.js';

function stepLength(options: Options): string {
  const each = options.durationMs !== undefined ? `${options.durationMs / 1000}s per step` : `${fmtInt(options.iterations)} trials per step`;
  return (options.repeat ?? 1) > 1 ? `${each}, ${options.repeat} runs each (trials/s: mean ±95% t interval)` : each;
}


/** Victim close() durations per step and outcome; each figure is its bucket's upper bound. */
export function latencyLines(steps: StepResult[]): string[] {
  const rows: string[][] = [];
  for (const s of steps) {
    for (const kind of ['ok', 'error'] as const) {
      const h = s.latency?.close?.[kind];
      const p = h && percentiles(h);
      if (p) rows.push([`${s.cores}${s.placement !== undefined && s.placement !== 'linear' ? ` (${s.placement})` : ''}`, kind === 'ok' ? 'returned 0' : 'failed', fmtInt(p.count), ...PERCENTILES.map((q) => fmtDuration(p[q.key])), fmtDuration(p.max)]);
    }
  }
  if (rows.length === 0) return [];
  return ['', 'victim close() latency (bucket upper bounds):', table(['cores', 'close()', 'count', ...PERCENTILES.map((q) => q.key), 'max'], rows), ''];
}


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

function posixCell(step: StepResult, call = 'close'): string {
  const v = step.posix[call];
  if (!v) return 'n/a (a value)';
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
  // The default placement is named once in the header; any other gets a column.
  const placed = steps.some((s) => s.placement !== undefined && s.placement !== 'linear');
  const headers = ['cores', ...(placed ? ['placement'] : []), 'threads', 'trials', 'trials/s', 'efficiency', 'close OK', ...errnos, 'setup fail', 'outside POSIX [95% CI]', 'hits/s [95% CI]', 'first hit', 'CPUs seen'];
  const rows = steps.map((s) => [
    `${s.cores}${s.oversubscribed ? '*' : ''}`,
    ...(placed ? [s.placement ?? 'linear'] : []),
    String(s.threads),
    fmtInt(s.trials) + (s.interrupted ? '!' : ''),
    fmtThroughput(s.trialsPerSec, s.throughput),
    s.scaling ? `${Math.round(s.scaling.efficiency * 100)}%` : '-',
    fmtInt(s.calls.close.ok),
    ...errnos.map((e) => fmtInt(s.calls.close.errors[e] ?? 0)),
    fmtInt(s.setupFailed),
    posixCell(s),
    hitsCell(hitsFor(s)),
    firstHitCell(hitsFor(s)),
    cpuRanges(s.lanes.flatMap((l) => [...l.cpusSeen, ...l.resetCpusSeen])),
  ]);

  const victim = result.race.victim;
  const out: string[] = [
    `${env.tool.name} ${env.tool.version} on ${env.os.type} ${env.os.release} (${env.cpu.model})`,
    `race: ${options.race}; RST sent by the ${options.resetSide}, victim close() on the ${victim}; ` +
      `${describePath(options.path, options.family, env.netPath, env.remote)}; ${stepLength(options)}`,
    ...(options.netns ? ['network: a private namespace (--netns) with RPS on its lo: loopback input, the RST included, is processed from another CPU\'s backlog (a Linux stand-in for FreeBSD\'s netisr)'] : []),
    `CPUs allowed: ${cpuRanges(env.cpu.allowed)} (${env.cpu.allowed.length}); ` +
      (!env.cpu.canPin ? 'this OS cannot pin threads: lanes float'
        : (options.lanesPerCore ?? 1) > 1 ? `${options.lanesPerCore} lanes pinned to each CPU of a step (--lanes-per-core); a step of N cores runs ${options.lanesPerCore}N lanes`
        : 'one lane pinned per CPU') +
      (env.cpu.canPin && !placed ? '; placement linear (lane i on the i-th allowed CPU)' : ''),
    ...(env.topology ? [`topology: ${describeTopology(env.topology)}`] : []),
    expectationLine(result),
    '',
    table(headers, rows),
    '',
  ];
  if (steps.some((s) => s.oversubscribed)) {
    out.push(`* oversubscribed: more threads than the ${env.cpu.allowed.length} allowed CPUs; those threads share CPUs.`);
  }
  if (steps.some((s) => s.interrupted)) out.push('! step interrupted before all its trials ran.');
  const repeatsOf = (s: StepResult): number => s.throughput?.n ?? FEW_REPEATS;
  const listed = (ss: StepResult[]): string => ss.map((s) => `${s.cores} cores`).join(', ');
  const single = steps.filter((s) => repeatsOf(s) === 1);
  const two = steps.filter((s) => repeatsOf(s) > 1 && repeatsOf(s) < FEW_REPEATS);
  if (single.length > 0) out.push(`trials/s of ${listed(single)}: one repeat ran, so no interval can be computed.`);
  if (two.length > 0) out.push(`trials/s of ${listed(two)}: fewer than ${FEW_REPEATS} repeats, so the 95% interval is wide (clamped at 0).`);
  for (const s of result.skipped ?? []) out.push(`${s.cores}-core step skipped: ${s.reason}.`);
  if (steps.length > 0) out.push('hits/s: victim close() errors outside POSIX per second of step time (Garwood 95% interval; with none, the one-sided bound); first hit: time from the step\'s start to the first.');
  const base = steps.find((s) => s.scaling)?.scaling?.baselineCores;
  if (base !== undefined && steps.length > 1) {
    out.push(`efficiency: trials/s per core relative to the ${base}-core step (100% = linear scaling; oversubscribed steps count only the allowed CPUs).`);
  }

  const resetErrors = steps.reduce((a, s) => a + sumCounts(s.calls.resetClose.errors), 0);
  if (resetErrors > 0) {
    const seen = [...new Set(steps.flatMap((s) => Object.keys(s.calls.resetClose.errors)))].join(', ');
    out.push(`resetting close() failed ${fmtInt(resetErrors)} times (${seen}); see the JSON for counts per step.`);
  }
  const otherErrors = steps.reduce((a, s) => a + sumCounts(s.calls.otherClose?.errors ?? {}), 0);
  if (otherErrors > 0) {
    const seen = [...new Set(steps.flatMap((s) => Object.keys(s.calls.otherClose?.errors ?? {})))].join(', ');
    out.push(`other close() calls (strangers, setup cleanup, the listener) failed ${fmtInt(otherErrors)} times (${seen}); see calls.otherClose in the JSON.`);
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
  const loaded = steps.filter((s) => s.load);
  if (loaded.length > 0) {
    out.push(`machine load (1-minute average, before -> after each step): ${loaded.map((s) => `${stepName(s)} ${s.load!.before[0]!.toFixed(2)} -> ${s.load!.after[0]!.toFixed(2)}`).join(', ')}`);
  }
  const preload = Object.entries(env.preload ?? {});
  if (preload.length > 0) {
    out.push(`note: ${preload.map(([k, v]) => `${k}=${v}`).join(' ')} was set: code loaded this way can change what the syscalls return.`);
  }
  out.push(...kernelSection(result), ...raceLostLines(result), ...netRxSection(result), ...probeSection(result), ...skewSection(result));
  out.push(...latencyLines(steps));
  out.push(verdictLine(result));
  return `${out.join('\n').replace(/\n{3,}/g, '\n\n')}\n`;
}


/** "4 cores", or "4 cores (spread)" when the step was placed other than linearly. */
export function stepName(s: StepResult): string {
  return `${s.cores} cores${s.placement !== undefined && s.placement !== 'linear' ? ` (${s.placement})` : ''}`;
}

/** The kernel's word on the injection: RSTs sent per resetting close, per step. */
function kernelSection(result: RunResult): string[] {
  const unavailable = result.steps.find((s) => s.kernel?.unavailable)?.kernel?.unavailable;
  const gone = unavailable === undefined ? [] : [`kernel counters unavailable: ${unavailable}`];
  const steps = result.steps.filter((s) => rstCounterOf(s.kernel));
  const first = steps[0]?.kernel;
  const counter = rstCounterOf(first);
  if (!first || !counter) return gone;
  const per = steps.map((s) => ({ s, r: rstsPerReset(s.kernel, s.calls.resetClose.ok) }));
  const out = [
    ...gone,
    `kernel (${first.source}, ${scopeText(first.scope)}): ${counter.name} per resetting close: ` +
      per.map(({ s, r }) => `${stepName(s)} ${r === undefined ? '-' : r.toFixed(2)}`).join(', '),
  ];
  if (counter.name !== 'OutRsts' && counter.meaning) out.push(`  (${counter.name}: ${counter.meaning})`);
  for (const { s, r } of per) {
    if (r !== undefined && r < 1) {
      out.push(`warning: ${s.cores}-core step: the kernel counted fewer RSTs than resetting closes (${r.toFixed(2)} per close): the RST injection did not happen and this step is not evidence.`);
    }
  }
  return out;
}

const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;

/** Where the kernel did each step's receive work (the RSTs' among it): the race's precondition. */
function netRxSection(result: RunResult): string[] {
  const steps = result.steps.filter((s) => s.netRx);
  const first = steps[0]?.netRx;
  if (!first) return [];
  const processed = steps.some((s) => s.netRx?.processedPerCpu);
  const out = [
    `receive work per step, machine-wide (other traffic adds to it): ${first.unit} (${first.source})` +
      (processed ? ' and packets processed (/proc/net/softnet_stat)' : '') + ':',
  ];
  const split = (share: NetRxShare | undefined, cross: boolean): string =>
    share
      ? `${pct(share.victims)} on the victims' CPUs${cross ? `, ${pct(share.resetters)} on the resetters' other CPUs` : ''}, ${pct(share.elsewhere)} elsewhere, of ${fmtInt(share.total)}`
      : 'none counted';
  for (const s of steps) {
    const cross = s.lanes.some((l) => l.resetCpu >= 0);
    const victims = cpuRanges(s.lanes.map((l) => l.cpu).filter((c) => c >= 0));
    out.push(
      `  ${stepName(s)} (victims on ${victims}): ${processed ? 'NET_RX runs ' : ''}${split(netRxShare(s), cross)}` +
        (processed ? `; packets ${split(netRxShare(s, 'processedPerCpu'), cross)}` : ''),
    );
  }
  for (const n of first.notes ?? []) out.push(`  (${n})`);
  return out;
}

/** One row per step and probe: each syscall's own outcomes and POSIX verdict. */
function probeSection(result: RunResult): string[] {
  const probes: string[] = [...(result.options.probes ?? [])];
  if (probes.length === 0) return [];
  // The accept probe closes what it accepted: its own row, with close()'s POSIX list.
  if (probes.includes('accept')) probes.push('acceptClose');
  const steps = result.steps;
  const errnos = [...new Set(steps.flatMap((s) => probes.flatMap((p) => Object.keys((s.calls as Record<string, Outcomes | undefined>)[p]?.errors ?? {}))))].sort();
  const rows = steps.flatMap((s) =>
    probes.map((p) => {
      const o = (s.calls as Record<string, Outcomes | undefined>)[p] ?? { ok: 0, errors: {} };
      return [
        `${s.cores}${s.oversubscribed ? '*' : ''}`, p, fmtInt(callsMade(o)), fmtInt(o.ok),
        ...errnos.map((e) => fmtInt(o.errors[e] ?? 0)), posixCell(s, p),
      ];
    }),
  );
  const lines = ['', 'probes, on the victim after the RST and before its close (sockerror: the pending error SO_ERROR reports):',
    table(['cores', 'call', 'calls', 'OK', ...errnos, 'outside POSIX [95% CI]'], rows)];
  const asked = result.options.probes ?? [];
  if (asked.length > 1) {
    const split = asked.map((p) => `${p} ${fmtInt(steps.reduce((a, s) => a + callsMade((s.calls as Record<string, Outcomes | undefined>)[p]), 0))}`).join(', ');
    lines.push(`probes take turns, one per trial, so each sees the socket as the RST left it: ${split} trials.`);
  }
  lines.push('close() rates from a run with probes are not comparable with a run without: the probes run between the RST and the close and change what the close sees.');
  const probeSetup = steps.reduce((a, s) => a + sumCounts(s.probeSetupFailures ?? {}), 0);
  if (probeSetup > 0) lines.push(`the accept probe could not set up its connection ${fmtInt(probeSetup)} times (see the JSON).`);
  return [...lines, ''];
}

/** An achieved-skew quantile; one in the histogram's overflow bucket is a bound, and says so. */
function achievedText(stats: SkewStats, ns: number): string {
  return stats.beyond && Math.abs(ns) >= stats.beyond.beyondNs ? `${ns < 0 ? '<=' : '>='}${fmtSkew(ns)}` : fmtSkew(ns);
}

/** The shape of the race window: outcome rates per achieved skew. */
function skewSection(result: RunResult): string[] {
  const out: string[] = [];
  for (const s of result.steps) {
    if (!s.skew) {
      if (s.achievedSkew) {
        const a = s.achievedSkew;
        out.push(`${s.cores} cores: victim started ${achievedText(a, a.medianNs)} after the resetting close (median; 10-90%: ${achievedText(a, a.p10Ns)} to ${achievedText(a, a.p90Ns)}).`);
      }
      continue;
    }
    const calls = [...new Set([...(result.options.probes ?? []).filter((p) => p !== 'accept'), 'close'])];
    const rows = s.skew.points.map((p) => [
      `${fmtSkew(p.askedNs)}${p.search ? '' : s.skew?.mode === 'auto' ? ' <' : ''}`,
      achievedText(p.achieved, p.achievedMedianNs),
      `${achievedText(p.achieved, p.achieved.p10Ns)}..${achievedText(p.achieved, p.achieved.p90Ns)}`,
      fmtInt(p.trials),
      ...calls.map((c) => {
        const share = failedShare(p.calls[c]);
        return share === undefined ? '-' : fmtRate(share);
      }),
    ]);
    out.push('', `${s.cores}-core step, skew ${s.skew.mode}${s.skew.chosenNs !== undefined ? ` (window found at ${fmtSkew(s.skew.chosenNs)}, marked <)` : ''}: share of calls that failed, per skew (> 0: victim delayed)`);
    if (s.skew.objective) out.push(`chosen by ${s.skew.objective}`);
    out.push(table(['asked', 'achieved', '10-90%', 'trials', ...calls.map((c) => `${c} failed`)], rows));
  }
  return out.length > 0 ? [...out, ''] : [];
}

/** The kernel that ran and what close() returns there when the race is lost (src/common/kernel-versions.ts). */
export function expectationLine(result: RunResult): string {
  const e = closeExpectation(result.environment.os);
  return `kernel: ${e.kernel}; close() when the RST wins the race: ${e.closeReturns}`;
}

/** Races lost that close() did not report, per step, kept apart from the POSIX verdict. */
export function raceLostLines(result: RunResult): string[] {
  const steps = result.steps.filter((s) => s.raceLost);
  const counted = steps.filter((s) => s.raceLost?.available);
  const first = counted[0]?.raceLost;
  if (!first) {
    const why = steps[0]?.raceLost?.reason;
    return why ? [`race lost (kernel counter): unavailable: ${why}`] : [];
  }
  const lines = [
    `race lost (kernel counter: ${first.counter} beyond the closes the trials account for; ${first.caveat}): ` +
      steps.map((s) => {
        const r = s.raceLost!;
        if (!r.available) return `${s.cores} cores unavailable`;
        return `${s.cores} cores ${fmtInt(r.lost ?? 0)} of ${fmtInt(r.closes ?? 0)} (${fmtRate(r.share ?? 0)} [${fmtRate(r.ci95?.low ?? 0)}, ${fmtRate(r.ci95?.high ?? 0)}])`;
      }).join(', '),
  ];
  for (const s of steps) if (!s.raceLost?.available) lines.push(`  ${s.cores} cores: race lost (kernel counter) unavailable: ${s.raceLost?.reason}`);
  return lines;
}

export function verdictLine(result: RunResult): string {
  const unverified = result.steps.filter((s) => s.closeVerdict?.verdict === 'unverified');
  if (unverified.length === 0) return plainVerdict(result);
  const why = unverified.map((s) => `${s.cores}-core step: ${s.closeVerdict?.reason}`).join('; ');
  const outside = result.steps.reduce((a, s) => a + s.posix.close.outside, 0);
  if (outside > 0) return `${plainVerdict(result)} Unverified: ${why}.`;
  const verified = result.steps.filter((s) => s.closeVerdict?.verdict === 'within POSIX');
  if (verified.length === 0) {
    return `verdict: unverified: ${why}; so its victim closes show nothing either way.`;
  }
  const attempts = verified.reduce((a, s) => a + s.posix.close.attempts, 0);
  return `verdict: close() stayed within POSIX in all ${fmtInt(attempts)} victim closes of the ${verified.map((s) => s.cores).join(', ')}-core steps; unverified: ${why}.`;
}

function plainVerdict(result: RunResult): string {
  const attempts = result.steps.reduce((a, s) => a + s.posix.close.attempts, 0);
  const outside = result.steps.reduce((a, s) => a + s.posix.close.outside, 0);
  const allowed = POSIX_ERRORS.close['2024'].join(', ');
  if (attempts === 0) return 'verdict: no victim close() was measured.';
  if (outside === 0) {
    const e = closeExpectation(result.environment.os);
    // Where the kernel's version does not settle it (14.x, early 15-CURRENT), say "may", not "does".
    const silent = !e.raceCounter
      ? ''
      : e.closeReturns.startsWith('0')
        ? ` On ${e.kernel} close() returns 0 even when the race is lost: see "race lost (kernel counter)" above.`
        : ` On ${e.kernel} close() may return 0 even when the race is lost (${e.closeReturns}): see "race lost (kernel counter)" above.`;
    return `verdict: close() stayed within POSIX (${allowed}) in all ${fmtInt(attempts)} victim closes.${silent}`;
  }
  const names = [...new Set(result.steps.flatMap((s) => Object.keys(s.posix.close.outsideErrnos)))].join(', ');
  return `verdict: close() returned errors POSIX does not allow (${names}) in ${fmtInt(outside)} of ${fmtInt(attempts)} victim closes.`;
}
