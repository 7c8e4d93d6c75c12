import type { RunResult } from '../result/result.js';
import type { Histogram } from '../tally/latency.js';
import { fmtInt } from '../common/format.js';
import { expectationLine, verdictLine } from '../report/report.js';
import type { Comparison } from '../report/compare.js';
import { SERIES_STYLE, W, type Series } from './chart-frame.js';
import { rateChart } from './chart-rate.js';
import { throughputChart } from './chart-throughput.js';
import { latencyCharts, latencyRows, latencyTable } from './chart-latency.js';
import { skewCharts, skewRows, skewTable } from './chart-skew.js';
import { environmentTable } from './html-environment.js';
import { hitsTable, raceLostTable, stepsTable } from './html-steps.js';
import { comparisonSection } from './html-comparison.js';
import { esc } from './html-format.js';

/**
 * One self-contained HTML report: inline CSS and SVG, no script, and a
 * Content-Security-Policy that forbids every fetch, so the file can be mailed,
 * attached to a PR or opened offline and shows exactly what was measured.
 * One result is a report; two are "base vs new" drawn on the same axes.
 * This module is the page; each chart is a chart-*.ts (chart-frame.ts: what
 * they share) and each table section an html-*.ts.
 */

export interface HtmlOptions {
  title?: string;
  /** Series labels, base first (default: "run", or "base" and "new"). */
  labels?: string[];
  /** compare's judgement of each run against the first (the terminal's verdicts, in the page). */
  comparisons?: Comparison[];
}

export type { Histogram };
export { bucketUpperBound, histogramPercentiles, PERCENTILES } from './chart-latency.js';
export { escapeHtml } from './html-format.js';
export { describeOptions } from './html-environment.js';

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
