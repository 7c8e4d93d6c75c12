/**
 * The one place latency percentiles are defined. Histograms come from the C
 * core already bucketed (contract "log-linear-16"): values below 16 ns exact,
 * each power of two above split in 16. hdr-histogram-js (autocannon's choice)
 * is not used: it records raw values into its own bucket layout, so feeding it
 * our buckets would quantize twice and its merge would no longer be the exact
 * per-bucket sum the JSON promises; on sparse sorted pairs a percentile is one
 * cumulative walk.
 */
/** Victim close() durations: sparse [bucket lower bound in ns, count], ascending. */
export interface Histogram {
  unit: 'ns';
  scheme: 'log-linear-16';
  counts: Array<[number, number]>;
}

export const PERCENTILES = [
  { key: 'p50', q: 0.5 },
  { key: 'p90', q: 0.9 },
  { key: 'p99', q: 0.99 },
  { key: 'p99.9', q: 0.999 },
] as const;

export type PercentileKey = (typeof PERCENTILES)[number]['key'] | 'max';

export interface LatencySummary {
  count: number;
  /** ns; each the upper bound of the bucket the percentile falls in. */
  p50: number;
  p90: number;
  p99: number;
  'p99.9': number;
  max: number;
}

/** Upper bound of the bucket whose lower bound is `low` (the next bucket's lower bound). */
export function bucketHigh(low: number): number {
  if (low < 16) return low + 1;
  const width = 2 ** Math.floor(Math.log2(low)) / 16;
  return low + width;
}

/** Merge = add counts per lower bound; the result is sparse and ascending again. */
export function mergeHistograms(...hs: Histogram[]): Histogram {
  const m = new Map<number, number>();
  for (const h of hs) for (const [low, n] of h.counts) m.set(low, (m.get(low) ?? 0) + n);
  return { unit: 'ns', scheme: 'log-linear-16', counts: [...m.entries()].filter(([, n]) => n > 0).sort((a, b) => a[0] - b[0]) };
}

/** p50..p99.9 and max, conservative (bucket upper bounds); undefined when empty. */
export function percentiles(h: Histogram): LatencySummary | undefined {
  const count = h.counts.reduce((a, [, n]) => a + n, 0);
  if (count === 0) return undefined;
  const last = h.counts[h.counts.length - 1]!;
  const out = { count, max: bucketHigh(last[0]) } as LatencySummary;
  for (const { key, q } of PERCENTILES) {
    // rank ceil(q * count): the smallest value with at least q of the samples at or below it
    const rank = Math.max(1, Math.ceil(q * count - 1e-9));
    let seen = 0;
    for (const [low, n] of h.counts) {
      seen += n;
      if (seen >= rank) {
        out[key] = bucketHigh(low);
        break;
      }
    }
  }
  return out;
}
