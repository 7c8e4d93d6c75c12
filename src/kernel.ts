import { native, type TcpCounters } from './native.js';

/** Deltas of the kernel's own machine-wide TCP counters over one step. */
export interface KernelCheck {
  source: string;
  /** Machine-wide: other traffic on this host adds to every delta. */
  scope: 'machine';
  deltas: Record<string, number>;
  /** The counter read as "RSTs sent", and what it really counts on this OS. */
  rstCounter?: { name: string; meaning: string };
}

/**
 * The counter closest to "RSTs sent" per OS. FreeBSD and macOS have no RST-only
 * counter: tcps_sndctrl counts SYN, FIN and RST control segments together.
 */
const RST_COUNTERS = ['OutRsts', 'tcps_sndctrl'];

export function readCounters(): TcpCounters {
  return native().tcpCounters();
}

export function kernelCheck(before: TcpCounters, after: TcpCounters): KernelCheck {
  const deltas: Record<string, number> = {};
  for (const [name, value] of Object.entries(after.counters)) {
    const was = before.counters[name];
    if (was !== undefined) deltas[name] = value - was;
  }
  const rst = RST_COUNTERS.find((n) => n in deltas);
  return {
    source: after.source,
    scope: 'machine',
    deltas,
    ...(rst && { rstCounter: { name: rst, meaning: after.meanings[rst] ?? '' } }),
  };
}

/** RSTs the kernel says it sent per resetting close; undefined where it cannot say. */
export function rstsPerReset(check: KernelCheck | undefined, resets: number): number | undefined {
  if (!check?.rstCounter || resets === 0) return undefined;
  return (check.deltas[check.rstCounter.name] ?? 0) / resets;
}
