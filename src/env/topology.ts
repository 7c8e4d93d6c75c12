import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { native } from '../core/native.js';
import { UsageError } from '../common/errors.js';

/**
 * The machine's shape: which logical CPUs share a core (SMT siblings), a
 * last-level cache, a NUMA node and a package. Placement reads it; the run
 * header, the JSON environment and the HTML report show it.
 */
export interface Topology {
  /** Where it was read: "linux sysfs", "freebsd kern.sched.topology_spec", "darwin hw.*", "unknown". */
  source: string;
  packages: number;
  /** Physical cores. */
  cores: number;
  /** Logical CPUs (hardware threads). */
  cpus: number;
  numaNodes?: number;
  /** Last-level cache domains, and that cache's level (3 for an L3). */
  llcs?: number;
  llcLevel?: number;
  /** CPU lists, ascending, per group; absent where the OS gives only counts (macOS). */
  groups?: TopologyGroups;
  /** What was inferred or could not be read. */
  notes: string[];
}

export interface TopologyGroups {
  packages: number[][];
  cores: number[][];
  nodes: number[][];
  llcs: number[][];
}

/**
 * Tests point this at a fake sysfs tree (a directory holding sys/devices/...);
 * never set in normal use.
 */
export const SYSFS_ROOT_ENV = 'CLOSE_STRESS_SYSFS_ROOT';

/** Linux cpulist format: "0-3,8,10-11" -> [0,1,2,3,8,10,11]. */
/** A CPU-list flag (`--rps-cpus 0-3,8`): a non-empty list below `max`, sorted, each CPU once. */
export function parseCpuFlag(text: string, flag: string, max: number): number[] {
  const usage = `${flag} takes a CPU list such as 0-3,8, not '${text}'`;
  let cpus: number[];
  try {
    cpus = parseCpuList(text);
  } catch {
    throw new UsageError(usage);
  }
  if (cpus.length === 0) throw new UsageError(usage);
  if (cpus.some((c) => c >= max)) throw new UsageError(`${flag} takes CPUs below ${max}, not '${text}'`);
  return [...new Set(cpus)].sort((a, b) => a - b);
}

export function parseCpuList(text: string): number[] {
  const cpus: number[] = [];
  for (const part of text.trim().split(',')) {
    if (part === '') continue;
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) throw new Error(`not a CPU list: '${text.trim()}'`);
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    for (let c = lo; c <= hi; c++) cpus.push(c);
  }
  return cpus;
}

function groupBy(cpus: number[], key: (cpu: number) => string): number[][] {
  const groups = new Map<string, number[]>();
  for (const cpu of cpus) {
    const k = key(cpu);
    const g = groups.get(k);
    if (g) g.push(cpu);
    else groups.set(k, [cpu]);
  }
  return [...groups.values()].map((g) => g.sort((a, b) => a - b)).sort((a, b) => a[0]! - b[0]!);
}

function fromGroups(source: string, cpus: number[], groups: TopologyGroups, notes: string[], llcLevel?: number): Topology {
  return {
    source,
    packages: groups.packages.length,
    cores: groups.cores.length,
    cpus: cpus.length,
    numaNodes: groups.nodes.length,
    llcs: groups.llcs.length,
    ...(llcLevel !== undefined && { llcLevel }),
    groups,
    notes,
  };
}

/** Linux: /sys/devices/system/{cpu,node}, under `root` (a fake tree in tests). */
export function readLinuxTopology(root = '/'): Topology {
  const cpuDir = path.join(root, 'sys/devices/system/cpu');
  const read = (...p: string[]): string | undefined => {
    try {
      return readFileSync(path.join(...p), 'utf8').trim();
    } catch {
      return undefined;
    }
  };
  const online = read(cpuDir, 'online');
  const cpus = online !== undefined
    ? parseCpuList(online)
    : readdirSync(cpuDir).flatMap((d) => (/^cpu\d+$/.test(d) ? [Number(d.slice(3))] : [])).sort((a, b) => a - b);
  const notes: string[] = [];
  const pkgOf = new Map<number, string>();
  const coreOf = new Map<number, string>();
  const llcOf = new Map<number, string>();
  let llcLevel = 0;
  for (const cpu of cpus) {
    const topo = path.join(cpuDir, `cpu${cpu}`, 'topology');
    pkgOf.set(cpu, read(topo, 'physical_package_id') ?? '0');
    // core_cpus_list is the newer name (5.x) of thread_siblings_list.
    const siblings = read(topo, 'core_cpus_list') ?? read(topo, 'thread_siblings_list');
    coreOf.set(cpu, siblings ?? String(cpu));
    const cacheDir = path.join(cpuDir, `cpu${cpu}`, 'cache');
    let best: { level: number; shared: string } | undefined;
    let indexes: string[] = [];
    try {
      indexes = readdirSync(cacheDir).filter((d) => /^index\d+$/.test(d));
    } catch {
      /* no cache information on this kernel or VM */
    }
    for (const index of indexes) {
      if (read(cacheDir, index, 'type') === 'Instruction') continue;
      const level = Number(read(cacheDir, index, 'level'));
      const shared = read(cacheDir, index, 'shared_cpu_list');
      if (shared !== undefined && Number.isInteger(level) && (!best || level > best.level)) best = { level, shared };
    }
    if (best) {
      llcOf.set(cpu, parseCpuList(best.shared).join(','));
      llcLevel = Math.max(llcLevel, best.level);
    }
  }
  if (llcOf.size < cpus.length) notes.push('last-level cache sharing not in sysfs for every CPU: each such CPU counted as its own');
  const nodeOf = new Map<number, number>();
  const nodeDir = path.join(root, 'sys/devices/system/node');
  let nodeNames: string[] = [];
  try {
    nodeNames = readdirSync(nodeDir).filter((d) => /^node\d+$/.test(d));
  } catch {
    notes.push('no NUMA information in sysfs: one node assumed');
  }
  for (const node of nodeNames) {
    const list = read(nodeDir, node, 'cpulist');
    if (list !== undefined) for (const cpu of parseCpuList(list)) nodeOf.set(cpu, Number(node.slice(4)));
  }
  const groups: TopologyGroups = {
    packages: groupBy(cpus, (c) => pkgOf.get(c)!),
    cores: groupBy(cpus, (c) => `${pkgOf.get(c)}:${coreOf.get(c)}`),
    nodes: groupBy(cpus, (c) => String(nodeOf.get(c) ?? 0)),
    llcs: groupBy(cpus, (c) => llcOf.get(c) ?? `cpu${c}`),
  };
  return fromGroups('linux sysfs', cpus, groups, notes, llcLevel > 0 ? llcLevel : undefined);
}

interface SpecGroup {
  '@_cache-level'?: string;
  cpu?: { '#text'?: string | number } | string | number;
  flags?: { flag?: Array<{ '@_name'?: string }> };
  children?: { group?: SpecGroup[] };
}

/**
 * FreeBSD's kern.sched.topology_spec: nested <group cache-level="N"> elements,
 * each listing its CPUs, with THREAD/SMT flags on a core's sibling group and
 * NODE on a NUMA domain's (FreeBSD 13+: sys/kern/sched_ule.c,
 * sysctl_kern_sched_topology_spec_internal). Packages are not named there:
 * they are read as the root group's children when the root shares no cache
 * (cache-level 0), and noted as inferred.
 */
export function parseTopologySpec(xml: string, ndomains?: number): Topology {
  // Loaded here, on first use: only FreeBSD's topology_spec is XML, and loading the parser costs every start-up elsewhere about 50 ms of CPU.
  const { XMLParser } = createRequire(import.meta.url)('fast-xml-parser') as typeof import('fast-xml-parser');
  const parser = new XMLParser({
    ignoreAttributes: false,
    isArray: (name) => name === 'group' || name === 'flag',
  });
  const doc = parser.parse(xml.replace(/\0+$/, '')) as { groups?: { group?: SpecGroup[] } };
  const root = doc.groups?.group?.[0];
  if (!root) throw new Error('kern.sched.topology_spec has no <group>');
  const cpusOf = (g: SpecGroup): number[] => {
    const text = typeof g.cpu === 'object' ? g.cpu['#text'] : g.cpu;
    return text === undefined ? [] : String(text).split(',').map((s) => Number(s.trim())).filter(Number.isInteger);
  };
  const flagsOf = (g: SpecGroup): string[] => (g.flags?.flag ?? []).map((f) => f['@_name'] ?? '');
  const levelOf = (g: SpecGroup): number => Number(g['@_cache-level'] ?? 0);
  const childrenOf = (g: SpecGroup): SpecGroup[] => g.children?.group ?? [];
  const all: SpecGroup[] = [];
  const walk = (g: SpecGroup): void => {
    all.push(g);
    childrenOf(g).forEach(walk);
  };
  walk(root);
  const cpus = cpusOf(root).sort((a, b) => a - b);
  const notes: string[] = [];
  const assign = (groups: SpecGroup[]): Map<number, string> => {
    const m = new Map<number, string>();
    groups.forEach((g, i) => cpusOf(g).forEach((c) => m.set(c, String(i))));
    return m;
  };
  const coreGroups = all.filter((g) => flagsOf(g).some((f) => f === 'THREAD' || f === 'SMT' || f === 'HTT'));
  const coreOf = assign(coreGroups);
  const llcLevel = Math.max(0, ...all.map(levelOf));
  // The last level is the highest cache level any group shares; a group at that
  // level and none of its ancestors is one cache domain.
  const llcGroups = all.filter((g) => levelOf(g) === llcLevel && llcLevel > 0);
  const llcOf = assign(llcGroups);
  const nodeGroups = all.filter((g) => flagsOf(g).includes('NODE'));
  const nodeOf = assign(nodeGroups);
  const top = childrenOf(root);
  const pkgOf = levelOf(root) === 0 && top.length > 1 ? assign(top) : new Map<number, string>();
  if (top.length > 1 && levelOf(root) === 0) notes.push('packages inferred from the top-level groups of kern.sched.topology_spec');
  if (nodeGroups.length === 0 && (ndomains ?? 1) > 1) {
    notes.push(`vm.ndomains is ${ndomains} but topology_spec names no NODE groups: which CPU is in which domain is unknown`);
  }
  const groups: TopologyGroups = {
    packages: groupBy(cpus, (c) => pkgOf.get(c) ?? '0'),
    cores: groupBy(cpus, (c) => coreOf.get(c) ?? `cpu${c}`),
    nodes: groupBy(cpus, (c) => nodeOf.get(c) ?? '0'),
    llcs: groupBy(cpus, (c) => llcOf.get(c) ?? `cpu${c}`),
  };
  const topo = fromGroups('freebsd kern.sched.topology_spec', cpus, groups, notes, llcLevel > 0 ? llcLevel : undefined);
  if (nodeGroups.length === 0 && ndomains !== undefined) topo.numaNodes = ndomains;
  return topo;
}

/** A sysctl's bytes as an int or int64, little-endian as on every target (x86-64, arm64). */
function sysctlInt(name: string): number | undefined {
  const b = native().sysctl(name);
  if (!b) return undefined;
  if (b.length >= 8) return Number(b.readBigInt64LE(0));
  if (b.length >= 4) return b.readInt32LE(0);
  return undefined;
}

function sysctlString(name: string): string | undefined {
  const b = native().sysctl(name);
  return b ? b.toString('utf8').replace(/\0+$/, '') : undefined;
}

/** macOS gives counts only (hw.packages, hw.physicalcpu, hw.logicalcpu), and no pinning. */
function readDarwinTopology(): Topology {
  const cpus = sysctlInt('hw.logicalcpu') ?? 0;
  return {
    source: 'darwin hw.*',
    packages: sysctlInt('hw.packages') ?? 1,
    cores: sysctlInt('hw.physicalcpu') ?? cpus,
    cpus,
    notes: ['macOS gives counts only (hw.packages, hw.physicalcpu, hw.logicalcpu) and cannot pin threads: placement does not apply'],
  };
}

function unknownTopology(os: string, allowed: number[], why: string): Topology {
  return {
    source: 'unknown',
    packages: 1,
    cores: allowed.length,
    cpus: allowed.length,
    groups: { packages: [allowed], cores: allowed.map((c) => [c]), nodes: [allowed], llcs: allowed.map((c) => [c]) },
    notes: [`topology of ${os} not read (${why}): each allowed CPU counted as a core of one package`],
  };
}

/** This machine's topology, from whatever its OS offers; never throws. */
export function readTopology(os: string, allowed: number[]): Topology {
  try {
    if (os === 'linux') return readLinuxTopology(process.env[SYSFS_ROOT_ENV] ?? '/');
    if (os === 'freebsd') {
      const spec = sysctlString('kern.sched.topology_spec');
      if (spec === undefined) return unknownTopology(os, allowed, 'no kern.sched.topology_spec');
      return parseTopologySpec(spec, sysctlInt('vm.ndomains'));
    }
    if (os === 'darwin') return readDarwinTopology();
    return unknownTopology(os, allowed, 'no reader for this OS');
  } catch (err) {
    return unknownTopology(os, allowed, (err as Error).message);
  }
}

const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;

/** One line: "2 packages x 8 cores x 2 threads, 2 NUMA nodes, 2 L3 caches". */
export function describeTopology(t: Topology): string {
  const perPackage = t.cores / t.packages;
  const perCore = t.cpus / t.cores;
  const shape = Number.isInteger(perPackage) && Number.isInteger(perCore)
    ? `${plural(t.packages, 'package')} x ${plural(perPackage, 'core')} x ${plural(perCore, 'thread')}`
    : `${plural(t.packages, 'package')}, ${plural(t.cores, 'core')}, ${plural(t.cpus, 'CPU')}`;
  const parts = [shape];
  if (t.numaNodes !== undefined) parts.push(plural(t.numaNodes, 'NUMA node'));
  if (t.llcs !== undefined) parts.push(plural(t.llcs, t.llcLevel ? `L${t.llcLevel} cache` : 'last-level cache'));
  return `${parts.join(', ')} (${t.source})`;
}
