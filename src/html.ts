import type { RunResult } from './result.js';

/** Placeholder: the HTML report is built on another branch and replaces this file. */
export function renderHtml(_results: RunResult[], _options?: { title?: string }): string {
  throw new Error('HTML report not built yet');
}
