import { realpathSync } from 'node:fs';
import path from 'node:path';
import { CLOSE_BY_KERNEL_HELP } from './common/kernel-versions.js';
import { Command, CommanderError, Option } from 'commander';
import type { Logger } from 'pino';
import { OutputError, ToolError, UsageError } from './common/errors.js';
import { toolInfo } from './env/env.js';
import { createLogger, logFileError } from './options/log.js';
import { native } from './core/native.js';
import {
  LOG_LEVELS, MAX_CORES, parseChoice, parseCores, parseCount, parseDuration, parseProbes, parseSkew, RACES, RESET_SIDES,
  parsePlacements, parseResetters,
  type Family, type LogLevel, type Options,
} from './options/options.js';
import { bisectRequested, checkFailOn, judge, parseFailOn, parseRate, BISECT_EXIT, type BisectRule } from './report/bisect.js';
import { compareMany, compareResults, renderComparison, renderMany } from './report/compare.js';
import type { HtmlOptions } from './html/html.js';
import { journalPath } from './result/journal.js';
import { loadRun } from './result/load.js';
import { Progress } from './measure/progress.js';
import { renderTable } from './report/report.js';
import { checkOutputPath, refuseSharedOutputs, writeAtomic, writeResult, type RunResult } from './result/result.js';
import { run, StopSignals } from './run.js';
import { PLACEMENTS, RESETTERS } from './env/placement.js';
import { insideNetns, runInNetns } from './env/netns.js';
import { NET_PATHS, vethUnavailable } from './env/netpath.js';
import { parseCpuFlag } from './env/topology.js';
import { renderTap } from './report/tap.js';
import { parseHostPort } from './measure/control.js';
import { serveCommand, type RawServeOptions } from './serve.js';
import { parseInjectOptions, renderInject, runInject, type RawInjectOptions } from './inject/inject.js';

interface RawOptions {
  cores?: string;
  sweep: boolean;
  iterations?: string;
  race: string;
  resetSide: string;
  family: string;
  probe?: string;
  skew?: string;
  json?: string;
  force?: boolean;
  quiet?: boolean;
  logFile?: string;
  logLevel?: string;
  repeat?: string;
  duration?: string;
  journal?: string;
  failOn?: string;
  failAbove?: string;
  placement?: string;
  resetter?: string;
  tap?: boolean;
  lanesPerCore?: string;
  netns?: boolean;
  path?: string;
  rpsCpus?: string;
  peer?: string;
  token?: string;
  /** --race was typed (its default is same-thread, which --peer replaces). */
  raceGiven?: boolean;
}

const DEFAULT_ITERATIONS = '100000';

/** Flags as typed -> validated Options; every refusal is a UsageError naming the flag. */
export function toOptions(raw: RawOptions, allowedCpuCount: number): Options {
  const cores = parseCores(raw.cores ?? String(allowedCpuCount), raw.sweep);
  const family = Number(parseChoice(raw.family, '--family', ['4', '6'])) as Family;
  // Logging to a file is for the record, so keep the run's events; on stderr only what needs attention.
  const logLevel: LogLevel = raw.logLevel !== undefined
    ? parseChoice(raw.logLevel, '--log-level', LOG_LEVELS)
    : raw.logFile ? 'info' : 'warn';
  // Two hosts: the resetter is serve's thread, the victim ours (or the other way round): never one thread.
  if (raw.peer !== undefined && raw.race === 'same-thread' && raw.raceGiven === true) {
    throw new UsageError('--race same-thread cannot be run with --peer: the resetting close is on the other host');
  }
  const race = raw.peer !== undefined ? 'cross-thread' : parseChoice(raw.race, '--race', RACES);
  const skew = raw.skew === undefined ? ({ kind: 'none' } as const) : parseSkew(raw.skew);
  // On one thread the victim close always follows the resetting close: only a delay of it exists.
  const lowest = skew.kind === 'fixed' ? skew.ns : skew.kind === 'sweep' ? skew.fromNs : 0;
  if (race === 'same-thread' && lowest < 0) {
    throw new UsageError('--skew below 0 needs --race cross-thread: on one thread the victim close always follows the resetting close');
  }
  if (raw.resetter !== undefined && raw.peer !== undefined) {
    throw new UsageError('--resetter cannot be used with --peer: the resetter runs on serve\'s host');
  }
  if (raw.resetter !== undefined && race !== 'cross-thread') {
    throw new UsageError('--resetter needs --race cross-thread: only there does the RST come from a thread of its own');
  }
  const options: Options = {
    cores,
    iterations: parseCount(raw.iterations ?? DEFAULT_ITERATIONS, '--iterations'),
    race,
    resetSide: parseChoice(raw.resetSide, '--reset-side', RESET_SIDES),
    family,
    probes: raw.probe === undefined ? [] : parseProbes(raw.probe),
    skew,
    placements: raw.placement === undefined ? ['linear'] : parsePlacements(raw.placement),
    ...(race === 'cross-thread' && raw.peer === undefined && { resetters: raw.resetter === undefined ? ['next'] : parseResetters(raw.resetter) }),
    force: raw.force ?? false,
    quiet: raw.quiet ?? false,
    logLevel,
    ...(raw.json !== undefined && { json: raw.json }),
    ...(raw.logFile !== undefined && { logFile: raw.logFile }),
    repeat: raw.repeat === undefined ? 1 : parseCount(raw.repeat, '--repeat', 'such as 5'),
    ...(raw.lanesPerCore !== undefined && { lanesPerCore: parseCount(raw.lanesPerCore, '--lanes-per-core') }),
    ...(raw.netns && { netns: true }),
    ...(raw.duration !== undefined && { durationMs: parseDuration(raw.duration, '--duration') }),
  };
  const netPath = parseChoice(raw.path ?? 'loopback', '--path', NET_PATHS);
  if (netPath !== 'loopback') options.path = netPath;
  if (raw.peer !== undefined) applyPeer(options, raw);
  else if (raw.token !== undefined) throw new UsageError('--token needs --peer: it authenticates this controller to serve');
  const noVeth = netPath === 'veth' ? vethUnavailable() : undefined;
  if (noVeth) throw new UsageError(noVeth);
  if (raw.rpsCpus !== undefined) {
    if (netPath !== 'veth') throw new UsageError('--rps-cpus needs --path veth: it sets RPS on the receiving veth end');
    options.rpsCpus = parseCpuFlag(raw.rpsCpus, '--rps-cpus', MAX_CORES);
  }
  if (options.repeat > 1 && options.skew.kind === 'auto') {
    throw new UsageError('--repeat with --skew auto: each repeat could find another window; give the skew it found (--skew 1500ns) to repeat');
  }
  const k = options.lanesPerCore ?? 1;
  if (Math.max(...cores) * k > MAX_CORES) {
    throw new UsageError(`--lanes-per-core ${k} with --cores up to ${Math.max(...cores)} makes ${Math.max(...cores) * k} lanes in a step; at most ${MAX_CORES}`);
  }
  if (raw.duration !== undefined && raw.iterations !== undefined) {
    throw new UsageError('--duration and --iterations both set the length of a step: give one');
  }
  if (options.json !== undefined) checkOutputPath(options.json, '--json', options.force);
  const journal = journalPath({ ...options, ...(raw.journal !== undefined && { journal: raw.journal }) });
  if (journal !== undefined) {
    options.journal = journal;
    checkOutputPath(journal, raw.journal !== undefined ? '--journal' : '--json (its journal)', options.force);
  }
  if (options.logFile !== undefined) checkOutputPath(options.logFile, '--log-file', true);
  refuseSharedOutputs([
    { flag: '--json', file: options.json },
    { flag: raw.journal !== undefined ? '--journal' : '--json (its journal)', file: options.journal },
    { flag: '--log-file', file: options.logFile },
  ]);
  return options;
}

/** --peer: the path is the network to serve's host; what cannot cross it is refused here. */
function applyPeer(options: Options, raw: RawOptions): void {
  const { family } = parseHostPort(raw.peer!, '--peer', false);
  if (raw.path !== undefined) throw new UsageError('--path cannot be used with --peer: the path is the network between the two hosts');
  if (raw.netns) throw new UsageError('--netns cannot be used with --peer: serve\'s host processes the packets it receives');
  if (family !== options.family) throw new UsageError(`--peer ${raw.peer} is IPv${family}: give --family ${family}`);
  if (options.probes.includes('accept')) throw new UsageError('--probe accept cannot be used with --peer: it needs a listener of the victim\'s own');
  if (tokenOf(raw) === undefined) throw new UsageError('--peer needs the token serve printed: --token T (or CLOSE_STRESS_TOKEN=T, kept out of ps)');
  options.path = 'remote';
  options.peer = raw.peer!;
}

/** --token, else CLOSE_STRESS_TOKEN: a token on the command line is visible to every user of the host (ps). */
export const tokenOf = (raw: Pick<RawOptions, 'token'>): string | undefined => raw.token ?? process.env.CLOSE_STRESS_TOKEN;

function program(): Command {
  return new Command('close-stress')
    .description(
      'Races a TCP peer\'s RST against close(2) on loopback and tallies every close() result by errno, ' +
        'per core count (FreeBSD PR kern/159179: close() returning ECONNRESET, which POSIX does not allow).',
    )
    .version(toolInfo().version)
    .option('--cores <spec>', `core counts: N sweeps 1,2,4,...,N; a list (2,8,16) runs exactly those; at most ${MAX_CORES} (default: allowed CPUs)`)
    .option('--no-sweep', 'with --cores N, run N alone')
    .option('--iterations <n>', `trials per step: 1e6, 1000000 or 1_000_000 (default: ${DEFAULT_ITERATIONS})`)
    .addOption(new Option('--race <shape>', 'same-thread: both closes back to back on one thread; cross-thread: resetter and victim threads on two CPUs released by a spin barrier').default('same-thread'))
    .addOption(new Option('--reset-side <side>', 'which end sends the RST (SO_LINGER {1,0}); the other end is the victim').default('server'))
    .addOption(new Option('--family <4|6>', 'IPv4 (127.0.0.1) or IPv6 (::1) loopback; with --path veth 198.18.0.x or 2001:2::x').default('4'))
    .option('--probe <list>', 'also run these on the victim after the RST, before its close: shutdown,send,recv,sockerror,accept or all')
    .option('--skew <spec>', 'delay the victim by a duration (300ns; cross-thread: negative delays the resetter), sweep from:to:step (-2us:2us:100ns), or auto (find where close() errors outside POSIX, or the --fail-on outcomes, come fastest); same-thread: a spin between the resetting and the victim close')
    .option('--placement <list>', `which CPUs a step's lanes use: ${PLACEMENTS.join(', ')}; a list (linear,spread) runs every step once per placement (default: linear, lane i on the i-th allowed CPU)`)
    .option('--resetter <list>', `cross-thread: the resetter's CPU relative to its victim: ${RESETTERS.join(', ')}; a list runs every step once per value (default: next, the CPU of the next lane)`)
    .option('--path <path>', 'loopback, or veth (Linux, root): each lane\'s listener in one network namespace of the run\'s own, its clients in another, joined by a veth pair (default: loopback)')
    .option('--peer <addr:port>', 'two hosts: run the controller\'s side against `close-stress serve` at this numeric address (198.18.0.1:7000, [2001:2::1]:7000); the path is recorded as remote')
    .option('--token <token>', '--peer: the one-time token serve printed (or CLOSE_STRESS_TOKEN, which ps does not show)')
    .option('--rps-cpus <list>', '--path veth: CPUs that process packets arriving at the victim\'s veth end (RPS), as a CPU list (0-3,8) (default: RPS off)')
    .option('--json <file>', 'also write the results, options and environment as JSON (atomically)')
    .option('--force', 'overwrite an existing --json or journal file')
    .option('-q, --quiet', 'no progress bars')
    .option('--log-file <file>', 'structured (pino) log to this file instead of stderr')
    .option('--log-level <level>', `log level: ${LOG_LEVELS.join(', ')} (default: warn on stderr, info with --log-file)`)
      .option('--repeat <n>', 'run each step n times: counts add up, throughput is reported as a mean with a 95% interval')
    .option('--duration <time>', 'run each step for this long instead of --iterations trials: 500ms, 30s, 5m, 1h')
    .option('--journal <file>', 'write each finished step to this new JSONL journal, fsynced (default: <--json file>.jsonl; an existing one is refused unless --force)')
    .option('--fail-on <errnos>', 'for git bisect run: exit 1 when these occur (ECONNRESET = the victim close(); close:ECONNRESET, shutdown:ENOTCONN, ...); 0 when not; 125 when the run could not measure; 128 (aborts the bisection) on an error that says nothing about the commit, such as a mistyped flag')
    .option('--fail-above <rate>', 'for git bisect run: exit 1 only when a step\'s rate of --fail-on errnos (default: close() errors outside POSIX) exceeds this, e.g. 1e-5')
    .option('--netns', 'Linux, root: run in a private network namespace with RPS on its lo, so the RST is processed on another CPU (a stand-in for FreeBSD\'s netisr); the host\'s lo is untouched')
    .option('--lanes-per-core <k>', 'run K lanes on each CPU of a step, pinned K to each (default 1); the step is still N cores')
    .option('--tap', 'TAP (KTAP-readable) on stdout, one test point per step, the table on stderr; exit 0 pass, 1 fail, 4 all skipped (kselftest)')
    .addHelpText('after', `\n${CLOSE_BY_KERNEL_HELP}`)
    .allowExcessArguments(false)
    .enablePositionalOptions()
    .exitOverride()
    // Errors are rethrown as UsageError and printed once, on one line, by main.
    .configureOutput({ outputError: () => {} });
}

/**
 * Commander keeps the last of a repeated flag; for a measurement tool a
 * silently dropped `--iterations` is a wrong figure, so a repeat is refused.
 */
function refuseRepeatedFlags(cmd: Command): void {
  const seen = new Set<string>();
  for (const opt of cmd.options) {
    const name = opt.attributeName();
    cmd.on(`option:${opt.name()}`, () => {
      if (seen.has(name)) throw new UsageError(`${opt.long ?? opt.flags} given twice; give each flag once`);
      seen.add(name);
    });
  }
}

/** Commander's messages, as one line that names what was wrong. */
function usageMessage(err: CommanderError, cmd: Command): string {
  const text = err.message.replace(/^error: /, '').replace(/\s*\n\s*/g, ' ');
  if (err.code === 'commander.excessArguments') {
    // `--cores --iterations 1e5`: commander takes the next flag as the value, and the flag's own value is then the stray argument.
    const flags = new Set(cmd.options.map((o) => o.long));
    const swallower = cmd.options.find((o) => cmd.getOptionValueSource(o.attributeName()) === 'cli' && flags.has(String(cmd.getOptionValue(o.attributeName()))));
    if (swallower) return `${swallower.long} needs a value, not the flag '${String(cmd.getOptionValue(swallower.attributeName()))}'`;
    return `unexpected argument '${cmd.args[0] ?? ''}': close-stress takes only flags (see --help)`;
  }
  return text;
}



// The run stays the default command; report and compare read saved runs.
type Chosen =
  | { kind: 'run' }
  | { kind: 'report'; file: string; html?: string; force?: boolean; tap?: boolean }
  | { kind: 'compare'; base: string; runs: string[]; html?: string; json?: string; force?: boolean; failOnWorse?: boolean }
  | { kind: 'inject'; command: string[]; raw: RawInjectOptions }
  | { kind: 'serve'; raw: RawServeOptions };

function addSubcommands(cmd: Command, choose: (c: Chosen) => void): Command {
  cmd
    .command('report')
    .description('print the table of a saved run: a --json result or a .jsonl journal (even one cut off by a crash)')
    .argument('<file>', 'result .json or journal .jsonl')
    .option('--html <file>', 'also write a self-contained HTML report')
    .option('--force', 'overwrite an existing --html file')
    .option('--tap', 'the saved run as TAP on stdout, judged by the POSIX verdict (the table on stderr)')
    .allowExcessArguments(false)
    .action((file: string, o: { html?: string; force?: boolean; tap?: boolean }) => choose({ kind: 'report', file, ...o }));
  cmd
    .command('compare')
    .description('compare saved runs per core count against a baseline: rates with Wilson 95% intervals, a test that counts run-to-run drift when both have repeats, throughput and latency')
    .argument('<base>', 'the run before the change (.json or .jsonl)')
    .argument('<new...>', 'the run after it; several (compare BASE A B ...): one column per run against the baseline')
    .option('--json <file>', 'also write the comparison as JSON (schema close-stress/compare)')
    .option('--html <file>', 'also write both runs on the same axes as a self-contained HTML file')
    .option('--force', 'overwrite existing output files')
    .option('--fail-on-worse', 'for CI gates: exit 1 when any core count\'s verdict is WORSE (0 otherwise, 2 for a usage error)')
    .allowExcessArguments(false)
    .action((base: string, runs: string[], o: { json?: string; html?: string; force?: boolean; failOnWorse?: boolean }) => choose({ kind: 'compare', base, runs, ...o }));
  const inject = cmd
    .command('inject')
    .description('run CMD with FreeBSD\'s close(): close() of a TCP socket reset by its peer fails (ECONNRESET) and releases the descriptor; report what CMD did next with it')
    .usage('[options] -- CMD [ARGS...]')
    .argument('[command...]', 'the program to run, after --')
    .option('--every <n>', 'fail every n-th eligible close (a TCP socket whose peer reset it) (default: 1, all of them)')
    .option('--probability <p>', 'fail each eligible close with probability p (0 < p <= 1)')
    .option('--seed <n>', 'with --probability: the seed, for a repeatable choice (default: 1)')
    .option('--race <window>', 'race-timed emulation: a close of a connected socket waits this long (2us, 10ms) and fails only if the peer\'s reset lands meanwhile')
    .option('--errno <name>', 'the errno close() fails with: ECONNRESET (FreeBSD), EINVAL (as macOS can give), ... (default: ECONNRESET)')
    .option('--json <file>', 'also write the report as JSON (schema close-stress/inject)')
    .option('--force', 'overwrite an existing --json file')
    .option('--fail-on-retry', 'exit 1 when CMD retried close() or used a descriptor whose close() failed, or when nothing could be tested (for CI)')
    .passThroughOptions()
    .action((command: string[], o: RawInjectOptions) => choose({ kind: 'inject', command, raw: o }));
  refuseRepeatedFlags(inject);
  const serve = cmd
    .command('serve')
    .description('two hosts: run serve\'s side of each trial (the resetting side with the default --reset-side server) for one controller (close-stress --peer ADDR:PORT --token T); prints a one-time token and exits when the controller goes')
    .requiredOption('--listen <addr:port>', 'the numeric address and port to listen on for the controller (198.18.0.1:7000, [2001:2::1]:7000; port 0: any, printed); the lanes\' listeners bind to the same address')
    .option('--step-timeout <time>', 'the longest a step may run before serve stops it: 500ms, 30s, 5m, 1h (default: 10m)')
    .option('--cpus <list>', 'pin serve\'s lanes to these CPUs of its host, lane i on the i-th (wrapping), as a CPU list (0-3,8) (default: they float)')
    .option('--log-file <file>', 'structured (pino) log to this file instead of stderr')
    .option('--log-level <level>', `log level: ${LOG_LEVELS.join(', ')} (default: info)`)
    .allowExcessArguments(false)
    .action((o: RawServeOptions) => choose({ kind: 'serve', raw: o }));
  refuseRepeatedFlags(serve);
  return cmd.action(() => choose({ kind: 'run' }));
}

async function writeHtml(file: string, results: RunResult[], title: string, more: Omit<HtmlOptions, 'title'> = {}): Promise<void> {
  const { renderHtml } = await import('./html/html.js');
  writeAtomic(file, renderHtml(results, { title, ...more }));
}

async function reportCommand(c: Extract<Chosen, { kind: 'report' }>): Promise<number> {
  // Before the exists check: with --force the report would overwrite the run it reads.
  refuseSharedOutputs([{ flag: 'the input', file: c.file }, { flag: '--html', file: c.html }]);
  if (c.html) checkOutputPath(c.html, '--html', c.force ?? false);
  const result = loadRun(c.file);
  const tap = c.tap ? renderTap(result) : undefined;
  (tap ? process.stderr : process.stdout).write(renderTable(result));
  if (tap) process.stdout.write(tap.text);
  if (result.error) process.stderr.write(`close-stress: ${result.status}: ${result.error}\n`);
  if (c.html) await writeHtml(c.html, [result], `close-stress: ${c.file}`);
  return tap ? tap.exitCode : 0;
}

async function compareCommand(c: Extract<Chosen, { kind: 'compare' }>): Promise<number> {
  for (const input of [c.base, ...c.runs]) refuseSharedOutputs([{ flag: 'the input', file: input }, { flag: '--json', file: c.json }, { flag: '--html', file: c.html }]);
  if (c.json) checkOutputPath(c.json, '--json', c.force ?? false);
  if (c.html) checkOutputPath(c.html, '--html', c.force ?? false);
  const base = loadRun(c.base);
  const runs = c.runs.map(loadRun);
  const many = runs.length > 1 ? compareMany(base, runs, [c.base, ...c.runs], (i) => sameFile(c.base, c.runs[i]!)) : undefined;
  const comparisons = many?.comparisons ?? [compareResults(base, runs[0]!, [c.base, c.runs[0]!], { sameFile: sameFile(c.base, c.runs[0]!) })];
  process.stdout.write(many ? renderMany(many) : renderComparison(comparisons[0]!));
  if (c.json) writeAtomic(c.json, `${JSON.stringify(many ?? comparisons[0], null, 2)}\n`);
  if (c.html) {
    const labels = ['base', ...(runs.length === 1 ? ['new'] : c.runs.map((f, i) => `${i + 1}: ${path.basename(f)}`))];
    await writeHtml(c.html, [base, ...runs], `close-stress: ${[c.base, ...c.runs].join(' vs ')}`, { labels, comparisons });
  }
  const worse = comparisons.flatMap((cmp) => cmp.cores.filter((k) => k.judgement === 'WORSE').map((k) => `${k.cores} cores` + (many ? ` of ${cmp.new.label}` : '')));
  if (c.failOnWorse && worse.length > 0) {
    process.stderr.write(`close-stress: compare: WORSE at ${worse.join(', ')} (exit 1)\n`);
    return 1;
  }
  return 0;
}

function sameFile(a: string, b: string): boolean {
  try {
    return realpathSync(a) === realpathSync(b);
  } catch {
    return false;
  }
}

async function injectCommand(c: Extract<Chosen, { kind: 'inject' }>): Promise<number> {
  const options = parseInjectOptions(c.raw, c.command, native().platform().errnoNames);
  if (options.json !== undefined) checkOutputPath(options.json, '--json', options.force);
  const { report, exitCode } = await runInject(options);
  process.stderr.write(renderInject(report));
  if (options.json !== undefined) {
    try {
      writeAtomic(options.json, `${JSON.stringify(report, null, 2)}\n`);
    } catch (err) {
      process.stderr.write(`close-stress: could not save ${options.json}: ${(err as Error).message}\n`);
      return exitCode === 0 ? 1 : exitCode;
    }
  }
  return exitCode;
}

function bisectRule(raw: RawOptions): BisectRule | undefined {
  if (raw.failOn === undefined && raw.failAbove === undefined) return undefined;
  return {
    failOn: raw.failOn === undefined ? [] : parseFailOn(raw.failOn),
    above: raw.failAbove === undefined ? 0 : parseRate(raw.failAbove, '--fail-above'),
  };
}

async function runCommand(raw: RawOptions): Promise<number> {
  const rule = bisectRule(raw);
  const platform = native().platform();
  const options = toOptions(raw, platform.allowedCpus.length);
  if (rule) checkFailOn(rule.failOn, options.probes, Object.values(platform.errnoNames));
  // What the user wants caught is what --skew auto aims at.
  if (rule && rule.failOn.length > 0) options.failOn = rule.failOn;
  if (options.netns && !insideNetns()) return runInNetns(process.argv, platform.allowedCpus);
  const progress = new Progress(process.stderr.isTTY === true && !options.quiet);
  const log = createLogger(options.logLevel, options.logFile, progress);
  const signals = new StopSignals(log);
  try {
    const code = await runAndSave(options, rule, raw.tap === true, progress, log, signals, tokenOf(raw));
    // A signal that came while the result was being saved: still saved, and the exit says it came.
    await signals.saved();
    return signals.exitCode ?? code;
  } finally {
    signals.release();
  }
}

async function runAndSave(options: Options, rule: BisectRule | undefined, tapOut: boolean, progress: Progress, log: Logger, signals: StopSignals, peerToken?: string): Promise<number> {
  const outcome = await run(options, progress, log, signals, peerToken);
  const { result, exitCode } = outcome;
  // With --tap stdout is the harness's: TAP there, the table for people on stderr.
  const tap = tapOut ? renderTap(result, rule) : undefined;
  (tap ? process.stderr : process.stdout).write(renderTable(result));
  if (tap) process.stdout.write(tap.text);
  if (result.error) process.stderr.write(`close-stress: ${result.status}: ${result.error}\n`);
  // Saving failures (a full disk) are reported after the table, on one line, never hidden.
  const lostSaves: string[] = [];
  if (options.json !== undefined) {
    try {
      writeResult(options.json, result);
    } catch (err) {
      lostSaves.push(`could not save the result: ${(err as Error).message}`);
    }
  }
  if (outcome.journalError) lostSaves.push(`could not save the journal: ${outcome.journalError} (the steps before it are in it)`);
  const lost = logFileError(log);
  if (lost) lostSaves.push(`could not write the log ${lost.file}: ${lost.message}`);
  const saved = lostSaves.length === 0;
  if (!saved) {
    // A full disk is no verdict on the commit, and would hit the next one too.
    const bisect = rule && !tap ? ` (bisect aborted: this says nothing about the commit, exit ${BISECT_EXIT.abort})` : '';
    process.stderr.write(`close-stress: ${lostSaves.join('; ')}${bisect}\n`);
    if (tap) return 1;
    return rule ? BISECT_EXIT.abort : exitCode === 0 ? 1 : exitCode;
  }
  if (tap) return result.status === 'interrupted' ? exitCode : tap.exitCode;
  if (!rule || result.status === 'interrupted') return exitCode;
  const verdict = judge(result, rule);
  process.stderr.write(`close-stress: bisect: ${verdict.reason} (exit ${verdict.exitCode})\n`);
  return verdict.exitCode;
}

interface Parsed {
  chosen: Chosen;
  raw: RawOptions;
}

/**
 * argv -> what to do, or undefined when help or the version was printed.
 * The one parse both the CLI and the tests use; every refusal is a
 * UsageError with a one-line message.
 */
export function parseCommand(argv: string[]): Parsed | undefined {
  let chosen: Chosen = { kind: 'run' };
  const cmd = addSubcommands(program(), (c) => { chosen = c; });
  refuseRepeatedFlags(cmd);
  try {
    cmd.parse(argv);
  } catch (err) {
    if (!(err instanceof CommanderError)) throw err;
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return undefined;
    throw new UsageError(usageMessage(err, cmd));
  }
  const c = chosen as Chosen;
  if (c.kind !== 'run') {
    // Run flags before a subcommand would be silently dropped: say so instead.
    const given = cmd.options.find((o) => cmd.getOptionValueSource(o.attributeName()) === 'cli');
    if (given) throw new UsageError(`${given.long ?? given.flags} is a run option; '${c.kind}' does not take it`);
  }
  const raw = cmd.opts<RawOptions>();
  if (cmd.getOptionValueSource('race') === 'cli') raw.raceGiven = true;
  return { chosen: c, raw };
}

/** argv -> validated run Options (undefined for help, version or a subcommand). */
export function parseArgs(argv: string[], allowedCpuCount: number): Options | undefined {
  const parsed = parseCommand(argv);
  if (!parsed || parsed.chosen.kind !== 'run') return undefined;
  return toOptions(parsed.raw, allowedCpuCount);
}

/** The whole CLI: returns the exit status instead of exiting, so tests can call it. */
export async function main(argv: string[]): Promise<number> {
  let parsed: Parsed | undefined;
  try {
    parsed = parseCommand(argv);
    if (!parsed) return 0;
    const { chosen, raw } = parsed;
    if (chosen.kind === 'report') return await reportCommand(chosen);
    if (chosen.kind === 'compare') return await compareCommand(chosen);
    if (chosen.kind === 'inject') return await injectCommand(chosen);
    if (chosen.kind === 'serve') return await serveCommand(chosen.raw);
    return await runCommand(raw);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const bisect = (parsed === undefined || parsed.chosen.kind === 'run') && bisectRequested(argv);
    if (!bisect) {
      process.stderr.write(`close-stress: error: ${message}\n`);
      return err instanceof UsageError ? 2 : 1;
    }
    // Under git bisect run: an error that would repeat at every commit aborts
    // the bisection; a run that could not start skips this commit, never blames it.
    const abort = err instanceof UsageError || err instanceof ToolError || err instanceof OutputError;
    const code = abort ? BISECT_EXIT.abort : BISECT_EXIT.skip;
    const what = abort ? 'bisect aborted: this says nothing about the commit' : 'bisect: skip this commit';
    process.stderr.write(`close-stress: error: ${message} (${what}, exit ${code})\n`);
    return code;
  }
}
