import { UsageError } from '../common/errors.js';
import { describeTopology, type Topology } from './topology.js';

/**
 * Which CPUs an N-lane step uses, in the order lanes take them.
 * - linear: lane i on the i-th allowed CPU (the OS's numbering; the default).
 * - spread: physical cores first, consecutive lanes on different packages, then
 *   NUMA nodes, then last-level caches; SMT siblings only once every core has a lane.
 * - pack: fill one last-level cache (its physical cores, then their siblings),
 *   then the next cache of the same node and package, before moving on.
 * - smt-first: as pack, but both SMT threads of a core before the next core.
 */
export type Placement = 'linear' | 'spread' | 'pack' | 'smt-first';
export const PLACEMENTS: readonly Placement[] = ['linear', 'spread', 'pack', 'smt-first'];

/**
 * Cross-thread runs: where lane i's resetter thread sits relative to its victim.
 * - next: the CPU the placement gives lane i+1 (the default).
 * - sibling: an SMT sibling of the victim's CPU (same physical core).
 * - llc: another physical core sharing the victim's last-level cache.
 * - other-package / other-node: a CPU in another package / NUMA node.
 */
export type Resetter = 'next' | 'sibling' | 'llc' | 'other-package' | 'other-node';
export const RESETTERS: readonly Resetter[] = ['next', 'sibling', 'llc', 'other-package', 'other-node'];

export interface LaneCpus {
  cpu: number;
  resetCpu: number;
}

interface CpuPlace {
  cpu: number;
  pkg: number;
  node: number;
  llc: number;
  core: number;
  /** Position among the allowed threads of its core: 0 for the first. */
  thread: number;
}

/** Index of the group each CPU is in; CPUs the topology does not list get their own. */
function indexOf(groups: number[][] | undefined, cpus: number[]): Map<number, number> {
  const m = new Map<number, number>();
  (groups ?? []).forEach((g, i) => g.forEach((c) => m.set(c, i)));
  let next = groups?.length ?? 0;
  for (const c of cpus) if (!m.has(c)) m.set(c, next++);
  return m;
}

function places(topology: Topology, allowed: number[]): CpuPlace[] {
  const g = topology.groups;
  const pkg = indexOf(g?.packages, allowed);
  const node = indexOf(g?.nodes, allowed);
  const llc = indexOf(g?.llcs, allowed);
  const core = indexOf(g?.cores, allowed);
  const seen = new Map<number, number>();
  return [...allowed].sort((a, b) => a - b).map((cpu) => {
    const c = core.get(cpu)!;
    const thread = seen.get(c) ?? 0;
    seen.set(c, thread + 1);
    return { cpu, pkg: pkg.get(cpu)!, node: node.get(cpu)!, llc: llc.get(cpu)!, core: c, thread };
  });
}

const byKeys = (keys: Array<(p: CpuPlace) => number>) => (a: CpuPlace, b: CpuPlace): number => {
  for (const k of keys) {
    const d = k(a) - k(b);
    if (d !== 0) return d;
  }
  return a.cpu - b.cpu;
};

/** Round robin over groups (by the first key), each ordered the same way by the rest. */
function interleave(list: CpuPlace[], keys: Array<(p: CpuPlace) => number>): CpuPlace[] {
  const [key, ...rest] = keys;
  if (!key) return [...list].sort((a, b) => a.cpu - b.cpu);
  const groups = new Map<number, CpuPlace[]>();
  for (const p of list) {
    const k = key(p);
    groups.set(k, [...(groups.get(k) ?? []), p]);
  }
  const ordered = [...groups.entries()].sort((a, b) => a[0] - b[0]).map(([, g]) => interleave(g, rest));
  const out: CpuPlace[] = [];
  for (let i = 0; out.length < list.length; i++) for (const g of ordered) if (g[i]) out.push(g[i]!);
  return out;
}

/** The allowed CPUs in the order a placement hands them to lanes. */
export function placementOrder(placement: Placement, topology: Topology, allowed: number[]): number[] {
  if (placement === 'linear') return [...allowed];
  const all = places(topology, allowed);
  let ordered: CpuPlace[];
  if (placement === 'spread') {
    const threads = [...new Set(all.map((p) => p.thread))].sort((a, b) => a - b);
    ordered = threads.flatMap((t) => interleave(all.filter((p) => p.thread === t), [(p) => p.pkg, (p) => p.node, (p) => p.llc]));
  } else if (placement === 'pack') {
    ordered = [...all].sort(byKeys([(p) => p.pkg, (p) => p.node, (p) => p.llc, (p) => p.thread, (p) => p.core]));
  } else {
    ordered = [...all].sort(byKeys([(p) => p.pkg, (p) => p.node, (p) => p.llc, (p) => p.core, (p) => p.thread]));
  }
  return ordered.map((p) => p.cpu);
}

const RESETTER_NEEDS: Record<Exclude<Resetter, 'next'>, string> = {
  sibling: 'allowed SMT sibling',
  llc: 'other allowed core sharing its last-level cache',
  'other-package': 'allowed CPU in another package',
  'other-node': 'allowed CPU in another NUMA node',
};

/**
 * CPUs of a step's lanes: victims in placement order (wrapping when there are
 * more lanes than CPUs), resetters where `resetter` says. Among a victim's
 * candidate resetter CPUs the least used one so far is taken (victims count),
 * so that resetters spread over the candidates instead of piling on one.
 */
export function placeLanes(
  lanes: number,
  placement: Placement,
  resetter: Resetter | undefined,
  topology: Topology,
  allowed: number[],
): LaneCpus[] {
  const order = placementOrder(placement, topology, allowed);
  const m = order.length;
  const victims = Array.from({ length: lanes }, (_, i) => order[i % m]!);
  if (resetter === undefined) return victims.map((cpu) => ({ cpu, resetCpu: -1 }));
  if (resetter === 'next') return victims.map((cpu, i) => ({ cpu, resetCpu: order[(i + 1) % m]! }));
  const at = new Map(places(topology, allowed).map((p) => [p.cpu, p]));
  const rank = new Map(order.map((c, i) => [c, i]));
  const use = new Map<number, number>();
  for (const v of victims) use.set(v, (use.get(v) ?? 0) + 1);
  const fits = (v: CpuPlace, c: CpuPlace): boolean => {
    if (resetter === 'sibling') return c.core === v.core && c.cpu !== v.cpu;
    if (resetter === 'llc') return c.llc === v.llc && c.core !== v.core;
    if (resetter === 'other-package') return c.pkg !== v.pkg;
    return c.node !== v.node;
  };
  return victims.map((cpu) => {
    const v = at.get(cpu)!;
    const candidates = order.map((c) => at.get(c)!).filter((c) => fits(v, c));
    if (candidates.length === 0) {
      throw new UsageError(
        `--resetter ${resetter}: CPU ${cpu} has no ${RESETTER_NEEDS[resetter]} (${describeTopology(topology)}; allowed CPUs ${allowed.join(',')})`,
      );
    }
    const best = candidates.reduce((a, b) => {
      const d = (use.get(a.cpu) ?? 0) - (use.get(b.cpu) ?? 0);
      return d < 0 || (d === 0 && rank.get(a.cpu)! < rank.get(b.cpu)!) ? a : b;
    });
    use.set(best.cpu, (use.get(best.cpu) ?? 0) + 1);
    return { cpu, resetCpu: best.cpu };
  });
}

/** How a step's CPUs were chosen, as the table and the JSON name it. */
export function placementLabel(placement: Placement, resetter: Resetter | undefined): string {
  return resetter === undefined || resetter === 'next' ? placement : `${placement}, resetter ${resetter}`;
}
