import { fmtInt } from '../common/format.js';
import { coreAxis, figure, linearTicks, M, PH, seriesLegend, svgOpen, yAxis, type Series } from './chart-frame.js';
import { coresText, esc, fmtPct, fmtPerSec } from './html-format.js';

export function throughputChart(series: Series[], cores: number[], over: Set<number>): string {
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
