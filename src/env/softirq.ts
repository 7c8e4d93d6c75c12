import { readFileSync } from 'node:fs';
import { native } from '../core/native.js';

/**
 * Where the kernel did the receive-side work of a step (the RST's processing
 * among it): the race needs that on another CPU than the victim's close().
 * Counters are machine-wide: other traffic on the host adds to them.
 */
export interface NetRxWork {
  /** "/proc/softirqs NET_RX" (Linux) or "sysctl net.isr.work" (FreeBSD). */
  source: string;
  scope: 'machine';
  /** What one count is. */
  unit: string;
  /** Delta per CPU over the step, indexed by CPU number. */
  perCpu: number[];
  /**
   * Linux: packets each CPU's receive path processed (/proc/net/softnet_stat,
   * first column). NET_RX runs also count a sending CPU that only hands its
   * packets to another CPU (RPS), so this is where the packets really went.
   */
  processedPerCpu?: number[];
  /** What the counts do not say (FreeBSD: whether netisr threads are bound). */
  notes?: string[];
}

export type NetRxSnapshot = Omit<NetRxWork, 'scope'>;

/** The NET_RX row of /proc/softirqs, one count per CPU column. */
export function parseSoftirqs(text: string): number[] | undefined {
  const lines = text.split('\n');
  const cpus = (lines[0] ?? '').trim().split(/\s+/).map((c) => Number(/^CPU(\d+)$/.exec(c)?.[1]));
  const row = lines.find((l) => /^\s*NET_RX:/.test(l));
  if (!row || cpus.some((c) => !Number.isInteger(c))) return undefined;
  const values = row.replace(/^\s*NET_RX:/, '').trim().split(/\s+/).map(Number);
  const perCpu: number[] = [];
  cpus.forEach((cpu, i) => { perCpu[cpu] = values[i] ?? 0; });
  return Array.from(perCpu, (v) => v ?? 0);
}

/**
 * /proc/net/softnet_stat: a line of hex columns per CPU, the first the
 * packets processed; the 13th is the CPU's number (Linux 5.10 and later,
 * net/core/net-procfs.c), else lines follow the online CPUs in order.
 */
export function parseSoftnetStat(text: string): number[] | undefined {
  const rows = text.trim().split('\n').map((l) => l.trim().split(/\s+/).map((h) => parseInt(h, 16)));
  if (rows.length === 0 || rows.some((r) => r.length < 1 || r.some((v) => !Number.isFinite(v)))) return undefined;
  const perCpu: number[] = [];
  rows.forEach((r, i) => { perCpu[r.length >= 13 ? r[12]! : i] = r[0]!; });
  return Array.from(perCpu, (v) => v ?? 0);
}

/** FreeBSD <net/netisr.h>: NETISR_IP and NETISR_IPV6, the protocols TCP segments arrive by. */
const NETISR_PROTOS = new Set([1, 6]);
const WORKSTREAM_BYTES = 64; // struct sysctl_netisr_workstream: 16 u_int
const WORK_BYTES = 128; // struct sysctl_netisr_work: 8 u_int, 12 uint64_t
const WORK_HANDLED = 64; // offset of snw_handled

/**
 * net.isr.workstream (which CPU each workstream belongs to) and net.isr.work
 * (per workstream and protocol: dispatched, queued, handled), the arrays
 * `netstat -Q` prints; each struct starts with its own size as a version.
 * Packets handled for IP and IPv6, summed by the workstream's CPU.
 */
export function parseNetisr(workstreams: Buffer, work: Buffer): number[] | undefined {
  const cpuOf = new Map<number, number>();
  for (let o = 0; o + WORKSTREAM_BYTES <= workstreams.length; o += WORKSTREAM_BYTES) {
    if (workstreams.readUInt32LE(o) !== WORKSTREAM_BYTES) return undefined;
    cpuOf.set(workstreams.readUInt32LE(o + 8), workstreams.readUInt32LE(o + 12));
  }
  const perCpu: number[] = [];
  for (let o = 0; o + WORK_BYTES <= work.length; o += WORK_BYTES) {
    if (work.readUInt32LE(o) !== WORK_BYTES) return undefined;
    const cpu = cpuOf.get(work.readUInt32LE(o + 4));
    if (cpu === undefined || !NETISR_PROTOS.has(work.readUInt32LE(o + 8))) continue;
    perCpu[cpu] = (perCpu[cpu] ?? 0) + Number(work.readBigUInt64LE(o + WORK_HANDLED));
  }
  return Array.from(perCpu, (v) => v ?? 0);
}

function sysctlUint(name: string): number | undefined {
  const b = native().sysctl(name);
  return b && b.length >= 4 ? b.readUInt32LE(0) : undefined;
}

/** Receive work per CPU now; undefined where this OS offers no per-CPU count (macOS). */
export function readNetRx(os: string): NetRxSnapshot | undefined {
  try {
    if (os === 'linux') {
      const perCpu = parseSoftirqs(readFileSync('/proc/softirqs', 'utf8'));
      if (!perCpu) return undefined;
      let processed: number[] | undefined;
      try {
        processed = parseSoftnetStat(readFileSync('/proc/net/softnet_stat', 'utf8'));
      } catch {
        /* older or restricted /proc: the softirq counts alone */
      }
      return {
        source: '/proc/softirqs NET_RX',
        unit: 'NET_RX softirq runs (each may process many packets)',
        perCpu,
        ...(processed && { processedPerCpu: processed }),
      };
    }
    if (os === 'freebsd') {
      const ws = native().sysctl('net.isr.workstream');
      const work = native().sysctl('net.isr.work');
      const perCpu = ws && work ? parseNetisr(ws, work) : undefined;
      if (!perCpu) return undefined;
      const bound = sysctlUint('net.isr.bindthreads');
      const threads = sysctlUint('net.isr.maxthreads');
      return {
        source: 'sysctl net.isr.work',
        unit: 'IP and IPv6 packets handled by netisr, by the CPU of their workstream',
        perCpu,
        notes: [
          `net.isr.maxthreads=${threads ?? '?'}, net.isr.bindthreads=${bound ?? '?'}` +
            (bound === 1 ? '' : ': netisr threads are not bound, so a workstream\'s CPU is nominal for queued (loopback) packets'),
        ],
      };
    }
  } catch {
    /* an unreadable counter is a missing figure, not a failed run */
  }
  return undefined;
}

export function netRxDelta(before: NetRxSnapshot | undefined, after: NetRxSnapshot | undefined): NetRxWork | undefined {
  if (!before || !after) return undefined;
  const n = Math.max(before.perCpu.length, after.perCpu.length);
  const delta = (a: number[], b: number[]): number[] =>
    Array.from({ length: Math.max(a.length, b.length) }, (_, c) => Math.max(0, (b[c] ?? 0) - (a[c] ?? 0)));
  return {
    source: after.source,
    scope: 'machine',
    unit: after.unit,
    perCpu: delta(before.perCpu, after.perCpu),
    ...(before.processedPerCpu && after.processedPerCpu && { processedPerCpu: delta(before.processedPerCpu, after.processedPerCpu) }),
    ...(after.notes && { notes: after.notes }),
  };
}

/** Several passes of one step (repeats, skew points) as one: counts add up per CPU. */
export function mergeNetRx(into: NetRxWork, from: NetRxWork): void {
  const add = (a: number[], b: number[]): void => b.forEach((v, c) => { a[c] = (a[c] ?? 0) + v; });
  add(into.perCpu, from.perCpu);
  if (into.processedPerCpu && from.processedPerCpu) add(into.processedPerCpu, from.processedPerCpu);
  else delete into.processedPerCpu;
}

export interface NetRxShare {
  total: number;
  /** Share on CPUs a victim was pinned to. */
  victims: number;
  /** Share on resetter CPUs that ran no victim (cross-thread runs). */
  resetters: number;
  elsewhere: number;
}

/** The step's receive work split by whose CPU it ran on; undefined when nothing was counted. */
export function netRxShare(
  step: { netRx?: NetRxWork; lanes: Array<{ cpu: number; resetCpu: number }> },
  counts: 'perCpu' | 'processedPerCpu' = 'perCpu',
): NetRxShare | undefined {
  const perCpu = step.netRx?.[counts];
  if (!perCpu) return undefined;
  const victims = new Set(step.lanes.map((l) => l.cpu).filter((c) => c >= 0));
  const resetters = new Set(step.lanes.map((l) => l.resetCpu).filter((c) => c >= 0 && !victims.has(c)));
  let total = 0;
  let onVictims = 0;
  let onResetters = 0;
  perCpu.forEach((v, c) => {
    total += v;
    if (victims.has(c)) onVictims += v;
    else if (resetters.has(c)) onResetters += v;
  });
  if (total === 0) return undefined;
  return { total, victims: onVictims / total, resetters: onResetters / total, elsewhere: (total - onVictims - onResetters) / total };
}
