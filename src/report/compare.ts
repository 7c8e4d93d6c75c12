import { FEW_REPEATS, fmtDuration, fmtRate } from '../common/format.js';
import { firstHitCell, hitsCell, hitsFor, type Hits } from '../tally/hits.js';
import { UsageError } from '../common/errors.js';
import { percentiles, type LatencySummary, PERCENTILES } from '../tally/latency.js';
import { hasPosixList, outsidePosix } from '../common/posix.js';
import type { RunResult, StepResult } from '../result/result.js';
import { fisherExact, quasiBinomialTest, wilson, zeroEventUpperBound } from '../common/stats.js';
import { callsMade, sumCounts, type Outcomes } from '../tally/tally.js';

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
  /**
   * Two-sided p: Fisher's exact test, or with repeats on both sides the
   * quasi-binomial test, which counts the between-repeat variation.
   */
  pValue: number;
  test: 'fisher' | 'quasi-binomial';
  /** quasi-binomial: Pearson dispersion of the repeats (1 = binomial spread) and its degrees of freedom. */
  dispersion?: number;
  df?: number;
  /** quasi-binomial: what Fisher's test, blind to drift, would have said. */
  fisherPValue?: number;
  /** p below ALPHA / rows of this core count (Bonferroni): many rows, one verdict. */
  significant: boolean;
}

export interface LatencyChange {
  base: LatencySummary;
  new: LatencySummary;
}

export interface CoreComparison {
  cores: number;
  /** The steps' placement (--placement, --resetter), when recorded. */
  placement?: string;
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
  /** What the verdict says of close() outside POSIX, for scripts and --fail-on-worse. */
  judgement: Judgement;
  verdict: string;
}

export type Judgement = 'BETTER' | 'WORSE' | 'no significant change' | 'not measured';

export interface Comparison {
  schema: typeof COMPARE_SCHEMA;
  schemaVersion: 1;
  alpha: number;
  base: RunSummary;
  new: RunSummary;
  cores: CoreComparison[];
  /** Core counts only one run has: not compared. */
  onlyIn: { base: number[]; new: number[] };
  /** What may make the figures mislead: the same run twice, another load on the machine, a throughput change with no interval. */
  warnings: string[];
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
  // A veth RST is received by a driver and NET_RX on its own timing, unlike loopback's.
  { flag: '--path', get: (r) => r.options.path ?? 'loopback' },
  { flag: '--rps-cpus', get: (r) => (r.options.rpsCpus ?? []).join(',') || 'off' },
  { flag: '--probe', get: (r) => (r.options.probes ?? []).join(',') || 'none' },
  { flag: '--lanes-per-core', get: (r) => r.options.lanesPerCore ?? 1 },
  { flag: '--skew', get: (r) => JSON.stringify(r.options.skew ?? { kind: 'none' }) },
  // Where the threads run decides where the RST is processed: the race's precondition.
  { flag: '--placement', get: (r) => (r.options.placements ?? ['linear']).join(',') },
  { flag: '--resetter', get: (r) => (r.options.race === 'cross-thread' ? (r.options.resetters ?? ['next']).join(',') : 'none') },
];

/** Steps of two runs that measured the same thing: same core count, same placement. */
const sameStep = (a: StepResult, b: StepResult): boolean => a.cores === b.cores && (a.placement ?? 'linear') === (b.placement ?? 'linear');

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
  const common = base.steps.filter((s) => next.steps.some((t) => sameStep(s, t)));
  if (common.length === 0) throw new UsageError('compare: the runs have no core count in common');
}

function side(events: number, attempts: number): RateSide {
  const ci = wilson(events, attempts);
  return { events, attempts, rate: ci.rate, low: ci.low, high: ci.high, ...(events === 0 && { upper95WhenZero: zeroEventUpperBound(attempts) }) };
}

const OUTSIDE = 'outside POSIX';

/** Events of one row in one call's outcomes: an errno's count, or every errno POSIX does not allow. */
function eventsOf(call: string, outcome: string, o: Outcomes): number {
  if (outcome !== OUTSIDE) return o.errors[outcome] ?? 0;
  return hasPosixList(call) ? sumCounts(outsidePosix(call, o.errors)) : 0;
}

type PerRepeat = Array<Record<string, Outcomes>>;

/** Each repeat's outcomes, when the step kept them for two or more repeats. */
function repeatCalls(s: StepResult): PerRepeat | undefined {
  const calls = s.repeats?.calls;
  return calls && calls.length >= 2 ? calls : undefined;
}

function rateRow(call: string, outcome: string, oa: Outcomes, ob: Outcomes, ra?: PerRepeat, rb?: PerRepeat): RateRow {
  const [ea, na, eb, nb] = [eventsOf(call, outcome, oa), callsMade(oa), eventsOf(call, outcome, ob), callsMade(ob)];
  const base = side(ea, na);
  const next = side(eb, nb);
  const fisher = fisherExact(ea, na - ea, eb, nb - eb);
  const row: RateRow = { call, outcome, base, new: next, difference: next.rate - base.rate, pValue: fisher, test: 'fisher', significant: false };
  if (!ra || !rb) return row;
  const counts = (rs: PerRepeat): Array<[number, number]> =>
    rs.map((r) => (r[call] ? [eventsOf(call, outcome, r[call]!), callsMade(r[call])] : [0, 0]));
  const q = quasiBinomialTest(counts(ra), counts(rb));
  return { ...row, pValue: q.pValue, test: 'quasi-binomial', dispersion: q.dispersion, df: q.df, fisherPValue: fisher };
}

function rows(a: StepResult, b: StepResult): RateRow[] {
  const out: RateRow[] = [];
  const ra = repeatCalls(a);
  const rb = ra && repeatCalls(b);
  const calls = Object.keys(a.calls).filter((c) => c in b.calls);
  for (const call of calls) {
    const oa = a.calls[call as keyof typeof a.calls];
    const ob = b.calls[call as keyof typeof b.calls];
    if (callsMade(oa) === 0 || callsMade(ob) === 0) continue;
    if (hasPosixList(call)) {
      const seen = eventsOf(call, OUTSIDE, oa) + eventsOf(call, OUTSIDE, ob);
      if (call === 'close' || seen > 0) out.push(rateRow(call, OUTSIDE, oa, ob, ra, rb));
    }
    const errnos = [...new Set([...Object.keys(oa.errors), ...Object.keys(ob.errors)])].sort();
    for (const e of errnos) out.push(rateRow(call, e, oa, ob, ra, rb));
  }
  const lost = raceLostRow(a, b);
  if (lost) out.push(lost);
  for (const r of out) r.significant = r.pValue < ALPHA / out.length;
  return out;
}

/** Races lost that close() did not report (FreeBSD 15's tcps_closed), when both runs have the figure. */
export const RACE_LOST_OUTCOME = 'race lost (kernel counter)';
function raceLostRow(a: StepResult, b: StepResult): RateRow | undefined {
  const x = a.raceLost;
  const y = b.raceLost;
  if (!x?.available || !y?.available || !x.closes || !y.closes) return undefined;
  // The counter is read per step, not per repeat: this row has no drift estimate of its own.
  const asOutcomes = (lost: number, closes: number): Outcomes => ({ ok: closes - lost, errors: { [RACE_LOST_OUTCOME]: lost } });
  return rateRow('close', RACE_LOST_OUTCOME, asOutcomes(x.lost ?? 0, x.closes), asOutcomes(y.lost ?? 0, y.closes));
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
/** p as printed: below what a double holds after the sums, "< 1e-300", never "0.0e+0". */
export const fmtP = (p: number): string => (p < 1e-300 ? '< 1e-300' : p < 1e-4 ? p.toExponential(1) : p.toPrecision(2));
const pIs = (p: number): string => (p < 1e-300 ? 'p < 1e-300' : `p=${fmtP(p)}`);
const pct = (x: number): string => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)}%`;

/** "12 in 1e6: 1.2e-5 [6.9e-6, 2.1e-5]" or "0 in 1e6: below 3.0e-6 at 95%". */
export function describeSide(s: RateSide): string {
  if (s.events === 0) return `0 in ${fmtCount(s.attempts)}: below ${(s.upper95WhenZero ?? 1).toExponential(1)} at 95%`;
  return `${s.events.toLocaleString('en-US')} in ${fmtCount(s.attempts)}: ${fmtRate(s.rate)} [${fmtRate(s.low)}, ${fmtRate(s.high)}]`;
}

function judgement(rows: RateRow[]): Judgement {
  const main = rows.find((r) => r.call === 'close' && r.outcome === OUTSIDE);
  if (!main) return 'not measured';
  if (!main.significant) return 'no significant change';
  return main.difference < 0 ? 'BETTER' : 'WORSE';
}

function verdict(c: Omit<CoreComparison, 'verdict' | 'judgement'>): string {
  const parts: string[] = [];
  const main = c.rows.find((r) => r.call === 'close' && r.outcome === OUTSIDE);
  if (main) {
    const from = fmtRate(main.base.rate);
    const to = main.new.events === 0 ? `0 (below ${(main.new.upper95WhenZero ?? 1).toExponential(1)} at 95%)` : fmtRate(main.new.rate);
    const drift = main.test === 'quasi-binomial' && (main.fisherPValue ?? 1) < ALPHA / c.rows.length ? '; within the run-to-run drift of the repeats' : '';
    if (!main.significant) parts.push(`no significant change in close() outside POSIX (${from} -> ${fmtRate(main.new.rate)}, ${pIs(main.pValue)}${drift})`);
    else if (main.difference < 0) parts.push(`BETTER: close() outside POSIX fell from ${from} to ${to} (${pIs(main.pValue)})`);
    else parts.push(`WORSE: close() outside POSIX rose from ${from} to ${to} (${pIs(main.pValue)})`);
  }
  const others = c.rows.filter((r) => r.significant && r !== main);
  if (others.length > 0) {
    parts.push(`other significant changes: ${others.map((r) => `${r.call}:${r.outcome} ${r.difference > 0 ? 'up' : 'down'}`).join(', ')}`);
  }
  const t = c.throughput;
  parts.push(`throughput ${pct(t.change)}${t.significant === undefined ? ' (no interval: --repeat on both sides gives one)' : t.significant ? ' (intervals apart)' : ' (within noise)'}`);
  return parts.join('; ');
}

/** The repeats' interval, when there is one (two or more repeats). */
function ciOf(s: StepResult): { low: number; high: number; n: number } | undefined {
  const t = s.throughput;
  return t && t.low !== undefined && t.high !== undefined ? { low: t.low, high: t.high, n: t.n } : undefined;
}

/** A run's mean 1-minute load per allowed CPU over its steps; undefined when it recorded none. */
function loadPerCpu(r: RunResult, cores: number[]): number | undefined {
  const samples = r.steps.filter((s) => cores.includes(s.cores) && s.load).flatMap((s) => [s.load!.before[0]!, s.load!.after[0]!]);
  if (samples.length === 0) return undefined;
  const cpus = r.environment?.cpu?.allowed?.length || r.environment?.cpu?.online || 1;
  return samples.reduce((a, b) => a + b, 0) / samples.length / cpus;
}

/**
 * Loads worth a warning differ by a quarter of the allowed CPUs and by half:
 * 0.05 against 0.75 per CPU is a quiet and a busy machine; 15 against 17.5
 * (a shared host busy in both runs) is not a difference in kind.
 */
export const LOAD_WARNING_PER_CPU = 0.25;
export const LOAD_WARNING_RATIO = 1.5;

function warnings(base: RunResult, next: RunResult, cores: CoreComparison[], labels: [string, string], sameFile: boolean): string[] {
  const out: string[] = [];
  if (sameFile) out.push(`${labels[0]} and ${labels[1]} are the same file: every difference is 0 by construction`);
  else if (base.startedAt === next.startedAt && base.environment?.hostname === next.environment?.hostname) {
    out.push(`${labels[0]} and ${labels[1]} are the same run (same host and start time ${base.startedAt}): a comparison with itself shows no change`);
  }
  const common = cores.map((c) => c.cores);
  const la = loadPerCpu(base, common);
  const lb = loadPerCpu(next, common);
  if (la !== undefined && lb !== undefined && Math.abs(la - lb) > LOAD_WARNING_PER_CPU && Math.max(la, lb) > LOAD_WARNING_RATIO * Math.min(la, lb)) {
    out.push(`the machine's load differed: 1-minute load average per allowed CPU ${la.toFixed(2)} during ${labels[0]}, ${lb.toFixed(2)} during ${labels[1]}; other work moves throughput and race rates`);
  }
  const fisher = cores.filter((c) => c.rows.some((r) => r.test === 'fisher'));
  if (fisher.length > 0) {
    out.push(`run-to-run drift is not accounted for at ${fisher.map((c) => `${c.cores} cores`).join(', ')}: without per-repeat counts on both sides (results of --repeat 2 or more; older results lack them), ` +
      'Fisher\'s test takes every trial as independent, and race rates drift between runs and boots more than that; run both with --repeat 5');
  }
  const bare = cores.filter((c) => c.throughput.significant === undefined && c.throughput.change !== 0);
  if (bare.length > 0) {
    out.push(`throughput change at ${bare.map((c) => `${c.cores} cores (${pct(c.throughput.change)})`).join(', ')} rests on no interval: ` +
      'an interval needs repeats on both sides (a single run says nothing of run-to-run spread); run both with --repeat 5');
  }
  return out;
}

export interface CompareOptions {
  /** Both paths name one file (the CLI resolves them). */
  sameFile?: boolean;
}

export function compareResults(base: RunResult, next: RunResult, labels: [string, string] = ['base', 'new'], opts: CompareOptions = {}): Comparison {
  checkComparable(base, next);
  const cores: CoreComparison[] = [];
  for (const a of base.steps) {
    const b = next.steps.find((s) => sameStep(a, s));
    if (!b) continue;
    const throughput: CoreComparison['throughput'] = {
      base: a.trialsPerSec,
      new: b.trialsPerSec,
      change: 0,
      ...(ciOf(a) && { baseCi: ciOf(a) }),
      ...(ciOf(b) && { newCi: ciOf(b) }),
    };
    throughput.change = throughput.base > 0 ? (throughput.new - throughput.base) / throughput.base : 0;
    if (throughput.baseCi && throughput.newCi) {
      throughput.significant = throughput.newCi.low > throughput.baseCi.high || throughput.newCi.high < throughput.baseCi.low;
    }
    const partial = { cores: a.cores, ...(a.placement !== undefined && { placement: a.placement }), rows: rows(a, b), throughput, latency: latency(a, b), hits: { base: hitsFor(a), new: hitsFor(b) } };
    cores.push({ ...partial, judgement: judgement(partial.rows), verdict: verdict(partial) });
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
      base: base.steps.filter((s) => !next.steps.some((t) => sameStep(s, t))).map((s) => s.cores),
      new: next.steps.filter((s) => !base.steps.some((t) => sameStep(s, t))).map((s) => s.cores),
    },
    warnings: warnings(base, next, cores, labels, opts.sameFile ?? false),
  };
}

function table(headers: string[], body: string[][]): string {
  const widths = headers.map((h, c) => Math.max(h.length, ...body.map((r) => (r[c] ?? '').length)));
  const line = (cells: string[]): string => cells.map((cell, c) => cell.padEnd(widths[c]!)).join('  ').trimEnd();
  return [line(headers), ...body.map(line)].join('\n');
}


function testNames(c: Comparison): string {
  const used = new Set(c.cores.flatMap((k) => k.rows.map((r) => r.test)));
  const names: string[] = [];
  if (used.has('quasi-binomial')) names.push('quasi-binomial F test over the repeats (counts their run-to-run drift; dispersion shown as "disp")');
  if (used.has('fisher') || used.size === 0) names.push('Fisher\'s exact test (no repeats: drift not counted)');
  return names.join('; ');
}

/** The stdout form: per core count, a table of rates, then throughput, latency and the verdict. */
export function renderComparison(c: Comparison): string {
  const out: string[] = [
    `base: ${c.base.label} (${c.base.os}, ${c.base.status}, started ${c.base.startedAt})`,
    `new:  ${c.new.label} (${c.new.os}, ${c.new.status}, started ${c.new.startedAt})`,
    `rates with Wilson 95% intervals; p two-sided: ${testNames(c)}; * = significant at ${c.alpha} after Bonferroni over the rows of a core count`,
    '',
  ];
  for (const k of c.cores) {
    out.push(`== ${k.cores} cores${k.placement !== undefined && k.placement !== 'linear' ? ` (${k.placement})` : ''}`);
    out.push(table(
      ['call:outcome', 'base', 'new', 'difference', 'p', ''],
      k.rows.map((r) => [`${r.call}:${r.outcome}`, describeSide(r.base), describeSide(r.new), `${r.difference >= 0 ? '+' : ''}${r.difference.toExponential(1)}`,
        fmtP(r.pValue) + (r.dispersion !== undefined ? ` (disp ${r.dispersion.toFixed(1)}, df ${r.df})` : ''), r.significant ? '*' : '']),
    ));
    const t = k.throughput;
    const ci = (x?: { low: number; high: number; n: number }) =>
      (x ? ` [${Math.round(x.low)}, ${Math.round(x.high)}] (n=${x.n}${x.n < FEW_REPEATS ? ', few repeats: a wide interval, clamped at 0' : ''})` : '');
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
  for (const w of c.warnings) out.push(`warning: ${w}`);
  if (c.onlyIn.base.length + c.onlyIn.new.length > 0) {
    out.push(`not compared: core counts only in base (${c.onlyIn.base.join(',') || '-'}), only in new (${c.onlyIn.new.join(',') || '-'})`);
  }
  return out.join('\n') + '\n';
}

/**
 * `compare BASE A B ...` (mmtests' compare-kernels convention): every run
 * against the one baseline. Each element is the two-run comparison, so one
 * rule judges a pair whether it is compared alone or among many.
 */
export interface MultiComparison {
  schema: typeof COMPARE_SCHEMA;
  schemaVersion: 1;
  alpha: number;
  base: RunSummary;
  comparisons: Comparison[];
}

export function compareMany(base: RunResult, runs: RunResult[], labels: string[], sameFile: (i: number) => boolean = () => false): MultiComparison {
  const comparisons = runs.map((r, i) => {
    try {
      return compareResults(base, r, [labels[0]!, labels[i + 1]!], { sameFile: sameFile(i) });
    } catch (err) {
      // Among many runs, say which one cannot be compared.
      if (err instanceof UsageError) throw new UsageError(`${labels[i + 1]}: ${err.message}`);
      throw err;
    }
  });
  return { schema: COMPARE_SCHEMA, schemaVersion: 1, alpha: ALPHA, base: comparisons[0]!.base, comparisons };
}

const signed = (x: number): string => `${x >= 0 ? '+' : ''}${x.toExponential(1)}`;

/** One column per run against the baseline: each cell is the run's rate, its difference and p. */
export function renderMany(m: MultiComparison): string {
  const runs = m.comparisons;
  const out: string[] = [
    `base: ${m.base.label} (${m.base.os}, ${m.base.status}, started ${m.base.startedAt})`,
    ...runs.map((c, i) => `run ${i + 1}: ${c.new.label} (${c.new.os}, ${c.new.status}, started ${c.new.startedAt})`),
    'each run against the base; cells: rate, difference from base, p; ' +
      `rates with Wilson 95% intervals; p two-sided: ${[...new Set(runs.map(testNames))].join('; ')}; * = significant at ${m.alpha} after Bonferroni over the rows of a core count`,
    '',
  ];
  const cores = [...new Set(runs.flatMap((c) => c.cores.map((k) => k.cores)))].sort((a, b) => a - b);
  for (const n of cores) {
    out.push(`== ${n} cores`);
    const at = runs.map((c) => c.cores.find((k) => k.cores === n));
    const keys = [...new Set(at.flatMap((k) => k?.rows.map((r) => `${r.call}:${r.outcome}`) ?? []))];
    const body = keys.map((key) => {
      const rowsOf = at.map((k) => k?.rows.find((r) => `${r.call}:${r.outcome}` === key));
      const baseSide = rowsOf.find((r) => r)!.base;
      return [key, describeSide(baseSide), ...rowsOf.map((r) => (r ? `${describeSide(r.new)} (${signed(r.difference)}, p ${fmtP(r.pValue)})${r.significant ? ' *' : ''}` : '-'))];
    });
    out.push(table(['call:outcome', 'base', ...runs.map((_, i) => `run ${i + 1}`)], body));
    const first = at.find((k) => k)!.throughput;
    const ci = (x?: { low: number; high: number; n: number }) => (x ? ` [${Math.round(x.low)}, ${Math.round(x.high)}] (n=${x.n})` : '');
    out.push(`throughput: base ${Math.round(first.base)}${ci(first.baseCi)}; ` +
      at.map((k, i) => (k ? `run ${i + 1} ${Math.round(k.throughput.new)}${ci(k.throughput.newCi)} (${pct(k.throughput.change)})` : `run ${i + 1} -`)).join('; ') + ' trials/s');
    at.forEach((k, i) => {
      if (k) out.push(`verdict (${n} cores, run ${i + 1}): ${k.verdict}`);
    });
    out.push('');
  }
  runs.forEach((c, i) => {
    for (const w of c.warnings) out.push(`warning (run ${i + 1}): ${w}`);
    if (c.onlyIn.new.length > 0) out.push(`not compared: core counts only in run ${i + 1} (${c.onlyIn.new.join(',')})`);
  });
  return out.join('\n') + '\n';
}
