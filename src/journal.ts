import { closeSync, fsyncSync, ftruncateSync, openSync, readFileSync, statSync } from 'node:fs';
import type { Environment } from './env.js';
import { UsageError } from './errors.js';
import type { Options } from './options.js';
import { outputError, stepResult, withScaling, writeWhole, type RunResult, type Status } from './result.js';
import type { StepTally } from './tally.js';

export const JOURNAL_SCHEMA = 'close-stress/journal';

export interface JournalHeader {
  type: 'run';
  schema: typeof JOURNAL_SCHEMA;
  schemaVersion: 1;
  tool: { name: string; version: string };
  options: Options;
  race: RunResult['race'];
  environment: Environment;
  startedAt: string;
}

/** `--journal PATH`, else `<--json path>.jsonl` when --json is given, else none. */
export function journalPath(options: Pick<Options, 'json' | 'journal'>): string | undefined {
  return options.journal ?? (options.json !== undefined ? `${options.json}.jsonl` : undefined);
}

/**
 * Append-only JSONL record of a run: one line per finished step, each fsynced
 * before the next step starts, so a panic or kill -9 costs at most the step
 * in progress.
 */
export class JournalWriter {
  private fd: number | undefined;
  /** Bytes of whole records written. */
  private size = 0;
  /** The first write that failed (a full disk): journaling stops, the run does not. */
  error: Error | undefined;

  private constructor(readonly path: string) {}

  static open(path: string, header: Omit<JournalHeader, 'type' | 'schema' | 'schemaVersion'>): JournalWriter {
    const w = new JournalWriter(path);
    try {
      w.fd = openSync(path, 'w', 0o644);
    } catch (err) {
      w.error = outputError(path, err);
    }
    w.append({ type: 'run', schema: JOURNAL_SCHEMA, schemaVersion: 1, ...header });
    return w;
  }

  private append(record: object): void {
    if (this.fd === undefined) return;
    const before = this.size;
    try {
      const line = Buffer.from(`${JSON.stringify(record)}\n`);
      writeWhole(this.fd, line);
      fsyncSync(this.fd);
      this.size += line.length;
    } catch (err) {
      // The measurement goes on and is still printed and saved as JSON; the
      // caller reports the lost journal after the table. The line that did
      // not fit is cut off, so the journal holds whole records only.
      this.error ??= outputError(this.path, err);
      try {
        ftruncateSync(this.fd, before);
        fsyncSync(this.fd);
      } catch {
        /* the reader drops a torn last line anyway */
      }
      closeSync(this.fd);
      this.fd = undefined;
    }
  }

  step(step: StepTally): void {
    this.append({ type: 'step', step });
  }

  end(status: Status, error?: string): void {
    this.append({ type: 'end', status, ...(error !== undefined && { error }), finishedAt: new Date().toISOString() });
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

type Line =
  | JournalHeader
  | { type: 'step'; step: StepTally }
  | { type: 'end'; status: Status; error?: string; finishedAt: string };

/**
 * A journal back into a result. Steps count whatever happened after them; a
 * journal with no end line (kill -9, panic, power loss) reads as interrupted,
 * and a last line cut off mid-write is dropped.
 */
export function readJournal(path: string): RunResult {
  const text = readFileSync(path, 'utf8');
  const lines = text.split('\n');
  const records: Line[] = [];
  for (const [i, line] of lines.entries()) {
    if (line.trim() === '') continue;
    try {
      records.push(JSON.parse(line) as Line);
    } catch {
      if (i === lines.length - 1 || (i === lines.length - 2 && lines[i + 1] === '')) break; // torn last write
      throw new UsageError(`${path}: line ${i + 1} is not JSON; not a close-stress journal`);
    }
  }
  const header = records[0];
  if (!header || header.type !== 'run' || header.schema !== JOURNAL_SCHEMA) {
    throw new UsageError(`${path}: no close-stress journal header (first line must be {"type":"run","schema":"${JOURNAL_SCHEMA}",...})`);
  }
  const steps = withScaling(
    records.flatMap((r) => (r.type === 'step' ? [stepResult(r.step, header.environment?.os)] : [])),
    header?.environment?.cpu?.allowed?.length,
  );
  const end = records.find((r): r is Extract<Line, { type: 'end' }> => r.type === 'end');
  const error = end ? end.error : 'journal has no end line: the run was cut off';
  return {
    schema: 'close-stress/result',
    schemaVersion: 1,
    status: end?.status ?? 'interrupted',
    ...(error !== undefined && { error }),
    options: header.options,
    race: header.race,
    environment: header.environment,
    startedAt: header.startedAt,
    finishedAt: end?.finishedAt ?? statSync(path).mtime.toISOString(),
    steps,
  };
}
