import { Command, CommanderError, Option } from 'commander';
import { UsageError } from './errors.js';
import { toolInfo } from './env.js';
import { createLogger } from './log.js';
import { native } from './native.js';
import {
  LOG_LEVELS, parseChoice, parseCores, parseCount, parseProbes, parseSkew, RACES, RESET_SIDES,
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
  const logLevel: LogLevel = raw.logLevel
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
  if (options.json) checkOutputPath(options.json, '--json', options.force);
  if (options.logFile) checkOutputPath(options.logFile, '--log-file', true);
  return options;
}

function program(): Command {
  return new Command('close-stress')
    .description(
      'Races a TCP peer\'s RST against close(2) on loopback and tallies every close() result by errno,\n' +
        'per core count (FreeBSD PR kern/159179: close() returning ECONNRESET, which POSIX does not allow).',
    )
    .version(toolInfo().version)
    .option('--cores <spec>', 'core counts: N sweeps 1,2,4,...,N; a list (2,8,16) runs exactly those (default: allowed CPUs)')
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
    .configureOutput({ outputError: (str, write) => write(`close-stress: ${str.trim()}\n`) });
}

/** The whole CLI: returns the exit status instead of exiting, so tests can call it. */
export async function main(argv: string[]): Promise<number> {
  const cmd = program();
  try {
    cmd.parse(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      return err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help' ? 0 : 2;
    }
    throw err;
  }
  try {
    const platform = native().platform();
    const options = toOptions(cmd.opts<RawOptions>(), platform.allowedCpus.length);
    const progress = new Progress(process.stderr.isTTY === true && !options.quiet);
    const log = createLogger(options.logLevel, options.logFile, progress);
    const { result, exitCode } = await run(options, progress, log);
    process.stdout.write(renderTable(result));
    if (result.error) process.stderr.write(`close-stress: ${result.status}: ${result.error}\n`);
    if (options.json) {
      try {
        writeResult(options.json, result);
      } catch (err) {
        process.stderr.write(`close-stress: could not save ${options.json}: ${(err as Error).message}\n`);
        return exitCode === 0 ? 1 : exitCode;
      }
    }
    return exitCode;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`close-stress: error: ${message}\n`);
    return err instanceof UsageError ? 2 : 1;
  }
}
