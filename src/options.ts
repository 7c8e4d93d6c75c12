import { UsageError } from './errors.js';

export type Race = 'same-thread' | 'cross-thread';
export type ResetSide = 'server' | 'client';
export type Family = 4 | 6;
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

/** Everything a run needs to know, validated; the plan is derived from it. */
export interface Options {
  /** Core counts to run, in order: one step each. */
  cores: number[];
  iterations: number;
  race: Race;
  resetSide: ResetSide;
  family: Family;
  json?: string;
  force: boolean;
  quiet: boolean;
  logFile?: string;
  logLevel: LogLevel;
}

/** One lane per core, and a lane is a thread (two in cross-thread runs): far
 * past any machine this targets, and the size of the native CPU masks. */
export const MAX_CORES = 1024;
export const RACES: readonly Race[] = ['same-thread', 'cross-thread'];
export const RESET_SIDES: readonly ResetSide[] = ['server', 'client'];
export const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

const DIGITS = /^[0-9]+(_[0-9]+)*$/;
const SCIENTIFIC = /^[0-9]+(\.[0-9]+)?[eE]\+?[0-9]+$/;

/**
 * A count of things: `1000000`, `1_000_000` or `1e6`. Anything that is not a
 * positive integer below 2^53 is refused, so totals stay exact in JSON.
 */
export function parseCount(text: string, what: string): number {
  const s = text.trim();
  if (!DIGITS.test(s) && !SCIENTIFIC.test(s)) {
    throw new UsageError(`${what} takes a positive integer (1000000, 1_000_000 or 1e6), not '${text}'`);
  }
  const value = Number(s.replaceAll('_', ''));
  // Checked before integrality: 1e400 is Infinity, which is too large, not fractional.
  if (value >= 2 ** 53) {
    throw new UsageError(`${what} takes a positive integer below 2^53 (9007199254740992), not '${text}'`);
  }
  if (!Number.isInteger(value) || value < 1) {
    throw new UsageError(`${what} takes a positive integer, not '${text}'`);
  }
  return value;
}

/** Powers of two below n, then n: 16 -> 1,2,4,8,16; 6 -> 1,2,4,6. */
export function sweep(n: number): number[] {
  const steps: number[] = [];
  for (let k = 1; k < n; k *= 2) steps.push(k);
  steps.push(n);
  return steps;
}

/** `--cores N` sweeps up to N unless sweeping is off; a list runs exactly its members. */
export function parseCores(text: string, sweepOn: boolean): number[] {
  const parts = text.split(',');
  const counts = parts.map((p) => {
    const n = parseCount(p, '--cores');
    if (n > MAX_CORES) throw new UsageError(`--cores takes at most ${MAX_CORES} per step, not ${n}`);
    return n;
  });
  if (new Set(counts).size !== counts.length) {
    throw new UsageError(`--cores lists a core count twice: '${text}'`);
  }
  const only = counts[0];
  return counts.length === 1 && only !== undefined && sweepOn ? sweep(only) : counts;
}

export function parseChoice<T extends string | number>(text: string, flag: string, choices: readonly T[]): T {
  const found = choices.find((c) => String(c) === text);
  if (found === undefined) throw new UsageError(`${flag} takes ${choices.join(' or ')}, not '${text}'`);
  return found;
}
