import { openSync, writeSync } from 'node:fs';
import { pino, type Logger } from 'pino';
import type { LogLevel } from './options.js';

/** Where log lines go when they share stderr with progress bars. */
export interface LineSink {
  write(line: string): void;
}

/**
 * A log file written synchronously, so a crash loses no line. A write that
 * fails (a full disk) must not end the measurement: the first error is kept
 * for the caller to report once the results are out, and logging stops.
 */
class LogFile implements LineSink {
  private readonly fd: number;
  error?: Error;

  constructor(readonly file: string) {
    this.fd = openSync(file, 'a', 0o644);
  }

  write(line: string): void {
    if (this.error) return;
    try {
      const bytes = Buffer.from(line);
      for (let at = 0; at < bytes.length; ) at += writeSync(this.fd, bytes, at);
    } catch (err) {
      this.error = err as Error;
    }
  }
}

const logFiles = new WeakMap<Logger, LogFile>();

const LEVEL_WORDS: [number, string][] = [[50, 'error'], [40, 'warning'], [30, 'info'], [0, 'debug']];

/**
 * A person at a terminal reads sentences: `close-stress: warning: stopping:
 * saving what was measured`. The structured record (event, fields, time) is
 * what --log-file keeps.
 */
function humanLine(json: string): string {
  try {
    const rec = JSON.parse(json) as { level?: number; msg?: string };
    const word = LEVEL_WORDS.find(([n]) => (rec.level ?? 0) >= n)?.[1] ?? 'info';
    return `close-stress: ${word}: ${rec.msg ?? ''}\n`;
  } catch {
    return json;
  }
}

/**
 * Structured events (start, steps, warnings) for machines: to a file when
 * given, else as sentences through `stderr`, which the progress display routes above its bars.
 */
export function createLogger(level: LogLevel, file: string | undefined, stderr: LineSink): Logger {
  const destination = file ? new LogFile(file) : { write: (s: string) => stderr.write(humanLine(s)) };
  const log = pino({ level, base: { tool: 'close-stress' }, timestamp: pino.stdTimeFunctions.isoTime }, destination);
  if (destination instanceof LogFile) logFiles.set(log, destination);
  return log;
}

/** Why the log file stopped taking lines, if it did. */
export function logFileError(log: Logger): { file: string; message: string } | undefined {
  const f = logFiles.get(log);
  return f?.error ? { file: f.file, message: f.error.message } : undefined;
}
