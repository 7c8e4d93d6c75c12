import { describeSide, fmtP, type Comparison, type CoreComparison } from '../report/compare.js';
import { fmtInt } from '../common/format.js';
import { coresText, esc } from './html-format.js';
import { dataTable } from './html-table.js';

const JUDGEMENT_CLASS: Record<CoreComparison['judgement'], string> = { BETTER: 'good', WORSE: 'bad', 'no significant change': '', 'not measured': '' };

function throughputText(t: CoreComparison['throughput']): string {
  const ci = (x?: { low: number; high: number; n: number }): string => (x ? ` [${fmtInt(x.low)}, ${fmtInt(x.high)}] (n=${x.n})` : '');
  const change = `${t.change >= 0 ? '+' : ''}${(t.change * 100).toFixed(1)}%`;
  const judged = t.significant === undefined ? 'no interval: run both with --repeat' : t.significant ? 'intervals apart' : 'within noise';
  return `throughput ${fmtInt(t.base)}${ci(t.baseCi)} → ${fmtInt(t.new)}${ci(t.newCi)} trials/s: ${change}, ${judged}`;
}

/** What the terminal's compare says, per run against the base: verdicts, rows with p, throughput, warnings. */
export function comparisonSection(comparisons: Comparison[], labels: string[]): string {
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
