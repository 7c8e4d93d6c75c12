import { Command, CommanderError, Option } from 'commander';
import { UsageError } from './errors.js';
import { toolInfo } from './env.js';
import { createLogger, logFileError } from './log.js';
import { native } from './native.js';
import {
  LOG_LEVELS, MAX_CORES, parseChoice, parseCores, parseCount, parseProbes, parseSkew, RACES, RESET_SIDES,
  type Family, type LogLevel, type Options,
} from './options.js';
import { Progress } from './progress.js';
import { renderTable } from './report.js';
import { checkOutputPath, writeResult } from './result.js';
import { run } from './run.js';

interface RawOptions {
  cores?: string;
  sweep: boolean;
  iterations: string;
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
}

/** Flags as typed -> validated Options; every refusal is a UsageError naming the flag. */
export function toOptions(raw: RawOptions, allowedCpuCount: number): Options {
  const cores = parseCores(raw.cores ?? String(allowedCpuCount), raw.sweep);
  const family = Number(parseChoice(raw.family, '--family', ['4', '6'])) as Family;
  // Logging to a file is for the record, so keep the run's events; on stderr only what needs attention.
  const logLevel: LogLevel = raw.logLevel !== undefined
    ? parseChoice(raw.logLevel, '--log-level', LOG_LEVELS)
    : raw.logFile ? 'info' : 'warn';
  const race = parseChoice(raw.race, '--race', RACES);
  const skew = raw.skew === undefined ? ({ kind: 'none' } as const) : parseSkew(raw.skew);
  if (skew.kind !== 'none' && race !== 'cross-thread') {
    throw new UsageError('--skew needs --race cross-thread: only two threads have a skew between them');
  }
  const options: Options = {
    cores,
    iterations: parseCount(raw.iterations, '--iterations'),
    race,
    resetSide: parseChoice(raw.resetSide, '--reset-side', RESET_SIDES),
    family,
    probes: raw.probe === undefined ? [] : parseProbes(raw.probe),
    skew,
    force: raw.force ?? false,
    quiet: raw.quiet ?? false,
    logLevel,
    ...(raw.json !== undefined && { json: raw.json }),
    ...(raw.logFile !== undefined && { logFile: raw.logFile }),
  };
  if (options.json !== undefined) checkOutputPath(options.json, '--json', options.force);
  if (options.logFile !== undefined) checkOutputPath(options.logFile, '--log-file', true);
  return options;
}

function program(): Command {
  return new Command('close-stress')
    .description(
      'Races a TCP peer\'s RST against close(2) on loopback and tallies every close() result by errno,\n' +
        'per core count (FreeBSD PR kern/159179: close() returning ECONNRESET, which POSIX does not allow).',
    )
    .version(toolInfo().version)
    .option('--cores <spec>', `core counts: N sweeps 1,2,4,...,N; a list (2,8,16) runs exactly those; at most ${MAX_CORES} (default: allowed CPUs)`)
    .option('--no-sweep', 'with --cores N, run N alone')
    .option('--iterations <n>', 'trials per step: 1e6, 1000000 or 1_000_000', '100000')
    .addOption(new Option('--race <shape>', 'same-thread: both closes back to back on one thread; cross-thread: resetter and victim threads on two CPUs released by a spin barrier').default('same-thread'))
    .addOption(new Option('--reset-side <side>', 'which end sends the RST (SO_LINGER {1,0}); the other end is the victim').default('server'))
    .addOption(new Option('--family <4|6>', 'IPv4 (127.0.0.1) or IPv6 (::1) loopback').default('4'))
    .option('--probe <list>', 'also run these on the victim after the RST, before its close: shutdown,send,recv,sockerror,accept or all')
    .option('--skew <spec>', 'cross-thread: delay the victim by a duration (300ns; negative delays the resetter), sweep from:to:step (-2us:2us:100ns), or auto (find the race window)')
    .option('--json <file>', 'also write the results, options and environment as JSON (atomically)')
    .option('--force', 'overwrite an existing --json file')
    .option('-q, --quiet', 'no progress bars')
    .option('--log-file <file>', 'structured (pino) log to this file instead of stderr')
    .option('--log-level <level>', `log level: ${LOG_LEVELS.join(', ')} (default: warn on stderr, info with --log-file)`)
    .allowExcessArguments(false)
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
    return `unexpected argument '${cmd.args[0] ?? ''}': close-stress takes only flags (see --help)`;
  }
  return text;
}

/**
 * argv -> validated Options, or undefined when help or the version was
 * printed. Every refusal is a UsageError with a one-line message.
 */
export function parseArgs(argv: string[], allowedCpuCount: number): Options | undefined {
  const cmd = program();
  refuseRepeatedFlags(cmd);
  try {
    cmd.parse(argv);
  } catch (err) {
    if (!(err instanceof CommanderError)) throw err;
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return undefined;
    throw new UsageError(usageMessage(err, cmd));
  }
  return toOptions(cmd.opts<RawOptions>(), allowedCpuCount);
}

/** The whole CLI: returns the exit status instead of exiting, so tests can call it. */
export async function main(argv: string[]): Promise<number> {
  try {
    const platform = native().platform();
    const options = parseArgs(argv, platform.allowedCpus.length);
    if (!options) return 0;
    const progress = new Progress(process.stderr.isTTY === true && !options.quiet);
    const log = createLogger(options.logLevel, options.logFile, progress);
    const { result, exitCode } = await run(options, progress, log);
    process.stdout.write(renderTable(result));
    if (result.error) process.stderr.write(`close-stress: ${result.status}: ${result.error}\n`);
    // Saving failures (a full disk) are reported after the table, never hidden.
    let saved = true;
    if (options.json !== undefined) {
      try {
        writeResult(options.json, result);
      } catch (err) {
        process.stderr.write(`close-stress: could not save ${options.json}: ${(err as Error).message}\n`);
        saved = false;
      }
    }
    const lost = logFileError(log);
    if (lost) {
      process.stderr.write(`close-stress: could not write the log ${lost.file}: ${lost.message}\n`);
      saved = false;
    }
    return exitCode === 0 && !saved ? 1 : exitCode;
  } catch (err) {
    const message = err instanceof Error ? err.message.split('\n')[0] : String(err);
    process.stderr.write(`close-stress: error: ${message}\n`);
    return err instanceof UsageError ? 2 : 1;
  }
}
