import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { ToolError } from '../common/errors.js';

/** Byte offsets into the shared counters, as the C compiler laid them out. */
export interface Layout {
  /** CS_LAYOUT_VERSION: what the words mean; a reader refuses a version it does not know. */
  version: number;
  lane: Record<
    | 'done' | 'start_ns' | 'end_ns' | 'strangers' | 'fd_released' | 'fd_retained' | 'fd_reused'
    | 'lane_errno' | 'lane_stage' | 'pinned' | 'victim_cpus' | 'reset_cpus' | 'calls' | 'setup'
    | 'probe_setup' | 'close_latency' | 'skew' | 'skew_far' | 'close_first_error_ns',
    number
  >;
  laneBytes: number;
  stepBytes: number;
  stepClaimed: number;
  stepLimit: number;
  stepStop: number;
  stepLanes: number;
  errnoSlots: number;
  cpuMaskWords: number;
  maxLanes: number;
  callCount: number;
  stageCount: number;
  /** Names of the tallied calls, in native order (cs_call_names). */
  callNames: string[];
  stageNames: string[];
  laneStageNames: string[];
  /** Index in callNames of the first probe; probe bit i is call firstProbe + i. */
  firstProbe: number;
  latencyBuckets: number;
  /** Lower bound in ns of each victim-close latency bucket. */
  latencyBucketLows: number[];
  skewBuckets: number;
  skewBucketNs: number;
  skewHalf: number;
}

export interface Platform {
  os: string;
  canPin: boolean;
  allowedCpus: number[];
  /** FreeBSD's kern.osreldate of the running kernel (e.g. 1500068); absent elsewhere. */
  osreldate?: number;
  /** errno number (as a string key) to its name, from this OS's <errno.h>. */
  errnoNames: Record<string, string>;
  AF_INET: number;
  AF_INET6: number;
}

export interface LaneConfig {
  family: number;
  race: number;
  resetSide: number;
  cpu: number;
  resetCpu: number;
  /** Bit set of probes (bit i = callNames[firstProbe + i]). */
  probes: number;
  /** Cross-thread delay: > 0 delays the victim, < 0 the resetter. */
  skewNs: number;
  /** --path veth: /proc/PID/ns/net to make the listener in, then to run the trials in; the listener's address. */
  listenNetns?: string;
  clientNetns?: string;
  listenAddr?: string;
}

/** The kernel's TCP counters, machine-wide: other traffic on the host counts too. */
export interface TcpCounters {
  /** Where they were read: "/proc/net/snmp Tcp + /proc/net/netstat TcpExt", "sysctl net.inet.tcp.stats ...". */
  source: string;
  /** The kernel's own names ("OutRsts", "tcps_sndctrl") to their values now. */
  counters: Record<string, number>;
  /** What each counter really counts (FreeBSD's tcps_sndctrl is SYN+FIN+RST, not RSTs). */
  meanings: Record<string, string>;
}

interface Binding {
  layout(): Layout;
  platform(): Platform;
  /** cs_plan_lanes: the one definition of which lane runs on which CPU. */
  planLanes(lanes: number, crossThread: boolean, allowedCpus: number[], canPin: boolean): Array<{ cpu: number; resetCpu: number }>;
  /** cs_run_lanes: the lanes as pinned threads; blocks until they finish; false where a lane could not start. */
  runLanes(memory: BigUint64Array, stepOffset: number, lanes: Array<{ laneOffset: number; config: LaneConfig }>): boolean[];
  /** Throws (code = errno name; message says why, e.g. a struct tcpstat layout this build does not know). */
  tcpCounters(procNetDir?: string): TcpCounters;
  /** RLIMIT_NOFILE; Infinity when unlimited. */
  fdLimit(): { soft: number; hard: number };
  /** A sysctl's raw bytes; null where the name is unknown or the OS has no sysctl (Linux). */
  sysctl(name: string): Buffer | null;
}

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const nativeDir = path.join(root, 'native');
const requireHere = createRequire(import.meta.url);

/**
 * The addon: a source build (native/build/Release, what npm install in a clone
 * makes) first, else the tarball's prebuild for this platform, arch and libc
 * (native/prebuilds/<platform>-<arch>), in node-gyp-build's order.
 */
export function addonPath(): string {
  return (requireHere('node-gyp-build') as { path(dir: string): string }).path(nativeDir);
}

/** close-stress-core, in the same order as the addon; undefined when neither exists. */
export function corePath(): string | undefined {
  return builtFile('close-stress-core');
}

/** A native file beside the addon: the source build first, else this platform's prebuild. */
export function builtFile(name: string): string | undefined {
  return [
    path.join(nativeDir, 'build', 'Release', name),
    path.join(nativeDir, 'prebuilds', `${process.platform}-${process.arch}`, name),
  ].find((p) => existsSync(p));
}

let binding: Binding | undefined;

/** Loads the addon on first use; a missing build is a setup problem, said in one line. */
export function native(): Binding {
  if (!binding) {
    try {
      binding = requireHere(addonPath()) as Binding;
    } catch (err) {
      const reason = (err as Error).message.split('\n')[0];
      throw new ToolError(`native core not built (${reason}); run npm install (or npm run build)`);
    }
    // An addon left from an older checkout would tally rows under the wrong names.
    const { callNames, version } = binding.layout();
    const names = callNames.join(',');
    if (names !== CALLS.join(',') || version !== LAYOUT_VERSION) {
      binding = undefined;
      throw new ToolError(`native core is out of date (layout ${version}, calls ${names}; expected layout ${LAYOUT_VERSION}, calls ${CALLS.join(',')}); run npm run build`);
    }
  }
  return binding;
}

/** CS_LAYOUT_VERSION (native/src/core.h) the tally code in src/tally/tally.ts reads. */
export const LAYOUT_VERSION = 2;

/** Must match enum cs_race / cs_side / cs_call / cs_stage in native/src/core.h. */
export const RACE_CODES = { 'same-thread': 0, 'cross-thread': 1 } as const;
export const SIDE_CODES = { server: 0, client: 1 } as const;
/** Which end sends the RST (the other is the victim), and the IP family: options the lanes take. */
export type ResetSide = keyof typeof SIDE_CODES;

/** Which end of each two-host trial serve takes: the listener's, so --reset-side server makes serve the resetting side. */
export type RemoteRole = 'resetter' | 'victim';
/** enum cs_remote_role (native/src/remote.h). */
export const ROLE_CODES: Record<RemoteRole, number> = { resetter: 0, victim: 1 };
export type Family = 4 | 6;
export const CALLS = ['close', 'resetClose', 'acceptClose', 'otherClose', 'shutdown', 'send', 'recv', 'sockerror', 'accept'] as const;
export const PROBES = ['shutdown', 'send', 'recv', 'sockerror', 'accept'] as const;
export const STAGES = ['socket', 'connect', 'accept', 'peercheck', 'linger'] as const;
export const LANE_STAGES = ['ok', 'listener socket', 'bind', 'listen', 'getsockname', 'pin', 'resetter thread', 'netns', 'lane thread'] as const;
