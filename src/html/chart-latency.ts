import type { StepResult } from '../result/result.js';
import { bucketHigh, percentiles, PERCENTILES as LATENCY_PERCENTILES, type Histogram } from '../tally/latency.js';
import { fmtInt } from '../common/format.js';
import { coreAxis, figure, legend, logTicks, M, offsetFor, PH, svgOpen, yAxis, type Series } from './chart-frame.js';
import { coresText, esc, fmtNs, fmtNsTick } from './html-format.js';
import { dataTable } from './html-table.js';

type LatencyByCall = Record<string, Record<string, Histogram | undefined> | undefined>;

// Results written before a field existed lack it: read them as optional.
const latencyOf = (s: StepResult): LatencyByCall | undefined => s.latency as LatencyByCall | undefined;

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

const PCT_COLOURS: Record<string, string> = {
  p50: '#0f766e',
  p90: '#7c3aed',
  p99: '#c2410c',
  'p99.9': '#be185d',
  max: '#374151',
};

export interface LatencyRow {
  s: Series;
  st: StepResult;
  call: string;
  outcome: string;
  count: number;
  values: Record<string, number>;
}

export function latencyRows(series: Series[]): LatencyRow[] {
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

export function latencyCharts(series: Series[], cores: number[], over: Set<number>, rows: LatencyRow[]): string {
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

export function latencyTable(rows: LatencyRow[], many: boolean): string {
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
