// --path veth: two network namespaces of the run's own joined by a veth pair,
// so the RST crosses a real driver (veth_xmit -> the backlog -> NET_RX on
// the receiving side) instead of loopback.
//
// The namespaces are held by two `unshare --net` processes, not named with
// `ip netns add`: a named namespace is a bind mount under /run/netns that
// outlives a SIGKILLed run, while a held one dies with its holder, and the
// holder dies when our end of its stdin pipe closes, which the kernel does for
// us however we exit. Nothing is created in the host's namespace at all: the
// veth is made with both ends already inside the two namespaces.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { RunError, UsageError } from '../common/errors.js';
import type { Family, ResetSide } from '../core/native.js';

export type NetPathKind = 'loopback' | 'veth';
export const NET_PATHS: readonly NetPathKind[] = ['loopback', 'veth'];

/** Marker in a holder's command line: close-stress-netns-<owner pid>-<a|b>. */
const MARKER = /^close-stress-netns-([0-9]+)-([ab])$/;

/**
 * Benchmarking ranges, never routed: 198.18.0.0/15 (RFC 2544) and
 * 2001:2::/48 (RFC 5180). The namespaces are private, so every run can use
 * the same addresses.
 */
const ADDRESSES = {
  4: { listen: '198.18.0.1', client: '198.18.0.2', prefix: 30 },
  6: { listen: '2001:2::1', client: '2001:2::2', prefix: 64 },
} as const;

/** One end: its namespace, the veth end in it and that end's address. */
export interface NetEnd {
  /** The holder's /proc/PID/ns/net: what a lane setns(2)es into. */
  netns: string;
  holderPid: number;
  /** The namespace's identity (`net:[4026532...]`): it is gone when no process shows it. */
  id: string;
  device: string;
  address: string;
}

/** What a veth run records in environment.netPath. */
export interface VethRecord {
  kind: 'veth';
  listen: NetEnd;
  client: NetEnd;
  /** The end that receives the RST (the victim's), and where its packets are processed. */
  receive: {
    side: 'listen' | 'client';
    device: string;
    /** rps_cpus of its rx-0 queue as the kernel reads it back: hex mask, 0 = off (processed where the sender's softirq runs). */
    rpsMask: string;
    /** The same as a CPU list; empty when RPS is off. */
    rpsCpus: number[];
  };
  /** TCP counters are read in this end's namespace: the resetting side's, so OutRsts counts only our RSTs. */
  counters: 'listen' | 'client';
}

/** Packets through each veth end over a step, as each namespace's /proc/PID/net/dev counts them. */
export interface VethPackets {
  listen: { device: string; rxPackets: number; txPackets: number };
  client: { device: string; rxPackets: number; txPackets: number };
}

/** One device's packet counters from a /proc/PID/net/dev text; undefined when it is not listed. */
export function devPackets(text: string, device: string): { rxPackets: number; txPackets: number } | undefined {
  for (const line of text.split('\n')) {
    const [name, rest] = line.split(':');
    if (name?.trim() !== device || rest === undefined) continue;
    const f = rest.trim().split(/\s+/).map(Number);
    // Receive: bytes packets errs drop fifo frame compressed multicast; then transmit: bytes packets ...
    return { rxPackets: f[1]!, txPackets: f[9]! };
  }
  return undefined;
}

export function addVethPackets(a: VethPackets, b: VethPackets): VethPackets {
  const add = (x: VethPackets['listen'], y: VethPackets['listen']) => ({ device: x.device, rxPackets: x.rxPackets + y.rxPackets, txPackets: x.txPackets + y.txPackets });
  return { listen: add(a.listen, b.listen), client: add(a.client, b.client) };
}

/** The lane-config fields the native core reads for --path veth. */
export interface LaneNet {
  listenNetns: string;
  clientNetns: string;
  listenAddr: string;
}

/** Why --path veth cannot run here; undefined when it can. */
export function vethUnavailable(): string | undefined {
  if (process.platform !== 'linux') return `--path veth needs Linux network namespaces; this is ${process.platform}`;
  if (process.getuid?.() !== 0) return '--path veth needs root (it creates network namespaces and a veth pair)';
  for (const tool of ['ip', 'unshare', 'nsenter']) {
    if (!['/usr/sbin', '/usr/bin', '/sbin', '/bin'].some((d) => existsSync(`${d}/${tool}`))) {
      return `--path veth needs ${tool} (${tool === 'ip' ? 'iproute2' : 'util-linux'}), which is not installed`;
    }
  }
  return undefined;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function parentOf(pid: number): number | undefined {
  try {
    // The command name may hold spaces and parentheses: the fields after the last ')' are fixed.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

/** Holders on this machine: pid, owner pid, and whether their owner is gone. */
export function listHolders(): Array<{ pid: number; owner: number; stale: boolean }> {
  const out: Array<{ pid: number; owner: number; stale: boolean }> = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(entry)) continue;
    let args: string[];
    try {
      args = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    const m = args.map((a) => MARKER.exec(a)).find((x) => x);
    if (!m || args[0] !== 'sh') continue;
    const pid = Number(entry);
    const owner = Number(m[1]);
    // A live pid that is not the holder's parent is a reused number: the owner is gone.
    out.push({ pid, owner, stale: !alive(owner) || parentOf(pid) !== owner });
  }
  return out;
}

/**
 * Removes namespaces a killed run left (their holder outlived it): killing
 * the holder frees the namespace and the veth end in it. Returns their owners.
 */
export function removeStale(): number[] {
  const owners = new Set<number>();
  for (const h of listHolders()) {
    if (!h.stale) continue;
    try {
      process.kill(h.pid, 'SIGKILL');
      owners.add(h.owner);
    } catch {
      // Gone meanwhile: nothing left to remove.
    }
  }
  return [...owners];
}

function run(args: string[], what: string, input?: string): string {
  try {
    return execFileSync(args[0]!, args.slice(1), { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    const why = (e.stderr?.trim() || e.message).split('\n')[0];
    throw new RunError(`--path veth: ${what} failed: ${why}`);
  }
}

const inNs = (end: { holderPid: number }, ...args: string[]): string[] => ['nsenter', `--net=/proc/${end.holderPid}/ns/net`, ...args];

/** CPU list -> the comma-grouped hex mask sysfs takes (32 bits a group, most significant first). */
export function cpuMask(cpus: readonly number[]): string {
  let mask = 0n;
  for (const c of cpus) mask |= 1n << BigInt(c);
  const hex = mask.toString(16);
  const groups: string[] = [];
  for (let end = hex.length; end > 0; end -= 8) groups.unshift(hex.slice(Math.max(0, end - 8), end));
  return groups.join(',');
}

/** sysfs's hex mask ("00000003", "0,00000001") -> CPU list. */
export function maskCpus(mask: string): number[] {
  const value = BigInt(`0x${mask.replaceAll(',', '').trim() || '0'}`);
  const cpus: number[] = [];
  for (let c = 0; value >> BigInt(c) > 0n; c++) if ((value >> BigInt(c)) & 1n) cpus.push(c);
  return cpus;
}

/** The two namespaces and the pair between them, for one run. */
export class VethPath {
  private readonly holders: ChildProcess[] = [];
  private closed = false;
  private readonly onExit = (): void => this.killHolders();
  record!: VethRecord;

  private constructor(private readonly family: Family) {}

  /**
   * Makes the pair. `rpsCpus`: CPUs that process packets arriving at the
   * victim's end (RPS); undefined leaves the kernel's default (off).
   * `removed`: owners of stale namespaces removed first, for the log.
   */
  static async open(family: Family, resetSide: ResetSide, rpsCpus?: number[]): Promise<{ path: VethPath; removed: number[] }> {
    const why = vethUnavailable();
    if (why) throw new UsageError(why);
    const removed = removeStale();
    const path = new VethPath(family);
    process.once('exit', path.onExit);
    try {
      await path.build(resetSide, rpsCpus);
    } catch (err) {
      path.close();
      throw err;
    }
    return { path, removed };
  }

  private async hold(tag: 'a' | 'b'): Promise<number> {
    // `read` returns when our end of the pipe closes: on exit, on a crash, on SIGKILL.
    // Its own process group: a terminal's Ctrl-C signals our whole group, and a holder killed by it
    // would take its namespace (and the step's counters in it) away before the stop is saved.
    const child = spawn('unshare', ['--net', '--', 'sh', '-c', 'echo ready; read _', `close-stress-netns-${process.pid}-${tag}`], {
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true,
    });
    this.holders.push(child);
    const pid = await new Promise<number>((resolve, reject) => {
      let err = '';
      child.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
      child.stdout!.once('data', () => resolve(child.pid!));
      child.once('error', (e) => reject(new RunError(`--path veth: cannot start unshare: ${e.message}`)));
      child.once('exit', (code) => reject(new RunError(`--path veth: unshare --net exited (${code}): ${err.trim().split('\n')[0] ?? ''}`)));
    });
    // A holder must not keep the process alive once the run is done.
    child.unref();
    for (const s of [child.stdin, child.stdout, child.stderr]) (s as unknown as { unref?(): void } | null)?.unref?.();
    return pid;
  }

  private async build(resetSide: ResetSide, rpsCpus?: number[]): Promise<void> {
    const a = await this.hold('a');
    const b = await this.hold('b');
    const id = `cs${process.pid}`;
    const addr = ADDRESSES[this.family];
    const nsId = (pid: number): string => readlinkSync(`/proc/${pid}/ns/net`);
    const listen: NetEnd = { netns: `/proc/${a}/ns/net`, holderPid: a, id: nsId(a), device: `${id}a`, address: addr.listen };
    const client: NetEnd = { netns: `/proc/${b}/ns/net`, holderPid: b, id: nsId(b), device: `${id}b`, address: addr.client };
    if (listen.id === readlinkSync('/proc/self/ns/net') || client.id === listen.id) {
      throw new RunError('--path veth: unshare --net did not give each side a namespace of its own');
    }
    // Both ends are born in their namespaces (IFLA_NET_NS_PID): no moment in the host's.
    run(['ip', 'link', 'add', listen.device, 'netns', String(a), 'type', 'veth', 'peer', 'name', client.device, 'netns', String(b)], 'creating the veth pair');
    for (const end of [listen, client]) {
      // nodad: an address still in duplicate detection cannot be bound.
      const v6 = this.family === 6 ? ' nodad' : '';
      run(inNs(end, 'ip', '-b', '-'), `addressing ${end.device}`,
        `link set lo up\nlink set ${end.device} up\naddr add ${end.address}/${addr.prefix} dev ${end.device}${v6}\n`);
    }
    // The RST is sent by the resetting side and received at the victim's end.
    const victimSide = resetSide === 'server' ? 'client' : 'listen';
    const receiver = victimSide === 'listen' ? listen : client;
    const rpsMask = this.rps(receiver, rpsCpus === undefined ? undefined : cpuMask(rpsCpus));
    this.record = {
      kind: 'veth',
      listen,
      client,
      receive: { side: victimSide, device: receiver.device, rpsMask, rpsCpus: maskCpus(rpsMask) },
      counters: resetSide === 'server' ? 'listen' : 'client',
    };
  }

  /** Writes (when given) and reads back rps_cpus inside the namespace: /sys shows the devices of the namespace that mounted it, so a private mount of our own. */
  private rps(end: NetEnd, mask: string | undefined): string {
    const file = `/sys/class/net/${end.device}/queues/rx-0/rps_cpus`;
    const write = mask === undefined ? '' : `printf %s '${mask}' > ${file} && `;
    return run(inNs(end, 'unshare', '--mount', '--propagation', 'private', 'sh', '-c', `mount -t sysfs sysfs /sys && ${write}cat ${file}`),
      mask === undefined ? `reading RPS of ${end.device}` : `setting RPS CPUs of ${end.device}`).trim();
  }

  laneNet(): LaneNet {
    return { listenNetns: this.record.listen.netns, clientNetns: this.record.client.netns, listenAddr: this.record.listen.address };
  }

  /** /proc/PID/net of the resetting namespace: its counters count only this run's connections. */
  countersDir(): string {
    return `/proc/${this.record[this.record.counters].holderPid}/net`;
  }

  /** Both ends' packet counters now; a step diffs two reads. */
  readPackets(): VethPackets {
    const read = (end: NetEnd) => {
      const p = devPackets(readFileSync(`/proc/${end.holderPid}/net/dev`, 'utf8'), end.device);
      if (!p) throw new RunError(`--path veth: ${end.device} is gone from its namespace`);
      return { device: end.device, ...p };
    };
    return { listen: read(this.record.listen), client: read(this.record.client) };
  }

  private killHolders(): void {
    for (const h of this.holders) {
      if (h.exitCode === null && h.signalCode === null) {
        try { h.kill('SIGKILL'); } catch { /* already gone */ }
      }
    }
  }

  /** Removes both namespaces (and so the pair). Safe to call twice. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    process.off('exit', this.onExit);
    this.killHolders();
    for (const h of this.holders) h.stdin?.destroy();
  }
}

/** The path as the step header names it: `IPv4 loopback`, `IPv4 veth (...)`. */
export function describePath(kind: NetPathKind | 'remote' | undefined, family: Family, record?: VethRecord, remote?: { peer: string; serveRole: string; cpus?: number[]; environment?: { hostname?: string } }): string {
  if (kind === 'remote') {
    const pinned = remote?.cpus ? `, its lanes pinned to CPUs ${remote.cpus.join(',')}` : ', its lanes floating';
    const where = remote ? ` (serve at ${remote.peer}${remote.environment?.hostname ? ` on ${remote.environment.hostname}` : ''}, the ${remote.serveRole === 'resetter' ? 'resetting side' : 'victim side'}${pinned})` : '';
    return `IPv${family} remote host${where}`;
  }
  if (kind !== 'veth') return `IPv${family} loopback`;
  if (!record) return `IPv${family} veth`;
  const rps = record.receive.rpsCpus.length > 0 ? `RPS on CPUs ${record.receive.rpsCpus.join(',')}` : 'RPS off';
  return `IPv${family} veth (clients ${record.client.address} in one namespace, listeners ${record.listen.address} in another; ` +
    `RST received on ${record.receive.device}, ${rps})`;
}

/** What a counter delta's scope means, for the text that shows it. */
export const scopeText = (scope: 'machine' | 'netns' | undefined): string =>
  scope === 'netns' ? "in the resetting namespace: only this run's connections" : 'machine-wide: other traffic adds to it';
