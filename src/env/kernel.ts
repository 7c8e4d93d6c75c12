import { native, type TcpCounters } from '../core/native.js';

/** Deltas of the kernel's own machine-wide TCP counters over one step. */
export interface KernelCheck {
  source: string;
  /** machine: other traffic on this host adds to every delta; netns (--path veth): the resetting namespace, only this run's connections. */
  scope: 'machine' | 'netns';
  deltas: Record<string, number>;
  /** The counter read as "RSTs sent", and what it really counts on this OS. */
  rstCounter?: { name: string; meaning: string };
  /**
   * Why there are no deltas: the counters could not be read, or (FreeBSD) the
   * running kernel's struct tcpstat matches no layout this build knows. A
   * value is never shown under a name it may not have.
   */
  unavailable?: string;
  /** Before/after reads merged into these deltas (repeats, skew points): each closes the lanes' listeners once. */
  reads?: number;
}

/** A read of the counters, or why there is none. */
export type CounterRead = TcpCounters | { unavailable: string };

/**
 * The counter closest to "RSTs sent" per OS. FreeBSD and macOS have no RST-only
 * counter. tcps_drops counts tcp_drop() of a synchronized connection, which an
 * SO_LINGER {1,0} close calls (and sends the RST); the peer's receipt of the
 * RST usually counts once more. Without the RST neither happens. tcps_sndctrl (SYN, FIN
 * and RST together) cannot tell: every trial's SYNs keep it above one per
 * resetting close, so it is the last resort.
 */
const RST_COUNTERS = ['OutRsts', 'tcps_drops', 'tcps_sndctrl'];

const PREFIX = "cannot read the kernel's TCP counters: ";

/** procNetDir: another namespace's /proc/PID/net (--path veth), else this process's. */
export function readCounters(procNetDir?: string): CounterRead {
  try {
    return procNetDir === undefined ? native().tcpCounters() : native().tcpCounters(procNetDir);
  } catch (err) {
    const message = (err as Error).message;
    return { unavailable: message.startsWith(PREFIX) ? message.slice(PREFIX.length) : message };
  }
}

export function kernelCheck(before: CounterRead, after: CounterRead, scope: KernelCheck['scope'] = 'machine'): KernelCheck {
  if ('unavailable' in after || 'unavailable' in before) {
    const why = 'unavailable' in after ? after.unavailable : (before as { unavailable: string }).unavailable;
    return { source: 'source' in after ? after.source : 'none', scope, deltas: {}, unavailable: why, reads: 1 };
  }
  const deltas: Record<string, number> = {};
  for (const [name, value] of Object.entries(after.counters)) {
    const was = before.counters[name];
    if (was !== undefined) deltas[name] = value - was;
  }
  const rst = RST_COUNTERS.find((n) => n in deltas);
  return {
    source: after.source,
    scope,
    deltas,
    ...(rst && { rstCounter: { name: rst, meaning: after.meanings[rst] ?? '' } }),
    reads: 1,
  };
}

/** Two steps' checks as one (repeats, skew points); unavailable if either was. */
export function mergeKernelChecks(a: KernelCheck | undefined, b: KernelCheck | undefined): KernelCheck | undefined {
  // Counters from only some passes would be read against every pass's trials (RSTs per resetting close too low).
  if (!a || !b) return undefined;
  if (a.unavailable) return a;
  if (b.unavailable) return structuredClone(b);
  const deltas = { ...a.deltas };
  for (const [k, v] of Object.entries(b.deltas)) deltas[k] = (deltas[k] ?? 0) + v;
  return { ...a, deltas, reads: (a.reads ?? 1) + (b.reads ?? 1) };
}

/**
 * The counter read as RSTs sent: the one recorded, else (close-stress-core's
 * journals record only deltas) the first of RST_COUNTERS among the deltas.
 */
export function rstCounterOf(check: KernelCheck | undefined): { name: string; meaning: string } | undefined {
  if (!check || check.unavailable) return undefined;
  if (check.rstCounter) return check.rstCounter;
  const name = RST_COUNTERS.find((n) => n in check.deltas);
  return name === undefined ? undefined : { name, meaning: '' };
}

/** RSTs the kernel says it sent per resetting close; undefined where it cannot say. */
export function rstsPerReset(check: KernelCheck | undefined, resets: number): number | undefined {
  const counter = rstCounterOf(check);
  if (!counter || resets === 0) return undefined;
  return (check!.deltas[counter.name] ?? 0) / resets;
}
