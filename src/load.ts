import { readFileSync } from 'node:fs';
import { UsageError } from './errors.js';
import { readJournal } from './journal.js';
import { SCHEMA, type RunResult } from './result.js';

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
  } catch {
    return readJournal(file);
  }
  const r = whole as Partial<RunResult> & { type?: string };
  if (r.type === 'run') return readJournal(file); // a journal cut off after its header
  if (r.schema !== SCHEMA) throw new UsageError(`${file}: not a close-stress result (schema '${String(r.schema)}')`);
  return r as RunResult;
}
