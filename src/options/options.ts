import { UsageError } from '../common/errors.js';
import { PROBES, type Family, type ResetSide } from '../core/native.js';
import { PLACEMENTS, RESETTERS, type Placement, type Resetter } from '../env/placement.js';

export type Race = 'same-thread' | 'cross-thread';
export type { Family, ResetSide };
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
export type Probe = (typeof PROBES)[number];

/** Where the victim starts relative to the resetter, cross-thread runs only. */
export type SkewSpec =
  | { kind: 'none' }
  | { kind: 'fixed'; ns: number }
  | { kind: 'sweep'; fromNs: number; toNs: number; stepNs: number }
  | { kind: 'auto' };

/** Everything a run needs to know, validated; the plan is derived from it. */
export interface Options {
  /** Core counts to run, in order: one step each. */
  cores: number[];
  iterations: number;
  race: Race;
  resetSide: ResetSide;
  family: Family;
  /** Syscalls run on the victim after the RST and before its close, in PROBES order. */
  probes: Probe[];
  skew: SkewSpec;
  /** --placement: how each step picks its CPUs; a list runs the steps once per placement. */
  placements?: Placement[];
  /** --resetter, cross-thread runs: where a lane's resetter sits relative to its victim; a list sweeps. */
  resetters?: Resetter[];
  /** --netns: the run inside a private network namespace with RPS on its lo (Linux, root). */
  netns?: boolean;
  /** --lanes-per-core K: K lanes on each CPU of a step, pinned K to each (default 1). */
  lanesPerCore?: number;
  /** --path: where the packets go; absent in older results, which all ran over loopback. */
  path?: 'loopback' | 'veth' | 'remote';
  /** --peer HOST:PORT: serve's control address; the run is the controller of a two-host run (path remote). */
  peer?: string;
  /** --rps-cpus, --path veth: CPUs that process packets arriving at the victim's veth end (RPS). */
  rpsCpus?: number[];
  /** Runs of each step (--repeat): counts add up, throughput gets a confidence interval. */
  repeat: number;
  /** --duration: each run of a step lasts this long instead of `iterations` trials. */
  durationMs?: number;
  json?: string;
  /** JSONL journal: --journal, or `<json>.jsonl` when --json is given. */
  journal?: string;
  force: boolean;
  quiet: boolean;
  logFile?: string;
  logLevel: LogLevel;
  /** --fail-on: the outcomes the bisect verdict counts, and what --skew auto aims at. */
  failOn?: { call: string; errno: string }[];
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
export function parseCount(text: string, what: string, example = '1000000, 1_000_000 or 1e6'): number {
  const s = text.trim();
  if (!DIGITS.test(s) && !SCIENTIFIC.test(s)) {
    throw new UsageError(`${what} takes a positive integer (${example}), not '${text}'`);
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
    let n: number;
    try {
      n = parseCount(p, '--cores', 'such as 16');
    } catch (err) {
      // In a list, show the whole list: '2,,4' says more than ''.
      if (parts.length > 1) throw new UsageError(`--cores takes a list of positive integers such as 2,8,16, not '${text}'`);
      throw err;
    }
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

/** `--probe shutdown,send` (any subset, in any order) or `all`; kept in PROBES order. */
export function parseProbes(text: string): Probe[] {
  const names = text.split(',').map((p) => p.trim());
  if (names.length === 1 && names[0] === 'all') return [...PROBES];
  for (const name of names) {
    if (!(PROBES as readonly string[]).includes(name)) {
      throw new UsageError(`--probe takes a list of ${PROBES.join(', ')} or all, not '${name}'`);
    }
  }
  if (new Set(names).size !== names.length) throw new UsageError(`--probe lists a probe twice: '${text}'`);
  return PROBES.filter((p) => names.includes(p));
}

const UNITS: Record<string, number> = { ns: 1, us: 1e3, µs: 1e3, ms: 1e6 };
/** Far beyond any race window, and what the native side accepts. */
export const MAX_SKEW_NS = 1e6;

/** `300ns`, `-2us`, `1.5us`, `0`: a signed duration in whole nanoseconds. */
export function parseNs(text: string, flag: string): number {
  const m = /^(-?)([0-9]+(?:\.[0-9]+)?)(ns|us|µs|ms)?$/.exec(text.trim());
  const unit = m?.[3] ?? (m?.[2] === '0' ? 'ns' : undefined);
  if (!m || unit === undefined) {
    throw new UsageError(`${flag} takes a duration with a unit (300ns, -2us, 1.5us), not '${text}'`);
  }
  const ns = Math.round(Number(m[2]) * UNITS[unit]!) * (m[1] === '-' ? -1 : 1);
  if (Math.abs(ns) > MAX_SKEW_NS) throw new UsageError(`${flag} takes at most 1ms either way, not '${text}'`);
  return ns === 0 ? 0 : ns;
}

/** `--skew 300ns`, `--skew -2us:2us:100ns` (from:to:step) or `--skew auto`. */
export function parseSkew(text: string): SkewSpec {
  if (text === 'auto') return { kind: 'auto' };
  const parts = text.split(':');
  if (parts.length === 1) return { kind: 'fixed', ns: parseNs(text, '--skew') };
  if (parts.length !== 3) throw new UsageError(`--skew takes a duration, from:to:step or auto, not '${text}'`);
  const [fromNs, toNs, stepNs] = parts.map((p) => parseNs(p, '--skew')) as [number, number, number];
  if (stepNs <= 0) throw new UsageError(`--skew sweep step must be positive, not '${parts[2]}'`);
  if (toNs < fromNs) throw new UsageError(`--skew sweep must go up: ${parts[0]} is above ${parts[1]}`);
  if ((toNs - fromNs) / stepNs + 1 > 1001) throw new UsageError(`--skew sweep has more than 1001 points: '${text}'`);
  return { kind: 'sweep', fromNs, toNs, stepNs };
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1e3, m: 60e3, h: 3600e3 };

/** `--duration 30s`: a positive number with a unit of ms, s, m or h, in whole milliseconds. */
export function parseDuration(text: string, flag: string): number {
  const m = /^([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)$/.exec(text.trim());
  const ms = m ? Math.round(Number(m[1]) * DURATION_UNITS[m[2]!]!) : NaN;
  if (!m || !(ms >= 1)) throw new UsageError(`${flag} takes a duration with a unit: 500ms, 30s, 5m or 1h, not '${text}'`);
  if (ms > 7 * 24 * 3600e3) throw new UsageError(`${flag} takes at most a week (168h), not '${text}'`);
  return ms;
}

function parseChoices<T extends string>(text: string, flag: string, choices: readonly T[]): T[] {
  const chosen = text.split(',').map((n) => parseChoice(n.trim(), flag, choices));
  if (new Set(chosen).size !== chosen.length) throw new UsageError(`${flag} lists a value twice: '${text}'`);
  return chosen;
}

/** `--placement spread` or a list to sweep: `linear,spread,pack`. */
export function parsePlacements(text: string): Placement[] {
  return parseChoices(text, '--placement', PLACEMENTS);
}

/** `--resetter sibling` or a list to sweep: `sibling,llc,other-package`. */
export function parseResetters(text: string): Resetter[] {
  return parseChoices(text, '--resetter', RESETTERS);
}
