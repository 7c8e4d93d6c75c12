import { esc } from './html-format.js';

/** Numbers right-aligned, words (the columns in textCols) left-aligned. */
export function dataTable(caption: string, head: string[], rows: string[][], showRun: boolean, textCols: number[]): string {
  const keep = head.map((h, i) => showRun || i !== 0);
  const cell = (c: string, i: number): string => `<td${textCols.includes(i) ? ' class="text"' : ''}>${esc(c)}</td>`;
  const th = head.filter((_, i) => keep[i]).map((h) => `<th scope="col">${esc(h)}</th>`).join('');
  const body = rows
    .map((r) => `<tr>${r.map((c, i) => (keep[i] ? cell(c, i) : '')).join('')}</tr>`)
    .join('');
  return `<table class="data"><caption>${esc(caption)}</caption><thead><tr>${th}</tr></thead><tbody>${body}</tbody></table>`;
}
