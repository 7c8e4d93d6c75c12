import type { StepResult } from '../result/result.js';
import { sumCounts, type SkewPoint } from '../tally/tally.js';
import { fmtInt } from '../common/format.js';
import { figure, legend, linearTicks, M, PH, PW, svgOpen, xBaseline, yAxis, type Series } from './chart-frame.js';
import { coresText, esc, fmtNsTick, fmtRate, fmtSignedNs } from './html-format.js';
import { dataTable } from './html-table.js';

// Results written before a field existed lack it: read them as optional.
const skewOf = (s: StepResult): SkewPoint[] => s.skew?.points ?? [];

const CALL_COLOURS = ['#2563eb', '#d9480f', '#059669', '#9333ea', '#ca8a04', '#db2777', '#475569'];

export interface SkewRow {
  s: Series;
  st: StepResult;
  p: SkewPoint;
  call: string;
  calls: number;
  failed: number;
}

export function skewRows(series: Series[]): SkewRow[] {
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

export function skewCharts(series: Series[], rows: SkewRow[]): string {
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

export function skewTable(rows: SkewRow[], many: boolean): string {
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
