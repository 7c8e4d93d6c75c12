import type { RunResult, StepResult } from './result.js';
import { describeTopology } from './topology.js';
import { describePath, scopeText } from './netpath.js';
import { netRxShare } from './softirq.js';
import { bucketHigh, percentiles, PERCENTILES as LATENCY_PERCENTILES } from './latency.js';
import { fmtAskedSkew, fmtInt, fmtRate as fmtTextRate } from './format.js';
import type { Options, SkewSpec } from './options.js';
import { cpuRanges, expectationLine, verdictLine } from './report.js';
import { describeSide, fmtP, type Comparison, type CoreComparison } from './compare.js';
import { rstsPerReset } from './kernel.js';
import { sumCounts, type Histogram, type SkewPoint } from './tally.js';
import { firstHitCell, hitsCell, hitsFor } from './hits.js';

/**
 * One self-contained HTML report: inline CSS and SVG, no script, and a
 * Content-Security-Policy that forbids every fetch, so the file can be mailed,
 * attached to a PR or opened offline and shows exactly what was measured.
 * One result is a report; two are "base vs new" drawn on the same axes.
 */

export interface HtmlOptions {
  title?: string;
  /** Series labels, base first (default: "run", or "base" and "new"). */
  labels?: string[];
  /** compare's judgement of each run against the first (the terminal's verdicts, in the page). */
  comparisons?: Comparison[];
}

export type { Histogram };

type LatencyByCall = Record<string, Record<string, Histogram | undefined> | undefined>;

// Results written before a field existed lack it: read them as optional.
const latencyOf = (s: StepResult): LatencyByCall | undefined => s.latency as LatencyByCall | undefined;
const skewOf = (s: StepResult): SkewPoint[] => s.skew?.points ?? [];

// ---- percentiles ----

/** The percentiles charted, from the one definition in latency.ts. */
export const PERCENTILES = [...LATENCY_PERCENTILES.map((p) => ({ name: p.key, q: p.q })), { name: 'max', q: 1 }] as const;

export const bucketUpperBound = bucketHigh;

/** latency.ts's percentiles in the shape the charts draw; null when there is nothing to draw. */
export function histogramPercentiles(h: Histogram | undefined): { count: number; values: Record<string, number> } | null {
  if (!h || h.scheme !== 'log-linear-16') return null;
  const p = percentiles(h as Histogram);
  if (!p) return null;
  const { count, ...values } = p;
  return { count, values };
}

// ---- formatting ----

export function escapeHtml(value: unknown): string {
  return String(value)
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}
const esc = escapeHtml;

/** One notation for every small rate on a chart, so 1.5e-3 and 4.0e-4 compare at a glance. */
const fmtRate = (r: number): string => fmtTextRate(r, 0.01);
const fmtDecade = (v: number): string => (v >= 1 ? String(v) : `1e${Math.round(Math.log10(v))}`);
function fmtNs(ns: number): string {
  if (ns < 1e3) return `${Math.round(ns)} ns`;
  // Three significant digits, zeros kept, so a column of durations lines up.
  if (ns < 1e6) return `${(ns / 1e3).toPrecision(3)} µs`;
  if (ns < 1e9) return `${(ns / 1e6).toPrecision(3)} ms`;
  return `${(ns / 1e9).toPrecision(3)} s`;
}
/** Axis ticks are round values: no trailing zeros. */
function fmtNsTick(ns: number): string {
  return fmtNs(ns).replace(/\.0+ /, ' ');
}
function fmtSignedNs(ns: number, fmt = fmtNs): string {
  return ns < 0 ? `−${fmt(-ns)}` : ns === 0 ? '0' : fmt(ns);
}
function fmtPerSec(n: number): string {
  if (n >= 1e6) return `${+(n / 1e6).toPrecision(3)}M/s`;
  if (n >= 1e3) return `${+(n / 1e3).toPrecision(3)}k/s`;
  return `${+n.toPrecision(3)}/s`;
}
const coresText = (n: number): string => `${n} ${n === 1 ? 'core' : 'cores'}`;
const fmtPct = (x: number): string => `${Math.round(x * 100)}%`;

// ---- scales ----

function niceStep(span: number, ticks: number): number {
  const raw = span / Math.max(1, ticks);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const f = raw / mag;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
}

function linearTicks(lo: number, hi: number, count = 5): { lo: number; hi: number; ticks: number[] } {
  if (!(hi > lo)) hi = lo + 1;
  const step = niceStep(hi - lo, count);
  const nlo = Math.floor(lo / step) * step;
  const nhi = Math.ceil(hi / step) * step;
  const ticks: number[] = [];
  for (let v = nlo; v <= nhi + step / 2; v += step) ticks.push(+v.toPrecision(12));
  return { lo: nlo, hi: nhi, ticks };
}

function logTicks(values: number[]): { lo: number; hi: number; ticks: number[] } {
  const pos = values.filter((v) => v > 0 && Number.isFinite(v));
  // A little room past the extremes keeps marks off the frame.
  const lo = Math.floor(Math.log10(Math.min(...pos)) - 0.25);
  let hi = Math.ceil(Math.log10(Math.max(...pos)) + 0.05);
  if (hi <= lo) hi = lo + 1;
  // Too many decades turn labels into a smear: label every other one.
  const every = hi - lo > 8 ? 2 : 1;
  hi = lo + Math.ceil((hi - lo) / every) * every;
  const ticks: number[] = [];
  for (let d = lo; d <= hi; d += every) ticks.push(10 ** d);
  return { lo: 10 ** lo, hi: 10 ** hi, ticks };
}

// ---- chart frame ----

const W = 760;
const H = 340;
const M = { top: 36, right: 24, bottom: 56, left: 78 };
const PW = W - M.left - M.right;
const PH = H - M.top - M.bottom;

interface Series {
  label: string;
  result: RunResult;
  colour: string;
  dash: string;
  hollow: boolean;
}

const SERIES_STYLE = [
  { colour: '#2563eb', dash: '6 4', hollow: true },
  { colour: '#d9480f', dash: '', hollow: false },
  { colour: '#059669', dash: '2 3', hollow: false },
  { colour: '#9333ea', dash: '8 3 2 3', hollow: false },
  { colour: '#ca8a04', dash: '1 3', hollow: false },
  { colour: '#db2777', dash: '4 2', hollow: false },
];

function svgOpen(kind: string, label: string, extra = ''): string {
  return (
    `<svg class="chart" data-chart="${kind}"${extra} role="img" aria-label="${esc(label)}" ` +
    `viewBox="0 0 ${W} ${H}" preserveAspectRatio="xMidYMid meet"><title>${esc(label)}</title>`
  );
}

function yAxis(ticks: number[], y: (v: number) => number, fmt: (v: number) => string, title: string): string {
  const parts = ticks.map((t) => {
    const yy = y(t).toFixed(1);
    return (
      `<line class="grid" x1="${M.left}" x2="${W - M.right}" y1="${yy}" y2="${yy}"/>` +
      `<text class="tick" x="${M.left - 8}" y="${yy}" text-anchor="end" dominant-baseline="middle">${esc(fmt(t))}</text>`
    );
  });
  const cy = M.top + PH / 2;
  parts.push(`<text class="axis-title" transform="translate(16 ${cy}) rotate(-90)" text-anchor="middle">${esc(title)}</text>`);
  parts.push(`<line class="axis" x1="${M.left}" x2="${M.left}" y1="${M.top}" y2="${M.top + PH}"/>`);
  return parts.join('');
}

function xBaseline(title: string): string {
  return (
    `<line class="axis" x1="${M.left}" x2="${W - M.right}" y1="${M.top + PH}" y2="${M.top + PH}"/>` +
    `<text class="axis-title" x="${M.left + PW / 2}" y="${H - 10}" text-anchor="middle">${esc(title)}</text>`
  );
}

/** Core counts are categories: evenly spaced, whatever their values. */
function coreAxis(cores: number[], oversubscribed: Set<number>): { x: (c: number) => number; band: number; svg: string } {
  const band = PW / Math.max(1, cores.length);
  const x = (c: number): number => M.left + band * (cores.indexOf(c) + 0.5);
  const svg =
    cores
      .map(
        (c) =>
          `<text class="tick" x="${x(c).toFixed(1)}" y="${M.top + PH + 18}" text-anchor="middle">${c}${oversubscribed.has(c) ? '*' : ''}</text>`,
      )
      .join('') + xBaseline(oversubscribed.size > 0 ? 'cores (* = oversubscribed)' : 'cores');
  return { x, band, svg };
}

function legend(items: Array<{ label: string; colour: string; dash?: string; hollow?: boolean }>): string {
  let x = M.left;
  return items
    .map((it) => {
      const g =
        `<g class="legend-item" transform="translate(${x} 14)">` +
        `<line x1="0" x2="22" y1="0" y2="0" stroke="${it.colour}" stroke-width="2.5"${it.dash ? ` stroke-dasharray="${it.dash}"` : ''}/>` +
        `<circle cx="11" cy="0" r="4" fill="${it.hollow ? '#fff' : it.colour}" stroke="${it.colour}" stroke-width="2"/>` +
        `<text class="legend" x="28" y="0" dominant-baseline="middle">${esc(it.label)}</text></g>`;
      x += 40 + it.label.length * 7.2;
      return g;
    })
    .join('');
}

function seriesLegend(series: Series[]): string {
  return series.length > 1 ? legend(series.map((s) => ({ label: s.label, colour: s.colour, dash: s.dash, hollow: s.hollow }))) : '';
}

function marker(x: number, y: number, s: Series, cls: string, data: string, title: string): string {
  return (
    `<circle class="${cls}" ${data} cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="4.5" ` +
    `fill="${s.hollow ? '#fff' : s.colour}" stroke="${s.colour}" stroke-width="2"><title>${esc(title)}</title></circle>`
  );
}

function offsetFor(i: number, n: number, band: number): number {
  const spread = Math.min(band * 0.5, 36 * (n - 1));
  return n === 1 ? 0 : -spread / 2 + (spread * i) / (n - 1);
}

// ---- charts ----

function rateChart(series: Series[], cores: number[], over: Set<number>): string {
  const measured = series.flatMap((s) => s.result.steps.filter((st) => st.posix.close.attempts > 0).map((st) => ({ s, st })));
  if (measured.length === 0) return '<p class="note">No victim close() was measured: no rate chart.</p>';
  const values = measured.flatMap(({ st }) => {
    const v = st.posix.close;
    return v.outside === 0 ? [v.upper95WhenZero ?? v.ci95.high] : [v.ci95.low, v.ci95.high, v.ci95.rate];
  });
  const { lo, hi, ticks } = logTicks(values);
  const y = (v: number): number =>
    M.top + PH - ((Math.log10(Math.max(v, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * PH;
  const ax = coreAxis(cores, over);
  const label =
    'Non-conforming close() rate (errors outside POSIX) per core count with 95% Wilson intervals; ' +
    'open triangles are one-sided 95% upper bounds where none was seen';
  const marks = measured.map(({ s, st }) => {
    const i = series.indexOf(s);
    const x = ax.x(st.cores) + offsetFor(i, series.length, ax.band);
    const v = st.posix.close;
    const data = `data-series="${esc(s.label)}" data-cores="${st.cores}"`;
    // With two runs side by side, base labels go left and new labels right so they never collide.
    const left = series.length > 1 && i === 0;
    const tx = (left ? x - 9 : x + 9).toFixed(1);
    const anchor = left ? ' text-anchor="end"' : '';
    if (v.outside === 0) {
      const bound = v.upper95WhenZero ?? v.ci95.high;
      const yb = y(bound);
      const title = `${s.label}, ${coresText(st.cores)}: 0 in ${fmtInt(v.attempts)}, below ${fmtRate(bound)} at 95%`;
      return (
        `<g class="mark zero" ${data}><title>${esc(title)}</title>` +
        `<line x1="${x.toFixed(1)}" x2="${x.toFixed(1)}" y1="${yb.toFixed(1)}" y2="${M.top + PH}" stroke="${s.colour}" stroke-width="1.5" stroke-dasharray="2 3"/>` +
        `<path d="M${(x - 6).toFixed(1)} ${(yb - 5).toFixed(1)} h12 l-6 10 z" fill="#fff" stroke="${s.colour}" stroke-width="2"/>` +
        `<text class="annot" x="${tx}" y="${(yb + 1).toFixed(1)}"${anchor} dominant-baseline="middle">&lt;${esc(fmtRate(bound))}</text></g>`
      );
    }
    const [y1, y2, yr] = [y(v.ci95.low), y(v.ci95.high), y(v.ci95.rate)];
    const title = `${s.label}, ${coresText(st.cores)}: ${fmtInt(v.outside)} in ${fmtInt(v.attempts)} = ${fmtRate(v.ci95.rate)} [${fmtRate(v.ci95.low)}, ${fmtRate(v.ci95.high)}]`;
    return (
      `<g class="mark" ${data}><title>${esc(title)}</title>` +
      `<line x1="${x.toFixed(1)}" x2="${x.toFixed(1)}" y1="${y1.toFixed(1)}" y2="${y2.toFixed(1)}" stroke="${s.colour}" stroke-width="2"/>` +
      `<line x1="${(x - 6).toFixed(1)}" x2="${(x + 6).toFixed(1)}" y1="${y1.toFixed(1)}" y2="${y1.toFixed(1)}" stroke="${s.colour}" stroke-width="2"/>` +
      `<line x1="${(x - 6).toFixed(1)}" x2="${(x + 6).toFixed(1)}" y1="${y2.toFixed(1)}" y2="${y2.toFixed(1)}" stroke="${s.colour}" stroke-width="2"/>` +
      marker(x, yr, s, 'dot', '', title) +
      `<text class="annot" x="${tx}" y="${yr.toFixed(1)}"${anchor} dominant-baseline="middle">${esc(fmtRate(v.ci95.rate))}</text></g>`
    );
  });
  return figure(
    'Non-conforming close() rate',
    svgOpen('rate', label) + seriesLegend(series) + yAxis(ticks, y, fmtDecade, 'outside POSIX (log)') + ax.svg + marks.join('') + '</svg>',
    'Dots: observed rate with its 95% Wilson interval. Open triangles: nothing outside POSIX was seen; the rate is below the mark at 95% (exact one-sided bound).',
  );
}


function throughputChart(series: Series[], cores: number[], over: Set<number>): string {
  const all = series.flatMap((s) => s.result.steps.map((st) => ({ s, st })));
  if (all.length === 0) return '<p class="note">No step was measured: no throughput chart.</p>';
  const { lo, hi, ticks } = linearTicks(0, Math.max(...all.map(({ st }) => Math.max(st.trialsPerSec, st.throughput?.high ?? 0))) * 1.12);
  const y = (v: number): number => M.top + PH - ((v - lo) / (hi - lo)) * PH;
  const ax = coreAxis(cores, over);
  const barW = Math.min(56, (ax.band * 0.7) / series.length);
  const bars = all.map(({ s, st }) => {
    const i = series.indexOf(s);
    const x = ax.x(st.cores) - (barW * series.length) / 2 + barW * i;
    const top = y(st.trialsPerSec);
    const eff = (st.scaling?.efficiency ?? null);
    const t = st.throughput;
    const ci = t?.low !== undefined && t.high !== undefined ? { low: t.low, high: t.high, n: t.n } : undefined;
    const title = `${s.label}, ${coresText(st.cores)}: ${fmtInt(st.trialsPerSec)} trials/s` +
      (ci ? `, mean of ${ci.n} repeats, 95% interval ${fmtInt(ci.low)} to ${fmtInt(ci.high)}` : t ? ', one repeat: no interval' : '') +
      (eff === null ? '' : `, scaling efficiency ${fmtPct(eff)}`) + (st.oversubscribed ? ' (oversubscribed)' : '');
    const fill = st.oversubscribed ? `url(#hatch-${i})` : s.colour;
    const cx = (x + barW / 2).toFixed(1);
    // Labels sit above the bar, or above its interval when that reaches higher.
    const labelTop = ci ? Math.min(top, y(ci.high)) : top;
    const whisker = ci
      ? `<g class="ci" data-n="${ci.n}"><line x1="${cx}" x2="${cx}" y1="${y(ci.low).toFixed(1)}" y2="${y(ci.high).toFixed(1)}" stroke="#111827" stroke-width="1.5"/>` +
        [ci.low, ci.high].map((v) => `<line x1="${(x + barW / 2 - 5).toFixed(1)}" x2="${(x + barW / 2 + 5).toFixed(1)}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#111827" stroke-width="1.5"/>`).join('') +
        '</g>'
      : '';
    return (
      `<g class="bar" data-series="${esc(s.label)}" data-cores="${st.cores}"><title>${esc(title)}</title>` +
      `<rect x="${(x + 2).toFixed(1)}" y="${top.toFixed(1)}" width="${(barW - 4).toFixed(1)}" height="${(M.top + PH - top).toFixed(1)}" fill="${fill}" stroke="${s.colour}" stroke-width="1.5"/>` +
      whisker +
      `<text class="annot" x="${cx}" y="${(labelTop - 14).toFixed(1)}" text-anchor="middle">${esc(fmtPerSec(st.trialsPerSec))}</text>` +
      (eff === null ? '' : `<text class="annot eff" x="${cx}" y="${(labelTop - 3).toFixed(1)}" text-anchor="middle">${esc(fmtPct(eff))}</text>`) +
      '</g>'
    );
  });
  const defs =
    '<defs>' +
    series
      .map(
        (s, i) =>
          `<pattern id="hatch-${i}" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">` +
          `<rect width="6" height="6" fill="#fff"/><line x1="0" y1="0" x2="0" y2="6" stroke="${s.colour}" stroke-width="3"/></pattern>`,
      )
      .join('') +
    '</defs>';
  const label = 'Throughput (trials per second) per core count, with scaling efficiency relative to the smallest core count';
  return figure(
    'Throughput',
    svgOpen('throughput', label) + defs + seriesLegend(series) + yAxis(ticks, y, fmtPerSec, 'trials per second') + ax.svg + bars.join('') + '</svg>',
    'Above each bar: trials per second, then scaling efficiency = (trials/s per usable core) ÷ (trials/s per core at the baseline step); 100% is linear scaling; oversubscribed steps count only the allowed CPUs.' +
      (all.some(({ st }) => st.throughput?.low !== undefined) ? ' With --repeat a bar is the mean of the repeats and its whisker the 95% t interval (clamped at 0).' : '') +
      (over.size > 0 ? ' Hatched bars are oversubscribed.' : ''),
  );
}

const PCT_COLOURS: Record<string, string> = {
  p50: '#0f766e',
  p90: '#7c3aed',
  p99: '#c2410c',
  'p99.9': '#be185d',
  max: '#374151',
};

interface LatencyRow {
  s: Series;
  st: StepResult;
  call: string;
  outcome: string;
  count: number;
  values: Record<string, number>;
}

function latencyRows(series: Series[]): LatencyRow[] {
  const rows: LatencyRow[] = [];
  for (const s of series) {
    for (const st of s.result.steps) {
      for (const [call, outcomes] of Object.entries(latencyOf(st) ?? {})) {
        for (const [outcome, h] of Object.entries(outcomes ?? {})) {
          const p = histogramPercentiles(h);
          if (p) rows.push({ s, st, call, outcome, count: p.count, values: p.values });
        }
      }
    }
  }
  return rows;
}

function latencyCharts(series: Series[], cores: number[], over: Set<number>, rows: LatencyRow[]): string {
  if (rows.length === 0) return '';
  const panels = [...new Set(rows.map((r) => `${r.call}\u0000${r.outcome}`))];
  const { lo, hi, ticks } = logTicks(rows.flatMap((r) => Object.values(r.values)));
  const y = (v: number): number => M.top + PH - ((Math.log10(Math.max(v, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * PH;
  return panels
    .map((key) => {
      const [call, outcome] = key.split('\u0000') as [string, string];
      const mine = rows.filter((r) => r.call === call && r.outcome === outcome);
      const ax = coreAxis(cores, over);
      const parts: string[] = [];
      for (const s of series) {
        const own = mine.filter((r) => r.s === s).sort((a, b) => cores.indexOf(a.st.cores) - cores.indexOf(b.st.cores));
        const i = series.indexOf(s);
        for (const { name } of PERCENTILES) {
          const pts = own.map((r) => [ax.x(r.st.cores) + offsetFor(i, series.length, ax.band) * 0.4, y(r.values[name]!)] as const);
          if (pts.length > 1) {
            parts.push(
              `<polyline fill="none" stroke="${PCT_COLOURS[name]}" stroke-width="2"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''} points="${pts.map(([a, b]) => `${a.toFixed(1)},${b.toFixed(1)}`).join(' ')}"/>`,
            );
          }
          own.forEach((r, j) => {
            const [px, py] = pts[j]!;
            const title = `${s.label}, ${coresText(r.st.cores)}, ${call}() ${outcome}: ${name} ≤ ${fmtNs(r.values[name]!)} (${fmtInt(r.count)} calls)`;
            parts.push(
              `<circle class="point" data-series="${esc(s.label)}" data-cores="${r.st.cores}" data-percentile="${name}" cx="${px.toFixed(1)}" cy="${py.toFixed(1)}" r="4" ` +
                `fill="${s.hollow ? '#fff' : PCT_COLOURS[name]}" stroke="${PCT_COLOURS[name]}" stroke-width="2"><title>${esc(title)}</title></circle>`,
            );
          });
        }
      }
      const label = `Latency percentiles of ${call}() returning ${outcome} per core count`;
      const pctLegend = legend(PERCENTILES.map(({ name }) => ({ label: name, colour: PCT_COLOURS[name]! })));
      const seriesNote =
        (series.length > 1 ? ` ${series.map((s) => `${s.label}: ${s.hollow ? 'dashed line, open dots' : 'solid line, filled dots'}`).join('; ')}.` : '') +
        (mine.some((r) => r.count < 1000) ? ' With fewer than 1,000 calls p99.9 is the max, and its dots hide under the max dots.' : '');
      return figure(
        `Latency of ${call}() — ${outcome}`,
        svgOpen('latency', label, ` data-call="${esc(call)}" data-outcome="${esc(outcome)}"`) +
          pctLegend +
          yAxis(ticks, y, fmtNsTick, 'duration (log)') +
          ax.svg +
          parts.join('') +
          '</svg>',
        `Each percentile is its histogram bucket's upper bound (never better than measured).${seriesNote}`,
      );
    })
    .join('');
}

const CALL_COLOURS = ['#2563eb', '#d9480f', '#059669', '#9333ea', '#ca8a04', '#db2777', '#475569'];

interface SkewRow {
  s: Series;
  st: StepResult;
  p: SkewPoint;
  call: string;
  calls: number;
  failed: number;
}

function skewRows(series: Series[]): SkewRow[] {
  return series.flatMap((s) =>
    s.result.steps.flatMap((st) =>
      skewOf(st).flatMap((p) =>
        Object.entries(p.calls).map(([call, o]) => {
          const failed = sumCounts(o.errors);
          return { s, st, p, call, calls: o.ok + failed, failed };
        }),
      ),
    ),
  );
}

function skewCharts(series: Series[], rows: SkewRow[]): string {
  if (rows.length === 0) return '';
  const callNames = [...new Set(rows.map((r) => r.call))];
  const colour = (c: string): string => CALL_COLOURS[callNames.indexOf(c) % CALL_COLOURS.length]!;
  const coreCounts = [...new Set(rows.map((r) => r.st.cores))].sort((a, b) => a - b);
  const rate = (r: SkewRow): number => (r.calls > 0 ? r.failed / r.calls : 0);
  const xs = linearTicks(Math.min(...rows.map((r) => r.p.achievedMedianNs)), Math.max(...rows.map((r) => r.p.achievedMedianNs)), 6);
  const ys = linearTicks(0, Math.min(1, Math.max(...rows.map(rate)) * 1.08) || 1, 5);
  const x = (v: number): number => M.left + ((v - xs.lo) / (xs.hi - xs.lo)) * PW;
  const y = (v: number): number => M.top + PH - ((v - ys.lo) / (ys.hi - ys.lo)) * PH;
  return coreCounts
    .map((cores) => {
      const parts: string[] = [];
      for (const t of xs.ticks) {
        const xx = x(t).toFixed(1);
        parts.push(
          `<line class="grid" x1="${xx}" x2="${xx}" y1="${M.top}" y2="${M.top + PH}"/>` +
            `<text class="tick" x="${xx}" y="${M.top + PH + 18}" text-anchor="middle">${esc(fmtSignedNs(t, fmtNsTick))}</text>`,
        );
      }
      // Calls often coincide (all at 0, or all failing): the first calls get the widest
      // lines and dots and the later ones are drawn on top, thinner, so every call shows.
      const lines: string[] = [];
      const dots: string[] = [];
      callNames.forEach((call, c) => {
        const width = Math.max(1.5, 4.5 - 1.1 * c);
        const radius = Math.max(2.5, 7 - 1.4 * c);
        for (const s of series) {
          const own = rows
            .filter((r) => r.s === s && r.st.cores === cores && r.call === call && r.calls > 0)
            .sort((a, b) => a.p.achievedMedianNs - b.p.achievedMedianNs);
          if (own.length > 1) {
            lines.push(
              `<polyline fill="none" stroke="${colour(call)}" stroke-width="${width}" stroke-opacity="0.85"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''} points="${own.map((r) => `${x(r.p.achievedMedianNs).toFixed(1)},${y(rate(r)).toFixed(1)}`).join(' ')}"/>`,
            );
          }
          for (const r of own) {
            const title = `${s.label}, ${coresText(cores)}, ${call}(): skew asked ${fmtSignedNs(r.p.askedNs)}, achieved ${fmtSignedNs(r.p.achievedMedianNs)}: ${fmtInt(r.failed)} of ${fmtInt(r.calls)} failed (${fmtRate(rate(r))})`;
            dots.push(
              `<circle class="point" data-series="${esc(s.label)}" data-call="${esc(call)}" cx="${x(r.p.achievedMedianNs).toFixed(1)}" cy="${y(rate(r)).toFixed(1)}" r="${radius.toFixed(1)}" ` +
                `fill="${s.hollow ? '#fff' : colour(call)}" stroke="${colour(call)}" stroke-width="2"><title>${esc(title)}</title></circle>`,
            );
          }
        }
      });
      parts.push(...lines, ...dots);
      const label = `Rate of failed calls per syscall against achieved skew between the RST and close(), ${coresText(cores)}`;
      const seriesNote = series.length > 1 ? ` ${series.map((s) => `${s.label}: ${s.hollow ? 'dashed line, open dots' : 'solid line, filled dots'}`).join('; ')}.` : '';
      return figure(
        `Skew curve — ${coresText(cores)}`,
        svgOpen('skew', label, ` data-cores="${cores}"`) +
          legend(callNames.map((c) => ({ label: `${c}()`, colour: colour(c) }))) +
          yAxis(ys.ticks, y, fmtRate, 'calls that failed') +
          xBaseline('achieved skew (median)') +
          parts.join('') +
          '</svg>',
        `Failed = any errno, allowed by POSIX or not. Where calls coincide, earlier calls in the legend have the larger dots.${seriesNote}`,
      );
    })
    .join('');
}

function figure(caption: string, svg: string, note: string): string {
  return `<figure><figcaption>${esc(caption)}</figcaption>${svg}<p class="note">${esc(note)}</p></figure>`;
}

// ---- header and tables ----

/** --skew as it is typed: 300ns, -2us:2us:250ns, auto; nothing for no skew. */
function skewFlag(spec: SkewSpec | undefined): string | undefined {
  switch (spec?.kind) {
    case 'fixed': return fmtAskedSkew(spec.ns);
    case 'sweep': return `${fmtAskedSkew(spec.fromNs)}:${fmtAskedSkew(spec.toNs)}:${fmtAskedSkew(spec.stepNs)}`;
    case 'auto': return 'auto';
    default: return undefined;
  }
}

/**
 * What was measured, as the flags that measure it again (output options left
 * out: they say where results went, not what they are).
 */
export function describeOptions(o: Partial<Options>): string {
  const flags: Array<[string, unknown]> = [
    ['--cores', o.cores?.join(',')],
    [o.durationMs !== undefined ? '--duration' : '--iterations', o.durationMs !== undefined ? `${o.durationMs}ms` : o.iterations],
    ['--race', o.race],
    ['--reset-side', o.resetSide],
    ['--family', o.family],
    ['--path', o.path === 'veth' ? 'veth' : undefined],
    ['--rps-cpus', o.rpsCpus?.join(',')],
    ['--probe', o.probes && o.probes.length > 0 ? o.probes.join(',') : undefined],
    ['--skew', skewFlag(o.skew)],
    ['--repeat', o.repeat !== undefined && o.repeat > 1 ? o.repeat : undefined],
  ];
  return flags.filter(([, v]) => v !== undefined && v !== '').map(([f, v]) => `${f} ${String(v)}`).join(' ');
}

function environmentTable(series: Series[]): string {
  const rows: Array<[string, (r: RunResult) => string]> = [
    ['status', (r) => r.status + (r.error ? `: ${r.error}` : '')],
    ['OS', (r) => `${r.environment.os.type} ${r.environment.os.release} (${r.environment.os.arch})`],
    ['kernel', (r) => r.environment.os.version],
    ['CPU', (r) => r.environment.cpu.model],
    ['CPUs allowed', (r) => `${cpuRanges(r.environment.cpu.allowed)} (${r.environment.cpu.allowed.length} of ${r.environment.cpu.online} online)${r.environment.cpu.canPin ? ', pinned' : ', cannot pin: lanes float'}`],
    ['topology', (r) => (r.environment.topology ? describeTopology(r.environment.topology) + r.environment.topology.notes.map((n) => `; ${n}`).join('') : 'not recorded')],
    ['race', (r) => `${r.race.shape}; RST sent by the ${r.race.resetSide}, victim close() on the ${r.race.victim}`],
    ['path', (r) => describePath(r.options.path, r.options.family, r.environment.netPath)],
    ['options', (r) => describeOptions(r.options)],
    ['tool', (r) => `${r.environment.tool.name} ${r.environment.tool.version}, ${r.environment.node ? `node ${r.environment.node}` : 'C core alone, without Node'}, host ${r.environment.hostname}`],
    ['time', (r) => `${r.startedAt} → ${r.finishedAt}`],
  ];
  const head = series.length > 1 ? `<tr><th scope="col"></th>${series.map((s) => `<th scope="col">${esc(s.label)}</th>`).join('')}</tr>` : '';
  const body = rows
    .map(([name, get]) => {
      const cells = series.map((s) => {
        const text = get(s.result);
        const cls = name === 'status' && s.result.status !== 'completed' ? ' class="bad"' : '';
        return `<td${cls}>${esc(text)}</td>`;
      });
      const differs = series.length > 1 && new Set(series.map((s) => get(s.result))).size > 1 && !['time', 'status'].includes(name);
      return `<tr${differs ? ' class="differs"' : ''}><th scope="row">${esc(name)}</th>${cells.join('')}</tr>`;
    })
    .join('');
  return `<table class="env">${head}<tbody>${body}</tbody></table>`;
}

/** Share of the step's receive work (machine-wide counters) on its victims' CPUs. */
function rxCell(st: StepResult): string {
  const packets = netRxShare(st, 'processedPerCpu');
  const runs = netRxShare(st);
  if (!runs) return '—';
  return (packets ? `packets ${fmtPct(packets.victims)} of ${fmtInt(packets.total)}; ` : '') +
    `${st.netRx?.source} ${fmtPct(runs.victims)} of ${fmtInt(runs.total)} (machine-wide)`;
}

function stepsTable(series: Series[]): string {
  const head = ['run', 'cores', 'threads', 'trials', 'trials/s', 'efficiency', 'close() ok', 'outside POSIX', 'rate', '95% low', '95% high', 'errnos outside POSIX',
    'kernel RSTs per resetting close', 'fd released', 'fd retained', 'fd reused', 'RX work on victims\' CPUs'];
  const rows = series.flatMap((s) =>
    s.result.steps.map((st) => {
      const v = st.posix.close;
      const eff = (st.scaling?.efficiency ?? null);
      const zero = v.outside === 0 && v.attempts > 0;
      return [
        s.label,
        `${st.cores}${st.oversubscribed ? '*' : ''}${st.placement !== undefined && st.placement !== 'linear' ? ` (${st.placement})` : ''}`,
        String(st.threads),
        fmtInt(st.trials) + (st.interrupted ? ' (interrupted)' : ''),
        fmtInt(st.trialsPerSec),
        eff === null ? '—' : fmtPct(eff),
        fmtInt(st.calls.close.ok),
        `${fmtInt(v.outside)} of ${fmtInt(v.attempts)}`,
        v.attempts === 0 ? 'n/a' : zero ? `< ${fmtRate(v.upper95WhenZero ?? v.ci95.high)}` : fmtRate(v.ci95.rate),
        zero ? '0' : fmtRate(v.ci95.low),
        zero ? fmtRate(v.upper95WhenZero ?? v.ci95.high) : fmtRate(v.ci95.high),
        Object.entries(v.outsideErrnos).map(([e, n]) => `${e} ${fmtInt(n)}`).join(', ') || '—',
        rstCell(st),
        fmtInt(st.victimFd.released),
        fmtInt(st.victimFd.retained),
        fmtInt(st.victimFd.reused),
        rxCell(st),
      ];
    }),
  );
  const counter = series.flatMap((s) => s.result.steps).find((st) => st.kernel?.rstCounter)?.kernel;
  return dataTable('Per step', head, rows, series.length > 1, [0, 11, 12]) +
    '<p class="note">' + esc(
      'Kernel RSTs per resetting close: ' + (counter?.rstCounter ? `the kernel's ${counter.rstCounter.name} counter (${counter.source}, ${scopeText(counter.scope)}) over the step, per resetting close; below 1 means the RST injection did not happen and the step is not evidence.` : 'no RST counter was read on this system.') +
      ' After a failed victim close(): fd released = the descriptor was gone (a retry would close another one), retained = still open, reused = already taken by another thread\'s descriptor.',
    ) + '</p>';
}

/** The kernel's cross-check of the RST injection, flagged when it did not happen. */
function rstCell(st: StepResult): string {
  const r = rstsPerReset(st.kernel, st.calls.resetClose?.ok ?? 0);
  if (r === undefined) return '—';
  return r < 1 ? `${r.toFixed(2)} (no RST: not evidence)` : r.toFixed(2);
}

/** Races lost that close() did not report, per step, from the kernel counter where there is one. */
function raceLostTable(series: Series[]): string {
  const steps = series.flatMap((s) => s.result.steps.map((st) => ({ s, st, r: st.raceLost })));
  if (!steps.some(({ r }) => r)) return '';
  const head = ['run', 'cores', 'counter', 'lost', 'of victim closes', 'share', '95% low', '95% high', 'note'];
  const rows = steps.map(({ s, st, r }) => (r?.available
    ? [s.label, String(st.cores), r.counter ?? '', fmtInt(r.lost ?? 0), fmtInt(r.closes ?? 0), fmtRate(r.share ?? 0), fmtRate(r.ci95?.low ?? 0), fmtRate(r.ci95?.high ?? 0), r.caveat ?? '']
    : [s.label, String(st.cores), '—', '—', '—', '—', '—', '—', `unavailable: ${r?.reason ?? 'not recorded'}`]));
  return dataTable('Race lost (kernel counter), apart from the POSIX verdict', head, rows, series.length > 1, [0, 2, 8]);
}

/** Sensitivity per step: hits per second with their Garwood interval, and the time to the first. */
function hitsTable(series: Series[]): string {
  const head = ['run', 'cores', 'hits', 'step time', 'hits/s [95% CI]', 'first hit'];
  const rows = series.flatMap((s) =>
    s.result.steps.map((st) => {
      const h = hitsFor(st);
      return [s.label, `${st.cores}${st.oversubscribed ? '*' : ''}`, fmtInt(h.count), `${h.seconds.toPrecision(3)} s`, hitsCell(h), firstHitCell(h)];
    }),
  );
  return dataTable('Hits per second (victim close() errors outside POSIX)', head, rows, series.length > 1, [0, 4]);
}

function latencyTable(rows: LatencyRow[], many: boolean): string {
  if (rows.length === 0) return '';
  const head = ['run', 'cores', 'call', 'outcome', 'calls', ...PERCENTILES.map((p) => p.name)];
  return dataTable(
    'Latency (bucket upper bounds)',
    head,
    rows.map((r) => [r.s.label, `${r.st.cores}${r.st.oversubscribed ? '*' : ''}`, `${r.call}()`, r.outcome, fmtInt(r.count), ...PERCENTILES.map((p) => fmtNs(r.values[p.name]!))]),
    many,
    [0, 2, 3],
  );
}

function skewTable(rows: SkewRow[], many: boolean): string {
  if (rows.length === 0) return '';
  const head = ['run', 'cores', 'skew asked', 'achieved median', 'achieved p10..p90', 'call', 'calls', 'failed', 'rate', 'errnos'];
  return dataTable(
    'Skew',
    head,
    rows.map((r) => [
      r.s.label,
      String(r.st.cores),
      fmtSignedNs(r.p.askedNs) + (r.p.search ? ' (search)' : ''),
      fmtSignedNs(r.p.achievedMedianNs),
      r.p.achieved ? `${fmtSignedNs(r.p.achieved.p10Ns)} .. ${fmtSignedNs(r.p.achieved.p90Ns)}` : '—',
      `${r.call}()`,
      fmtInt(r.calls),
      fmtInt(r.failed),
      r.calls ? fmtRate(r.failed / r.calls) : 'n/a',
      Object.entries(r.p.calls[r.call]?.errors ?? {}).map(([e, n]) => `${e} ${fmtInt(n)}`).join(', ') || '—',
    ]),
    many,
    [0, 5, 9],
  );
}

const JUDGEMENT_CLASS: Record<CoreComparison['judgement'], string> = { BETTER: 'good', WORSE: 'bad', 'no significant change': '', 'not measured': '' };

function throughputText(t: CoreComparison['throughput']): string {
  const ci = (x?: { low: number; high: number; n: number }): string => (x ? ` [${fmtInt(x.low)}, ${fmtInt(x.high)}] (n=${x.n})` : '');
  const change = `${t.change >= 0 ? '+' : ''}${(t.change * 100).toFixed(1)}%`;
  const judged = t.significant === undefined ? 'no interval: run both with --repeat' : t.significant ? 'intervals apart' : 'within noise';
  return `throughput ${fmtInt(t.base)}${ci(t.baseCi)} → ${fmtInt(t.new)}${ci(t.newCi)} trials/s: ${change}, ${judged}`;
}

/** What the terminal's compare says, per run against the base: verdicts, rows with p, throughput, warnings. */
function comparisonSection(comparisons: Comparison[], labels: string[]): string {
  if (comparisons.length === 0) return '';
  const parts = ['<h2>Comparison</h2>'];
  comparisons.forEach((c, i) => {
    const name = labels[i + 1] ?? c.new.label;
    const tests = new Set(c.cores.flatMap((k) => k.rows.map((r) => r.test)));
    parts.push(`<section class="comparison" data-run="${esc(name)}">`);
    if (comparisons.length > 1) parts.push(`<h3>${esc(name)} against ${esc(labels[0] ?? 'base')}</h3>`);
    parts.push(`<p class="note">${esc(`${labels[0] ?? 'base'}: ${c.base.label}; ${name}: ${c.new.label}. ` +
      'Rates with Wilson 95% intervals; p two-sided, ' +
      (tests.has('quasi-binomial') ? 'from a quasi-binomial F test over the repeats (counts their run-to-run drift; disp = dispersion)' : "from Fisher's exact test (no repeats on both sides: run-to-run drift is not counted)") +
      `; * = significant at ${c.alpha} after Bonferroni over the rows of a core count.`)}</p>`);
    for (const k of c.cores) {
      const cls = JUDGEMENT_CLASS[k.judgement];
      parts.push(`<p class="verdict${cls ? ` ${cls}` : ''}" data-cores="${k.cores}" data-judgement="${esc(k.judgement)}">${esc(`${coresText(k.cores)}: ${k.verdict}`)}</p>`);
      parts.push(dataTable(
        `${coresText(k.cores)}: ${labels[0] ?? 'base'} → ${name}`,
        ['call:outcome', labels[0] ?? 'base', name, 'difference', 'p', 'test', ''],
        k.rows.map((r) => [
          `${r.call}:${r.outcome}`, describeSide(r.base), describeSide(r.new),
          `${r.difference >= 0 ? '+' : ''}${r.difference.toExponential(1)}`, fmtP(r.pValue),
          r.test === 'quasi-binomial' ? `quasi-binomial, disp ${(r.dispersion ?? 1).toFixed(1)}, df ${r.df}` : 'Fisher',
          r.significant ? '*' : '',
        ]),
        true,
        [0, 1, 2, 5],
      ));
      parts.push(`<p class="throughput" data-cores="${k.cores}">${esc(throughputText(k.throughput))}</p>`);
    }
    if (c.warnings.length > 0) parts.push(`<ul class="warnings">${c.warnings.map((w) => `<li>${esc(`warning: ${w}`)}</li>`).join('')}</ul>`);
    if (c.onlyIn.base.length + c.onlyIn.new.length > 0) {
      parts.push(`<p class="note">${esc(`not compared: core counts only in ${labels[0] ?? 'base'} (${c.onlyIn.base.join(',') || '-'}), only in ${name} (${c.onlyIn.new.join(',') || '-'})`)}</p>`);
    }
    parts.push('</section>');
  });
  return parts.join('\n');
}

/** Numbers right-aligned, words (the columns in textCols) left-aligned. */
function dataTable(caption: string, head: string[], rows: string[][], showRun: boolean, textCols: number[]): string {
  const keep = head.map((h, i) => showRun || i !== 0);
  const cell = (c: string, i: number): string => `<td${textCols.includes(i) ? ' class="text"' : ''}>${esc(c)}</td>`;
  const th = head.filter((_, i) => keep[i]).map((h) => `<th scope="col">${esc(h)}</th>`).join('');
  const body = rows
    .map((r) => `<tr>${r.map((c, i) => (keep[i] ? cell(c, i) : '')).join('')}</tr>`)
    .join('');
  return `<table class="data"><caption>${esc(caption)}</caption><thead><tr>${th}</tr></thead><tbody>${body}</tbody></table>`;
}

const CSS = `
:root{color-scheme:light}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:#111827;background:#fff;margin:0;padding:24px 32px;max-width:1100px}
h1{font-size:22px;margin:0 0 4px}
h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #e5e7eb;padding-bottom:4px}
.verdict{font-weight:600;margin:8px 0 16px}
.verdict.bad{color:#b91c1c}
.verdict.good{color:#047857}
h3{font-size:15px;margin:20px 0 6px}
ul.warnings{color:#92400e;margin:4px 0 12px}
table{border-collapse:collapse;margin:8px 0 16px;font-variant-numeric:tabular-nums}
th,td{border:1px solid #e5e7eb;padding:4px 8px;text-align:left;vertical-align:top}
table.data td{text-align:right;white-space:nowrap}
table.data td.text{text-align:left}
caption{text-align:left;font-weight:600;padding:4px 0}
th{background:#f9fafb;font-weight:600}
tr.differs th,tr.differs td{background:#fff7ed}
td.bad{color:#b91c1c;font-weight:600}
figure{margin:16px 0 24px;max-width:${W}px}
figcaption{font-weight:600;font-size:15px;margin-bottom:4px}
svg.chart{display:block;width:100%;max-width:${W}px;height:auto;border:1px solid #e5e7eb;border-radius:4px;background:#fff}
svg .grid{stroke:#eef0f3;stroke-width:1}
svg .axis{stroke:#6b7280;stroke-width:1}
svg text{font:12px system-ui,"DejaVu Sans",sans-serif;fill:#374151}
svg .axis-title{font-size:12px;fill:#111827}
svg .annot{font-size:11px;fill:#111827}
svg .eff{fill:#4b5563}
svg .legend{font-size:12px}
.note{color:#4b5563;font-size:12.5px;margin:4px 0}
`;

/** The HTML report for one run, or base vs new for two runs. */
export function renderHtml(results: RunResult[], options: HtmlOptions = {}): string {
  if (results.length < 1) throw new Error('renderHtml takes at least one result');
  const labels = options.labels ?? (results.length === 1 ? ['run'] : results.length === 2 ? ['base', 'new'] : results.map((_, i) => (i === 0 ? 'base' : `run ${i}`)));
  const series: Series[] = results.map((result, i) => ({ label: labels[i]!, result, ...SERIES_STYLE[results.length > 1 ? i % SERIES_STYLE.length : 1]! }));
  if (results.length === 1) series[0]!.colour = SERIES_STYLE[0]!.colour;
  const steps = results.flatMap((r) => r.steps);
  const cores = [...new Set(steps.map((s) => s.cores))].sort((a, b) => a - b);
  const over = new Set(steps.filter((s) => s.oversubscribed).map((s) => s.cores));
  const title = options.title ?? (results.length === 2 ? 'close-stress: base vs new' : 'close-stress report');
  const lat = latencyRows(series);
  const skew = skewRows(series);
  const many = series.length > 1;

  const verdicts = series.map((s) => {
    const attempts = s.result.steps.reduce((a, st) => a + st.posix.close.attempts, 0);
    const outside = s.result.steps.reduce((a, st) => a + st.posix.close.outside, 0);
    const prefix = many ? `${s.label}: ` : '';
    if (attempts === 0) return `<p class="verdict">${esc(prefix)}no victim close() was measured.</p>`;
    const kernel = `<p class="note">${esc(prefix + expectationLine(s.result))}</p>`;
    if (s.result.steps.some((st) => st.closeVerdict?.verdict === 'unverified')) {
      return `<p class="verdict bad">${esc(prefix + verdictLine(s.result).replace(/^verdict: /, ''))}</p>${kernel}`;
    }
    if (outside === 0) return `<p class="verdict">${esc(`${prefix}close() stayed within POSIX in all ${fmtInt(attempts)} victim closes.`)}</p>${kernel}`;
    const names = [...new Set(s.result.steps.flatMap((st) => Object.keys(st.posix.close.outsideErrnos)))].join(', ');
    return `<p class="verdict bad">${esc(`${prefix}close() returned errors POSIX does not allow (${names}) in ${fmtInt(outside)} of ${fmtInt(attempts)} victim closes.`)}</p>${kernel}`;
  });

  const body = [
    `<h1>${esc(title)}</h1>`,
    ...verdicts,
    comparisonSection(options.comparisons ?? [], labels),
    environmentTable(series),
    over.size > 0 ? '<p class="note">* oversubscribed: more threads than allowed CPUs, so threads share CPUs.</p>' : '',
    '<h2>Charts</h2>',
    rateChart(series, cores, over),
    throughputChart(series, cores, over),
    latencyCharts(series, cores, over, lat),
    skewCharts(series, skew),
    '<h2>Numbers</h2>',
    stepsTable(series),
    hitsTable(series),
    raceLostTable(series),
    latencyTable(lat, many),
    skewTable(skew, many),
  ].join('\n');

  return [
    '<!DOCTYPE html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    // Nothing in this file may fetch anything: a report must open the same offline.
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">`,
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${esc(title)}</title>`,
    `<style>${CSS}</style>`,
    '</head>',
    `<body>\n${body}\n</body>`,
    '</html>',
    '',
  ].join('\n');
}
