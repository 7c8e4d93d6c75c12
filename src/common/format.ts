/**
 * How numbers read in every text output (table, compare, progress), in one
 * place so the same latency or rate never prints two ways. The HTML report
 * keeps its own typographic variants for chart axes.
 */

export const fmtInt = (n: number): string => Math.round(n).toLocaleString('en-US');

/** Rates as percentages down to `percentFrom`, below that in e-notation (4.0e-4). */
export const fmtRate = (r: number, percentFrom = 0.001): string =>
  r === 0 ? '0' : r >= percentFrom ? `${(r * 100).toPrecision(3)}%` : r.toExponential(1);

/** Durations to three significant digits: 864ns, 1.22us, 41.9ms. */
export const fmtDuration = (ns: number): string =>
  ns >= 1e6 ? `${(ns / 1e6).toPrecision(3)}ms` : ns >= 1e3 ? `${(ns / 1e3).toPrecision(3)}us` : `${Math.round(ns)}ns`;

/**
 * A skew as measured: to the ns within +-10 us, where it has 10 ns
 * resolution (-1120ns); beyond, where buckets are 1/16 of a power of two
 * wide, to three digits (50.2us, -1.00ms).
 */
export const fmtSkew = (ns: number): string =>
  Math.abs(ns) <= 10_000 ? `${ns}ns` : `${ns < 0 ? '-' : ''}${fmtDuration(Math.abs(ns))}`;

/** A skew as typed on the command line: 300ns, 1.5us, -2us. */
export function fmtAskedSkew(ns: number): string {
  const a = Math.abs(ns);
  if (a >= 1e6) return `${ns / 1e6}ms`;
  if (a >= 1e3) return `${ns / 1e3}us`;
  return `${ns}ns`;
}

/** Fewer repeats than this give a t interval too wide to say much (t(0.975, 1) = 12.7). */
export const FEW_REPEATS = 3;

/**
 * A step's throughput as every text output prints it: the figure, then with
 * --repeat its 95% interval (no interval for one repeat: none can be computed).
 */
export function fmtThroughput(trialsPerSec: number, t?: { low?: number; high?: number; n: number }): string {
  if (!t || t.low === undefined || t.high === undefined) return fmtInt(trialsPerSec);
  const half = (t.high - t.low) / 2;
  // Symmetric unless clamped at 0: then the bounds themselves.
  const ci = Math.abs(trialsPerSec - half - t.low) < 0.5 ? `±${fmtInt(half)}` : `[${fmtInt(t.low)}, ${fmtInt(t.high)}]`;
  return `${fmtInt(trialsPerSec)} ${ci}`;
}
