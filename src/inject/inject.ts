import { spawn } from 'node:child_process';
import { accessSync, constants as fsConstants, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { functionSymbols, readProgram, symbolAt, type ElfFile } from './elf.js';
import { toolInfo } from '../env/env.js';
import { RunError, UsageError } from '../common/errors.js';
import { parseCount } from '../options/options.js';
import { builtFile } from '../core/native.js';

/*
 * `close-stress inject -- CMD`: runs CMD with native/src/inject.c preloaded,
 * then reads the events it appended and says what CMD did after a close()
 * that failed the way FreeBSD's does. The library records; this file decides
 * what the records mean (retry, reuse, handled) and what could not be reached.
 */

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
// A source build, else the tarball's prebuild; the named path is only for the "not built" message.
export const injectLibraryPath = builtFile('close-stress-inject.so') ?? path.join(root, 'native', 'build', 'Release', 'close-stress-inject.so');

export type InjectMode =
  | { kind: 'every'; n: number }
  | { kind: 'probability'; p: number; seed: number }
  | { kind: 'race'; windowNs: number };

export interface InjectOptions {
  mode: InjectMode;
  errno: { name: string; value: number };
  command: string[];
  json?: string;
  force: boolean;
  failOnRetry: boolean;
}

export interface RawInjectOptions {
  every?: string;
  probability?: string;
  seed?: string;
  race?: string;
  errno?: string;
  json?: string;
  force?: boolean;
  failOnRetry?: boolean;
}

const WINDOW_UNITS: Record<string, number> = { ns: 1, us: 1e3, µs: 1e3, ms: 1e6, s: 1e9 };
const MAX_WINDOW_NS = 10e9;

/** `--race 2us`: the emulated window, ns to 10 s. */
export function parseWindow(text: string): number {
  const m = /^([0-9]+(?:\.[0-9]+)?)(ns|us|µs|ms|s)$/.exec(text.trim());
  const ns = m ? Math.round(Number(m[1]) * WINDOW_UNITS[m[2]!]!) : NaN;
  if (!m || !(ns >= 1)) throw new UsageError(`--race takes a window with a unit (2us, 500us, 10ms), not '${text}'`);
  if (ns > MAX_WINDOW_NS) throw new UsageError(`--race takes at most 10s, not '${text}'`);
  return ns;
}

export function parseInjectOptions(raw: RawInjectOptions, command: string[], errnoNames: Record<string, string>): InjectOptions {
  const modes = (['every', 'probability', 'race'] as const).filter((k) => raw[k] !== undefined);
  if (modes.length > 1) throw new UsageError(`--${modes[0]} and --${modes[1]} are two modes: give one`);
  if (raw.seed !== undefined && raw.probability === undefined) throw new UsageError('--seed needs --probability');
  let mode: InjectMode = { kind: 'every', n: 1 };
  if (raw.every !== undefined) mode = { kind: 'every', n: parseCount(raw.every, '--every', 'such as 10') };
  if (raw.probability !== undefined) {
    const p = Number(raw.probability);
    if (!/^[0-9.e+-]+$/i.test(raw.probability.trim()) || !(p > 0 && p <= 1)) {
      throw new UsageError(`--probability takes a number above 0 and at most 1 (0.5, 1e-3), not '${raw.probability}'`);
    }
    const seed = raw.seed === undefined ? 1 : parseCount(raw.seed, '--seed', 'such as 42');
    mode = { kind: 'probability', p, seed };
  }
  if (raw.race !== undefined) mode = { kind: 'race', windowNs: parseWindow(raw.race) };
  const name = (raw.errno ?? 'ECONNRESET').toUpperCase();
  const value = Object.entries(errnoNames).find(([, n]) => n === name)?.[0];
  if (value === undefined) throw new UsageError(`--errno takes an errno name of this OS (ECONNRESET, EINVAL, EINTR...), not '${raw.errno}'`);
  if (command.length === 0) throw new UsageError('inject needs a command to run: close-stress inject [options] -- CMD [ARGS...]');
  if (raw.json !== undefined && raw.json.trim() === '') throw new UsageError("--json takes a file name, not ''");
  return {
    mode,
    errno: { name, value: Number(value) },
    command,
    ...(raw.json !== undefined && { json: raw.json }),
    force: raw.force ?? false,
    failOnRetry: raw.failOnRetry ?? false,
  };
}

function modeEnv(mode: InjectMode): string {
  if (mode.kind === 'every') return `every:${mode.n}`;
  if (mode.kind === 'probability') return `prob:${mode.p}:${mode.seed}`;
  return `race:${mode.windowNs}`;
}

export function describeMode(mode: InjectMode): string {
  if (mode.kind === 'every') return mode.n === 1 ? 'every eligible close' : `every ${ordinal(mode.n)} eligible close`;
  if (mode.kind === 'probability') return `eligible closes with probability ${mode.p} (seed ${mode.seed})`;
  return `race-timed: closes of connected sockets wait ${fmtNs(mode.windowNs)}; fails those reset meanwhile (emulation)`;
}

/** 2nd, 3rd, 11th, 21st. */
function ordinal(n: number): string {
  const teen = Math.floor(n / 10) % 10 === 1;
  const suffix = teen ? 'th' : ({ 1: 'st', 2: 'nd', 3: 'rd' } as Record<number, string>)[n % 10] ?? 'th';
  return `${n}${suffix}`;
}

function fmtNs(ns: number): string {
  if (ns >= 1e9 && ns % 1e9 === 0) return `${ns / 1e9}s`;
  if (ns >= 1e6 && ns % 1e6 === 0) return `${ns / 1e6}ms`;
  if (ns >= 1e3 && ns % 1e3 === 0) return `${ns / 1e3}us`;
  return `${ns}ns`;
}

// ---- events ----

export interface InjectEvent {
  kind: string;
  fields: Record<string, string>;
}

/** One event per line, tab-separated key=value after the kind; a line cut off by a crash is dropped. */
export function parseEvents(text: string): InjectEvent[] {
  const out: InjectEvent[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const [kind, ...rest] = line.split('\t');
    const fields: Record<string, string> = {};
    for (const kv of rest) {
      const eq = kv.indexOf('=');
      if (eq > 0) fields[kv.slice(0, eq)] = kv.slice(eq + 1);
    }
    if (kind && fields.pid !== undefined) out.push({ kind, fields });
  }
  return out;
}

export interface Site {
  module: string;
  /** Link-time address in module, for `addr2line -f -e module ADDRESS`. */
  address: string | null;
  symbol: string | null;
  symbolOffset: string | null;
}

export const FOLLOWUP_KINDS = ['close-free', 'close-reused', 'use-free', 'use-reused'] as const;
export type FollowupKind = (typeof FOLLOWUP_KINDS)[number];

export interface Injection { id: string; pid: number; tid: number; fd: number; call: string; errno: number; raced: boolean; site: Site }
export interface Followup { kind: FollowupKind; of: string; pid: number; tid: number; fd: number; call: string; rc: number; errno: number; site: Site }
export interface Note { code: 'static' | 'go' | 'setuid' | 'env-cleared' | 'not-loaded' | 'refused' | 'no-tcp-close' | 'no-eligible' | 'untracked'; message: string }

export interface Counters {
  closes: number; syscallCloses: number; tcpCloses: number; eligible: number; injected: number;
  untracked: number; windows: number; connects: number; accepts: number;
}

export interface InjectReport {
  schema: 'close-stress/inject';
  schemaVersion: 1;
  tool: { name: string; version: string };
  command: string[];
  mode: InjectMode;
  errno: { name: string; value: number };
  exit: { code: number | null; signal: string | null; status: number };
  processes: { loaded: number; exited: number };
  counters: Counters;
  summary: {
    injected: number; handledSilently: number; retryFree: number; retryReused: number;
    useFree: number; useReused: number; numbersReused: number;
  };
  tested: boolean;
  notes: Note[];
  injections: Injection[];
  followups: Followup[];
  sites: { role: 'injected' | FollowupKind; count: number; site: Site }[];
}

class SiteResolver {
  private readonly symbols = new Map<string, ReturnType<typeof functionSymbols>>();
  private readonly loads = new Map<string, bigint>();
  constructor(private readonly exeOf: Map<string, string>) {}

  resolve(f: Record<string, string>): Site {
    let module = f.mod ?? '?';
    // dladdr names the main program by argv[0] (or not at all): /proc/self/exe is its file.
    if (!module.includes('/') || module.startsWith('./') || module.startsWith('../')) module = this.exeOf.get(f.pid ?? '') ?? module;
    const addr = f.addr ? BigInt(f.addr) : undefined;
    const base = f.base ? BigInt(f.base) : undefined;
    let address: bigint | undefined;
    let symbol = f.sym ?? null;
    let symbolOffset = f.symoff ?? null;
    if (addr !== undefined && base !== undefined && existsSync(module)) {
      address = addr - base + this.firstLoad(module);
      // A return address points after the call: look up the byte before it.
      const found = symbolAt(this.symbolsOf(module), address - 1n);
      if (found) {
        symbol = found.name;
        symbolOffset = `0x${(found.offset + 1n).toString(16)}`;
      }
    }
    return { module, address: address === undefined ? (f.addr ?? null) : `0x${address.toString(16)}`, symbol, symbolOffset };
  }

  private firstLoad(module: string): bigint {
    let v = this.loads.get(module);
    if (v === undefined) {
      try {
        const p = readProgram(module);
        v = p.kind === 'elf' ? p.firstLoad : 0n;
      } catch {
        v = 0n;
      }
      this.loads.set(module, v);
    }
    return v;
  }

  private symbolsOf(module: string) {
    let s = this.symbols.get(module);
    if (!s) {
      s = functionSymbols(module);
      this.symbols.set(module, s);
    }
    return s;
  }
}

const num = (v: string | undefined) => (v === undefined ? 0 : Number(v));

export interface ExitInfo { code: number | null; signal: string | null; status: number }

/** Events + what is known of the command -> the report. */
export function summarize(events: InjectEvent[], options: InjectOptions, exit: ExitInfo, commandNotes: Note[], childNotes: Note[] = []): InjectReport {
  const exeOf = new Map<string, string>();
  const loaded = new Set<string>();
  let refused = 0;
  for (const e of events) {
    if (e.kind === 'start' || e.kind === 'refused') {
      exeOf.set(e.fields.pid!, e.fields.exe ?? '');
      loaded.add(e.fields.pid!);
      if (e.kind === 'refused') refused++;
    }
  }
  const sites = new SiteResolver(exeOf);
  const counters: Counters = { closes: 0, syscallCloses: 0, tcpCloses: 0, eligible: 0, injected: 0, untracked: 0, windows: 0, connects: 0, accepts: 0 };
  const keys: [keyof Counters, string][] = [
    ['closes', 'closes'], ['syscallCloses', 'syscall_closes'], ['tcpCloses', 'tcp_closes'], ['eligible', 'eligible'],
    ['injected', 'injected'], ['untracked', 'untracked'], ['windows', 'windows'], ['connects', 'connects'], ['accepts', 'accepts'],
  ];
  let exited = 0;
  let tcpSeen = false;
  const injections: Injection[] = [];
  const followups: Followup[] = [];
  let numbersReused = 0;
  for (const { kind, fields: f } of events) {
    if (kind === 'exit') {
      exited++;
      for (const [k, name] of keys) counters[k] += num(f[name]);
    } else if (kind === 'tcp') {
      tcpSeen = true;
    } else if (kind === 'inject') {
      injections.push({
        id: `${f.pid}:${f.seq}`, pid: num(f.pid), tid: num(f.tid), fd: num(f.fd), call: f.call ?? 'close',
        errno: num(f.errno), raced: f.raced === '1', site: sites.resolve(f),
      });
    } else if ((FOLLOWUP_KINDS as readonly string[]).includes(kind)) {
      followups.push({
        kind: kind as FollowupKind, of: f.of ?? '', pid: num(f.pid), tid: num(f.tid), fd: num(f.fd), call: f.call ?? '',
        rc: num(f.rc), errno: num(f.errno), site: sites.resolve(f),
      });
    } else if (kind === 'reuse') {
      numbersReused++;
    }
  }
  // A process killed by a signal writes no exit line: its injections still count.
  if (counters.injected < injections.length) counters.injected = injections.length;
  const followed = new Set(followups.map((f) => f.of));
  const count = (k: FollowupKind) => followups.filter((f) => f.kind === k).length;
  const summary = {
    injected: injections.length,
    handledSilently: injections.filter((i) => !followed.has(i.id)).length,
    retryFree: count('close-free'),
    retryReused: count('close-reused'),
    useFree: count('use-free'),
    useReused: count('use-reused'),
    numbersReused,
  };

  const notes = [...commandNotes, ...childNotes];
  if (loaded.size === 0) {
    notes.push({ code: 'not-loaded', message: 'the library was loaded in no process: nothing was injected or watched' });
  }
  if (refused > 0) notes.push({ code: 'refused', message: `the library refused the mode in ${refused} process(es)` });
  if (loaded.size > 0 && counters.tcpCloses === 0 && (tcpSeen || counters.connects + counters.accepts > 0)) {
    notes.push({
      code: 'no-tcp-close',
      message: 'TCP connections were made through libc but no TCP socket was closed through close(): they were closed by raw system calls or left to exit',
    });
  } else if (loaded.size > 0 && counters.tcpCloses === 0) {
    const silent = loaded.size - exited;
    notes.push({
      code: 'no-tcp-close',
      message: 'no TCP socket was connected, accepted or closed through libc: if CMD uses TCP, it bypasses libc (raw system calls, as Go does on Linux) and was not tested' +
        (silent > 0 ? ` (${silent} process(es) left by _exit or a signal without their counters)` : ''),
    });
  } else if (counters.tcpCloses > 0 && counters.eligible === 0 && options.mode.kind !== 'race') {
    notes.push({
      code: 'no-eligible',
      message: `${counters.tcpCloses} TCP close(s), none after a reset by the peer: nothing to inject (make the peer reset the connection, or use --race)`,
    });
  }
  if (counters.untracked > 0) {
    notes.push({ code: 'untracked', message: `${counters.untracked} injection(s) on descriptors above 65535: their follow-ups were not watched` });
  }
  // A child the library cannot reach is a warning; CMD itself unreachable means nothing was tested.
  const unreachable = loaded.size === 0 || commandNotes.some((n) => n.code === 'static' || n.code === 'go' || n.code === 'setuid');
  const tested = !unreachable && counters.tcpCloses > 0;

  const siteCounts = new Map<string, { role: 'injected' | FollowupKind; count: number; site: Site }>();
  const addSite = (role: 'injected' | FollowupKind, site: Site) => {
    const key = `${role}\0${site.module}\0${site.symbol ?? site.address}`;
    const entry = siteCounts.get(key) ?? { role, count: 0, site };
    entry.count++;
    siteCounts.set(key, entry);
  };
  for (const f of followups) addSite(f.kind, f.site);
  for (const i of injections) addSite('injected', i.site);
  // Follow-ups first: they are the bugs; injection sites say where the failing close was.
  const sitesSorted = [...siteCounts.values()].sort((a, b) =>
    (a.role === 'injected' ? 1 : 0) - (b.role === 'injected' ? 1 : 0) || b.count - a.count);

  return {
    schema: 'close-stress/inject',
    schemaVersion: 1,
    tool: toolInfo(),
    command: options.command,
    mode: options.mode,
    errno: options.errno,
    exit,
    processes: { loaded: loaded.size, exited },
    counters,
    summary,
    tested,
    notes,
    injections,
    followups,
    sites: sitesSorted,
  };
}

// ---- what a preload library cannot reach ----

function resolveCommand(cmd: string, envPath = process.env.PATH ?? ''): string | undefined {
  const executable = (f: string) => {
    try {
      accessSync(f, fsConstants.X_OK);
      return statSync(f).isFile();
    } catch {
      return false;
    }
  };
  if (cmd.includes('/')) return executable(cmd) ? cmd : undefined;
  for (const dir of envPath.split(':')) {
    const f = path.join(dir || '.', cmd);
    if (executable(f)) return f;
  }
  return undefined;
}

/** Why a preload library would not reach this program file, if it would not. */
export function reachNotes(file: string, label: string, depth = 0): Note[] {
  let program;
  try {
    program = readProgram(file);
  } catch {
    return [];
  }
  if (program.kind === 'script') {
    let interp = program.interpreter;
    if (path.basename(interp) === 'env' && program.args[0]) interp = resolveCommand(program.args[0]) ?? program.args[0];
    return depth < 4 ? reachNotes(interp, `${label} (its interpreter ${interp})`, depth + 1) : [];
  }
  if (program.kind !== 'elf') return [];
  const notes: Note[] = [];
  const elf: ElfFile = program;
  if (elf.interp === undefined) {
    notes.push({ code: 'static', message: `${label} is statically linked (no PT_INTERP): no dynamic loader reads LD_PRELOAD, so its close() cannot be reached` });
  } else if (elf.go) {
    notes.push({ code: 'go', message: `${label} is a Go program: Go's net package makes raw system calls on Linux, past any preload library` });
  }
  const st = statSync(file);
  if (((st.mode & 0o4000) && st.uid !== process.getuid?.()) || ((st.mode & 0o2000) && st.gid !== process.getgid?.())) {
    notes.push({ code: 'setuid', message: `${label} is set-user/group-ID: the loader runs it in secure mode and ignores a preload library given by path` });
  }
  return notes;
}

/** Children the library saw exec'd: the static or setuid ones, and those whose environment dropped LD_PRELOAD. */
export function childNotes(events: InjectEvent[], command: string[]): Note[] {
  const notes: Note[] = [];
  const seen = new Set<string>();
  const top = command[0] ?? '';
  for (const { kind, fields: f } of events) {
    if (kind !== 'exec' || !f.path) continue;
    const file = resolveCommand(f.path) ?? f.path;
    if (seen.has(file) || file === top) continue;
    seen.add(file);
    if (f.preload === '0') {
      notes.push({ code: 'env-cleared', message: `child ${f.path} was started with an environment without LD_PRELOAD: it ran without injection` });
      continue;
    }
    notes.push(...reachNotes(file, `child ${f.path}`));
  }
  return notes;
}

// ---- running the command ----

function prependPreload(current: string | undefined): string {
  return current ? `${injectLibraryPath} ${current}` : injectLibraryPath;
}

function runChild(command: string[], env: NodeJS.ProcessEnv): Promise<ExitInfo> {
  return new Promise((resolve, reject) => {
    const child = spawn(command[0]!, command.slice(1), { stdio: 'inherit', env });
    // The report must outlive CMD: a Ctrl-C or a kill goes to CMD, and we report when it has gone.
    const forward = (sig: NodeJS.Signals) => () => { child.kill(sig); };
    const handlers = (['SIGINT', 'SIGTERM', 'SIGHUP'] as const).map((s) => [s, forward(s)] as const);
    for (const [s, h] of handlers) process.on(s, h);
    const done = () => { for (const [s, h] of handlers) process.off(s, h); };
    child.on('error', (err) => { done(); reject(err); });
    child.on('exit', (code, signal) => {
      done();
      const sigNum = signal ? os.constants.signals[signal] ?? 0 : 0;
      resolve({ code, signal, status: code ?? 128 + sigNum });
    });
  });
}

export interface InjectOutcome { report: InjectReport; exitCode: number }

export async function runInject(options: InjectOptions): Promise<InjectOutcome> {
  if (process.platform !== 'linux') throw new RunError(`inject runs on Linux only (it preloads a library into a glibc program); this is ${process.platform}`);
  if (!existsSync(injectLibraryPath)) throw new RunError(`the inject library is not built (${injectLibraryPath}); run npm install (or npm run build)`);
  const file = resolveCommand(options.command[0]!);
  if (!file) throw new UsageError(`inject: command not found or not executable: ${options.command[0]}`);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'close-stress-inject-'));
  const eventsFile = path.join(dir, 'events');
  try {
    const exit = await runChild(options.command, {
      ...process.env,
      LD_PRELOAD: prependPreload(process.env.LD_PRELOAD),
      CLOSE_STRESS_INJECT_EVENTS: eventsFile,
      CLOSE_STRESS_INJECT_MODE: modeEnv(options.mode),
      CLOSE_STRESS_INJECT_ERRNO: String(options.errno.value),
    });
    const events = parseEvents(existsSync(eventsFile) ? readFileSync(eventsFile, 'utf8') : '');
    const report = summarize(events, options, exit, reachNotes(file, options.command[0]!), childNotes(events, options.command));
    const s = report.summary;
    const misuse = s.retryFree + s.retryReused + s.useFree + s.useReused;
    const exitCode = options.failOnRetry && (misuse > 0 || !report.tested) ? 1 : exit.status;
    return { report, exitCode };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---- rendering ----

function siteText(site: Site): string {
  const where = site.address ? `${site.module}+${site.address}` : site.module;
  return site.symbol ? `${site.symbol}+${site.symbolOffset ?? '0x0'}  (${where})` : where;
}

const ROLE_LABEL: Record<'injected' | FollowupKind, string> = {
  injected: 'close() failed',
  'close-free': 'retried close(), free number',
  'close-reused': 'retried close(), REUSED number',
  'use-free': 'used after failed close()',
  'use-reused': 'used after failed close(), REUSED number',
};

export function renderInject(r: InjectReport, top = 5): string {
  const s = r.summary;
  const c = r.counters;
  const lines: string[] = [];
  const exit = r.exit.signal ? `killed by ${r.exit.signal}, status ${r.exit.status}` : `exit ${r.exit.status}`;
  lines.push(`close-stress inject: ${r.command.join(' ')} (${exit})`);
  lines.push(`  close() fails with ${r.errno.name} on ${describeMode(r.mode)}; the descriptor is released, as on FreeBSD`);
  lines.push(`  processes: ${r.processes.loaded} with the library; TCP: ${c.connects} connect, ${c.accepts} accept, ${c.tcpCloses} close (${c.syscallCloses} closes via syscall()), ${c.eligible} eligible`);
  lines.push('');
  const rows: [string, number][] = [
    ['injected (close() returned -1, number released)', s.injected],
    ['handled silently (no follow-up)', s.handledSilently],
    ['retried close() on a free number (EBADF)', s.retryFree],
    ['retried close() that closed a reused descriptor', s.retryReused],
    ['other use after failed close()', s.useFree + s.useReused],
  ];
  const width = Math.max(...rows.map(([l]) => l.length));
  for (const [label, n] of rows) lines.push(`  ${label.padEnd(width)}  ${String(n).padStart(6)}`);
  if (s.numbersReused > 0) lines.push(`  (${s.numbersReused} released number(s) were taken again by a new descriptor)`);
  if (r.sites.length > 0) {
    lines.push('', '  top call sites');
    for (const site of r.sites.slice(0, top)) {
      lines.push(`    ${ROLE_LABEL[site.role].padEnd(41)} ${String(site.count).padStart(5)}  ${siteText(site.site)}`);
    }
  }
  lines.push('');
  for (const n of r.notes) lines.push(`  note: ${n.message}`);
  const misuse = s.retryFree + s.retryReused + s.useFree + s.useReused;
  if (!r.tested) {
    lines.push('  NOT TESTED: no close() of a TCP socket was reached; this is not a clean run');
  } else if (s.injected === 0) {
    lines.push('  nothing injected: no eligible close() happened');
  } else if (misuse === 0) {
    lines.push(`  verdict: every failed close() was handled without touching the number again`);
  } else {
    const loss = s.retryReused + s.useReused;
    lines.push(`  verdict: RETRY BUG: ${misuse} follow-up(s) on a number whose close() had already released it${loss ? `; ${loss} hit another descriptor (data loss)` : ''}`);
  }
  return `${lines.join('\n')}\n`;
}
