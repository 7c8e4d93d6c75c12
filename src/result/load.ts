import { readFileSync } from 'node:fs';
import { UsageError } from '../common/errors.js';
import { readJournal } from './journal.js';
import { SCHEMA, type RunResult } from './result.js';

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Enough of the shape that the report and compare code can trust it; a file
 * edited by hand or cut short is refused in one line, not a TypeError.
 */
function checked(file: string, r: RunResult): RunResult {
  const bad = (what: string): never => {
    throw new UsageError(`${file}: not a usable close-stress result (${what})`);
  };
  if (!isObject(r.options) || !Array.isArray(r.options.cores)) bad('no options');
  if (!isObject(r.race) || !isObject(r.environment)) bad('no race or environment');
  if (!Array.isArray(r.steps)) bad('no steps');
  r.steps.forEach((st: unknown, i) => {
    const step = st as Record<string, unknown>;
    if (!isObject(step) || typeof step.cores !== 'number' || typeof step.trials !== 'number') bad(`step ${i + 1} has no cores or trials`);
    const calls = step.calls;
    if (!isObject(calls) || !isObject(calls.close) || typeof calls.close.ok !== 'number' || !isObject(calls.close.errors)) {
      bad(`step ${i + 1} has no close() outcomes`);
    }
  });
  return r;
}

/** A journal whose step lines are not steps fails inside the reader: say which file, in one line. */
function journal(file: string): RunResult {
  try {
    return checked(file, readJournal(file));
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(`${file}: not a usable close-stress journal (${(err as Error).message})`);
  }
}

function parses(line: string): boolean {
  try {
    JSON.parse(line);
    return true;
  } catch {
    return false;
  }
}

/** Why a file that is not JSON, and whose first line is not a journal record, cannot be read. */
function unreadable(file: string, text: string, why: string): string {
  if (text.trim() === '') return `${file}: empty, not a close-stress result or journal`;
  if (/^\s*\{\s*"type":\s*"run"/.test(text)) {
    return `${file}: a close-stress journal cut off inside its header after ${text.length} bytes: no step was recorded`;
  }
  // A result is one pretty-printed object (first line a lone '{'), or one line when compacted (jq -c).
  const result = /^\s*\{\s*"schema":\s*"close-stress\/result"/.test(text);
  if (result || /^\s*\{\s*$/.test(text.slice(0, text.indexOf('\n') + 1 || undefined))) {
    const what = result ? 'a close-stress result' : 'a JSON document';
    return `${file}: ${what} cut off after ${text.length} bytes, a truncated result (${why}); a run's journal (<--json>.jsonl) keeps its finished steps`;
  }
  return `${file}: not a close-stress result or journal (not JSON: ${why})`;
}

/** A saved run, from a --json result or a .jsonl journal (told apart by content, not name). */
export function loadRun(file: string): RunResult {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  let whole: unknown;
  try {
    whole = JSON.parse(text);
  } catch (err) {
    // A journal is one object per line, so its first line parses on its own.
    // A file whose first line does not was cut off (a full disk, a copy
    // stopped half-way) or is no run at all, and must say which, not that a
    // journal header is missing.
    const first = text.slice(0, text.indexOf('\n') + 1 || undefined);
    if (!parses(first)) throw new UsageError(unreadable(file, text, (err as Error).message.replace(/\s+/g, ' ')));
    return journal(file);
  }
  if (!isObject(whole)) throw new UsageError(`${file}: not a close-stress result (not a JSON object)`);
  const r = whole as Partial<RunResult> & { type?: string };
  if (r.type === 'run') return journal(file); // a journal cut off after its header
  if (r.schema !== SCHEMA) throw new UsageError(`${file}: not a close-stress result (${r.schema === undefined ? 'no schema field' : `schema '${String(r.schema)}'`})`);
  return checked(file, r as RunResult);
}
