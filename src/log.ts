import { pino, type Logger } from 'pino';
import type { LogLevel } from './options.js';

/** Where log lines go when they share stderr with progress bars. */
export interface LineSink {
  write(line: string): void;
}

/**
 * Structured events (start, steps, warnings) for machines: to a file when
 * given (synchronously, so a crash loses none), else through `stderr`, which
 * the progress display routes above its bars.
 */
export function createLogger(level: LogLevel, file: string | undefined, stderr: LineSink): Logger {
  const destination = file ? pino.destination({ dest: file, sync: true, append: true }) : { write: (s: string) => stderr.write(s) };
  return pino({ level, base: { tool: 'close-stress' }, timestamp: pino.stdTimeFunctions.isoTime }, destination);
}
