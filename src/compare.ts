import { fmtDuration, fmtRate } from './format.js';
import { firstHitCell, hitsCell, hitsFor, type Hits } from './hits.js';
import { UsageError } from './errors.js';
import { percentiles, type LatencySummary, PERCENTILES } from './latency.js';
import { hasPosixList, outsidePosix } from './posix.js';
import type { RunResult, StepResult } from './result.js';
import { fisherExact, wilson, zeroEventUpperBound } from './stats.js';
import { callsMade, sumCounts, type Outcomes } from './tally.js';

export const COMPARE_SCHEMA = 'close-stress/compare';
export const ALPHA = 0.05;

export interface RateSide {
  events: number;
  attempts: number;
  rate: number;
  low: number;
  high: number;
  /** When nothing was seen: one-sided exact 95% upper bound ("0 in 1e6: below 3.0e-6"). */
  upper95WhenZero?: number;
}

export interface RateRow {
  call: string;
  /** An errno name, or "outside POSIX" (every error the call's POSIX page does not allow). */
  outcome: string;
  base: RateSide;
  new: RateSide;
  /** new rate - base rate. */
  difference: number;
  /** Fisher's exact test, two-sided. */
  pValue: number;
  /** p below ALPHA / rows of this core count (Bonferroni): many rows, one verdict. */
  significant: boolean;
}

export interface LatencyChange {
  base: LatencySummary;
  new: LatencySummary;
}

export interface CoreComparison {
  cores: number;
  rows: RateRow[];
  throughput: {
    base: number;
    new: number;
    /** (new - base) / base. */
    change: number;
    baseCi?: { low: number; high: number; n: number };
    newCi?: { low: number; high: number; n: number };
    /** Only with --repeat on both sides: do the 95% intervals not overlap? */
    significant?: boolean;
  };
  latency: { close: { ok?: LatencyChange; error?: LatencyChange } };
  /** Victim close() errors outside POSIX per second, each side with its Garwood interval. */
  hits?: { base: Hits; new: Hits };
  verdict: string;
}

export interface Comparison {
  schema: typeof COMPARE_SCHEMA;
  schemaVersion: 1;
  alpha: number;
  base: RunSummary;
  new: RunSummary;
  cores: CoreComparison[];
  /** Core counts only one run has: not compared. */
  onlyIn: { base: number[]; new: number[] };
}

interface RunSummary {
  label: string;
  status: RunResult['status'];
  startedAt: string;
  os: string;
  iterations: number;
}

/**
 * What must match for two rates to mean the same thing. Iterations, repeats
 * and duration may differ (rates are per call); the race itself may not.
 */
const MUST_MATCH: Array<{ flag: string; get: (r: RunResult) => unknown }> = [
  { flag: '--race', get: (r) => r.options.race },
  { flag: '--reset-side', get: (r) => r.options.resetSide },
  { flag: '--family', get: (r) => r.options.family },
  { flag: '--probe', get: (r) => (r.options.probes ?? []).join(',') || 'none' },
  { flag: '--lanes-per-core', get: (r) => r.options.lanesPerCore ?? 1 },
  { flag: '--skew', get: (r) => JSON.stringify(r.options.skew ?? { kind: 'none' }) },
];

/** Throws a one-line UsageError naming the first option that makes the runs incomparable. */
export function checkComparable(base: RunResult, next: RunResult): void {
  for (const { flag, get } of MUST_MATCH) {
    const a = get(base);
    const b = get(next);
    const why = flag === '--probe'
      ? 'close() rates with and without probes (or with other probes) are not comparable: the probes change what the close sees'
      : 'their rates measure different races';
    if (a !== b) throw new UsageError(`compare: the runs differ in ${flag} (${String(a)} vs ${String(b)}): ${why}`);
  }
  const common = base.steps.filter((s) => next.steps.some((t) => t.cores === s.cores));
  if (common.length === 0) throw new UsageError('compare: the runs have no core count in common');
}

function side(events: number, attempts: number): RateSide {
  const ci = wilson(events, attempts);
  return { events, attempts, rate: ci.rate, low: ci.low, high: ci.high, ...(events === 0 && { upper95WhenZero: zeroEventUpperBound(attempts) }) };
}

function rateRow(call: string, outcome: string, a: [number, number], b: [number, number]): RateRow {
  const base = side(a[0], a[1]);
  const next = side(b[0], b[1]);
  return {
    call, outcome, base, new: next,
    difference: next.rate - base.rate,
    pValue: fisherExact(a[0], a[1] - a[0], b[0], b[1] - b[0]),
    significant: false,
  };
}

const attemptsOf = callsMade;

function rows(a: StepResult, b: StepResult): RateRow[] {
  const out: RateRow[] = [];
  const calls = Object.keys(a.calls).filter((c) => c in b.calls);
  for (const call of calls) {
    const oa = a.calls[call as keyof typeof a.calls];
    const ob = b.calls[call as keyof typeof b.calls];
    const na = attemptsOf(oa);
    const nb = attemptsOf(ob);
    if (na === 0 || nb === 0) continue;
    if (hasPosixList(call)) {
      const ea = sumCounts(outsidePosix(call, oa.errors));
      const eb = sumCounts(outsidePosix(call, ob.errors));
      if (call === 'close' || ea + eb > 0) out.push(rateRow(call, 'outside POSIX', [ea, na], [eb, nb]));
    }
    const errnos = [...new Set([...Object.keys(oa.errors), ...Object.keys(ob.errors)])].sort();
    for (const e of errnos) out.push(rateRow(call, e, [oa.errors[e] ?? 0, na], [ob.errors[e] ?? 0, nb]));
  }
  for (const r of out) r.significant = r.pValue < ALPHA / out.length;
  return out;
}

function latency(a: StepResult, b: StepResult): CoreComparison['latency'] {
  const out: CoreComparison['latency'] = { close: {} };
  for (const k of ['ok', 'error'] as const) {
    const ha = a.latency?.close?.[k];
    const hb = b.latency?.close?.[k];
    const pa = ha && percentiles(ha);
    const pb = hb && percentiles(hb);
    if (pa && pb) out.close[k] = { base: pa, new: pb };
  }
  return out;
}

const fmtCount = (n: number): string => (n >= 1e5 && Number.isInteger(Math.log10(n)) ? `1e${Math.log10(n)}` : n.toLocaleString('en-US'));
const fmtP = (p: number): string => (p < 1e-4 ? p.toExponential(1) : p.toPrecision(2));
const pct = (x: number): string => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)}%`;

/** "12 in 1e6: 1.2e-5 [6.9e-6, 2.1e-5]" or "0 in 1e6: below 3.0e-6 at 95%". */
export function describeSide(s: RateSide): string {
  if (s.events === 0) return `0 in ${fmtCount(s.attempts)}: below ${(s.upper95WhenZero ?? 1).toExponential(1)} at 95%`;
  return `${s.events.toLocaleString('en-US')} in ${fmtCount(s.attempts)}: ${fmtRate(s.rate)} [${fmtRate(s.low)}, ${fmtRate(s.high)}]`;
}

function verdict(c: Omit<CoreComparison, 'verdict'>): string {
  const parts: string[] = [];
  const main = c.rows.find((r) => r.call === 'close' && r.outcome === 'outside POSIX');
  if (main) {
    const from = fmtRate(main.base.rate);
    const to = main.new.events === 0 ? `0 (below ${(main.new.upper95WhenZero ?? 1).toExponential(1)} at 95%)` : fmtRate(main.new.rate);
    if (!main.significant) parts.push(`no significant change in close() outside POSIX (${from} -> ${fmtRate(main.new.rate)}, p=${fmtP(main.pValue)})`);
    else if (main.difference < 0) parts.push(`BETTER: close() outside POSIX fell from ${from} to ${to} (p=${fmtP(main.pValue)})`);
    else parts.push(`WORSE: close() outside POSIX rose from ${from} to ${to} (p=${fmtP(main.pValue)})`);
  }
  const others = c.rows.filter((r) => r.significant && r !== main);
  if (others.length > 0) {
    parts.push(`other significant changes: ${others.map((r) => `${r.call}:${r.outcome} ${r.difference > 0 ? 'up' : 'down'}`).join(', ')}`);
  }
  const t = c.throughput;
  parts.push(`throughput ${pct(t.change)}${t.significant === undefined ? ' (no --repeat: no interval)' : t.significant ? ' (intervals apart)' : ' (within noise)'}`);
  return parts.join('; ');
}

export function compareResults(base: RunResult, next: RunResult, labels: [string, string] = ['base', 'new']): Comparison {
  checkComparable(base, next);
  const cores: CoreComparison[] = [];
  for (const a of base.steps) {
    const b = next.steps.find((s) => s.cores === a.cores);
    if (!b) continue;
    const throughput: CoreComparison['throughput'] = {
      base: a.throughput?.mean ?? a.trialsPerSec,
      new: b.throughput?.mean ?? b.trialsPerSec,
      change: 0,
      ...(a.throughput && { baseCi: { low: a.throughput.low, high: a.throughput.high, n: a.throughput.n } }),
      ...(b.throughput && { newCi: { low: b.throughput.low, high: b.throughput.high, n: b.throughput.n } }),
    };
    throughput.change = throughput.base > 0 ? (throughput.new - throughput.base) / throughput.base : 0;
    if (throughput.baseCi && throughput.newCi && throughput.baseCi.n > 1 && throughput.newCi.n > 1) {
      throughput.significant = throughput.newCi.low > throughput.baseCi.high || throughput.newCi.high < throughput.baseCi.low;
    }
    const partial = { cores: a.cores, rows: rows(a, b), throughput, latency: latency(a, b), hits: { base: hitsFor(a), new: hitsFor(b) } };
    cores.push({ ...partial, verdict: verdict(partial) });
  }
  const summary = (r: RunResult, label: string): RunSummary => ({
    label, status: r.status, startedAt: r.startedAt,
    os: `${r.environment?.os?.type ?? '?'} ${r.environment?.os?.release ?? ''}`.trim(),
    iterations: r.options.iterations,
  });
  return {
    schema: COMPARE_SCHEMA,
    schemaVersion: 1,
    alpha: ALPHA,
    base: summary(base, labels[0]),
    new: summary(next, labels[1]),
    cores,
    onlyIn: {
      base: base.steps.filter((s) => !next.steps.some((t) => t.cores === s.cores)).map((s) => s.cores),
      new: next.steps.filter((s) => !base.steps.some((t) => t.cores === s.cores)).map((s) => s.cores),
    },
  };
}

function table(headers: string[], body: string[][]): string {
  const widths = headers.map((h, c) => Math.max(h.length, ...body.map((r) => (r[c] ?? '').length)));
  const line = (cells: string[]): string => cells.map((cell, c) => cell.padEnd(widths[c]!)).join('  ').trimEnd();
  return [line(headers), ...body.map(line)].join('\n');
}


/** The stdout form: per core count, a table of rates, then throughput, latency and the verdict. */
export function renderComparison(c: Comparison): string {
  const out: string[] = [
    `base: ${c.base.label} (${c.base.os}, ${c.base.status}, started ${c.base.startedAt})`,
    `new:  ${c.new.label} (${c.new.os}, ${c.new.status}, started ${c.new.startedAt})`,
    `rates with Wilson 95% intervals; p from Fisher's exact test (two-sided); * = significant at ${c.alpha} after Bonferroni over the rows of a core count`,
    '',
  ];
  for (const k of c.cores) {
    out.push(`== ${k.cores} cores`);
    out.push(table(
      ['call:outcome', 'base', 'new', 'difference', 'p', ''],
      k.rows.map((r) => [`${r.call}:${r.outcome}`, describeSide(r.base), describeSide(r.new), `${r.difference >= 0 ? '+' : ''}${r.difference.toExponential(1)}`, fmtP(r.pValue), r.significant ? '*' : '']),
    ));
    const t = k.throughput;
    const ci = (x?: { low: number; high: number; n: number }) => (x ? ` [${Math.round(x.low)}, ${Math.round(x.high)}] (n=${x.n})` : '');
    if (k.hits) out.push(`close() outside POSIX per second: ${hitsCell(k.hits.base)} -> ${hitsCell(k.hits.new)}; first hit ${firstHitCell(k.hits.base)} -> ${firstHitCell(k.hits.new)}`);
    out.push(`throughput: ${Math.round(t.base)}${ci(t.baseCi)} -> ${Math.round(t.new)}${ci(t.newCi)} trials/s (${pct(t.change)})`);
    for (const kind of ['ok', 'error'] as const) {
      const l = k.latency.close[kind];
      if (!l) continue;
      const keys = [...PERCENTILES.map((p) => p.key), 'max'] as const;
      out.push(`close() ${kind === 'ok' ? 'returning 0' : 'failing'} latency: ` +
        keys.map((key) => `${key} ${fmtDuration(l.base[key])} -> ${fmtDuration(l.new[key])}`).join(', '));
    }
    out.push(`verdict (${k.cores} cores): ${k.verdict}`, '');
  }
  if (c.onlyIn.base.length + c.onlyIn.new.length > 0) {
    out.push(`not compared: core counts only in base (${c.onlyIn.base.join(',') || '-'}), only in new (${c.onlyIn.new.join(',') || '-'})`);
  }
  return out.join('\n') + '\n';
}
