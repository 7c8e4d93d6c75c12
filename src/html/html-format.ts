import { fmtRate as fmtTextRate } from '../common/format.js';

// How the HTML report writes text and numbers: escaped, and in one notation per kind of value.

export function escapeHtml(value: unknown): string {
  return String(value)
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}
export const esc = escapeHtml;

/** One notation for every small rate on a chart, so 1.5e-3 and 4.0e-4 compare at a glance. */
export const fmtRate = (r: number): string => fmtTextRate(r, 0.01);
export const fmtDecade = (v: number): string => (v >= 1 ? String(v) : `1e${Math.round(Math.log10(v))}`);
export function fmtNs(ns: number): string {
  if (ns < 1e3) return `${Math.round(ns)} ns`;
  // Three significant digits, zeros kept, so a column of durations lines up.
  if (ns < 1e6) return `${(ns / 1e3).toPrecision(3)} µs`;
  if (ns < 1e9) return `${(ns / 1e6).toPrecision(3)} ms`;
  return `${(ns / 1e9).toPrecision(3)} s`;
}
/** Axis ticks are round values: no trailing zeros. */
export function fmtNsTick(ns: number): string {
  return fmtNs(ns).replace(/\.0+ /, ' ');
}
export function fmtSignedNs(ns: number, fmt = fmtNs): string {
  return ns < 0 ? `−${fmt(-ns)}` : ns === 0 ? '0' : fmt(ns);
}
export function fmtPerSec(n: number): string {
  if (n >= 1e6) return `${+(n / 1e6).toPrecision(3)}M/s`;
  if (n >= 1e3) return `${+(n / 1e3).toPrecision(3)}k/s`;
  return `${+n.toPrecision(3)}/s`;
}
export const coresText = (n: number): string => `${n} ${n === 1 ? 'core' : 'cores'}`;
export const fmtPct = (x: number): string => `${Math.round(x * 100)}%`;
