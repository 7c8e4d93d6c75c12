import type { RunResult } from '../result/result.js';
import { esc } from './html-format.js';

// What every chart of the HTML report shares: scales, the SVG frame and axes, series styles, legends, the figure.

function niceStep(span: number, ticks: number): number {
  const raw = span / Math.max(1, ticks);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const f = raw / mag;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
}

export function linearTicks(lo: number, hi: number, count = 5): { lo: number; hi: number; ticks: number[] } {
  if (!(hi > lo)) hi = lo + 1;
  const step = niceStep(hi - lo, count);
  const nlo = Math.floor(lo / step) * step;
  const nhi = Math.ceil(hi / step) * step;
  const ticks: number[] = [];
  for (let v = nlo; v <= nhi + step / 2; v += step) ticks.push(+v.toPrecision(12));
  return { lo: nlo, hi: nhi, ticks };
}

export function logTicks(values: number[]): { lo: number; hi: number; ticks: number[] } {
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

export const W = 760;
export const H = 340;
export const M = { top: 36, right: 24, bottom: 56, left: 78 };
export const PW = W - M.left - M.right;
export const PH = H - M.top - M.bottom;

export interface Series {
  label: string;
  result: RunResult;
  colour: string;
  dash: string;
  hollow: boolean;
}

export const SERIES_STYLE = [
  { colour: '#2563eb', dash: '6 4', hollow: true },
  { colour: '#d9480f', dash: '', hollow: false },
  { colour: '#059669', dash: '2 3', hollow: false },
  { colour: '#9333ea', dash: '8 3 2 3', hollow: false },
  { colour: '#ca8a04', dash: '1 3', hollow: false },
  { colour: '#db2777', dash: '4 2', hollow: false },
];

export function svgOpen(kind: string, label: string, extra = ''): string {
  return (
    `<svg class="chart" data-chart="${kind}"${extra} role="img" aria-label="${esc(label)}" ` +
    `viewBox="0 0 ${W} ${H}" preserveAspectRatio="xMidYMid meet"><title>${esc(label)}</title>`
  );
}

export function yAxis(ticks: number[], y: (v: number) => number, fmt: (v: number) => string, title: string): string {
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

export function xBaseline(title: string): string {
  return (
    `<line class="axis" x1="${M.left}" x2="${W - M.right}" y1="${M.top + PH}" y2="${M.top + PH}"/>` +
    `<text class="axis-title" x="${M.left + PW / 2}" y="${H - 10}" text-anchor="middle">${esc(title)}</text>`
  );
}

/** Core counts are categories: evenly spaced, whatever their values. */
export function coreAxis(cores: number[], oversubscribed: Set<number>): { x: (c: number) => number; band: number; svg: string } {
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

export function legend(items: Array<{ label: string; colour: string; dash?: string; hollow?: boolean }>): string {
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

export function seriesLegend(series: Series[]): string {
  return series.length > 1 ? legend(series.map((s) => ({ label: s.label, colour: s.colour, dash: s.dash, hollow: s.hollow }))) : '';
}

export function marker(x: number, y: number, s: Series, cls: string, data: string, title: string): string {
  return (
    `<circle class="${cls}" ${data} cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="4.5" ` +
    `fill="${s.hollow ? '#fff' : s.colour}" stroke="${s.colour}" stroke-width="2"><title>${esc(title)}</title></circle>`
  );
}

export function offsetFor(i: number, n: number, band: number): number {
  const spread = Math.min(band * 0.5, 36 * (n - 1));
  return n === 1 ? 0 : -spread / 2 + (spread * i) / (n - 1);
}

export function figure(caption: string, svg: string, note: string): string {
  return `<figure><figcaption>${esc(caption)}</figcaption>${svg}<p class="note">${esc(note)}</p></figure>`;
}
