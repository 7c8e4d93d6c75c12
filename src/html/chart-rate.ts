import { fmtInt } from '../common/format.js';
import { coreAxis, figure, logTicks, M, marker, offsetFor, PH, seriesLegend, svgOpen, yAxis, type Series } from './chart-frame.js';
import { coresText, esc, fmtDecade, fmtRate } from './html-format.js';

export function rateChart(series: Series[], cores: number[], over: Set<number>): string {
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
