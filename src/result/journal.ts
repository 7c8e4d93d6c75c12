import { closeSync, fsyncSync, ftruncateSync, openSync, readFileSync, statSync } from 'node:fs';
import type { Environment } from '../env/env.js';
import { UsageError } from '../common/errors.js';
import type { Options } from '../options/options.js';
import { kernelCheck } from '../env/kernel.js';
import { StepMemory } from '../core/memory.js';
import { CALLS, LANE_STAGES, LAYOUT_VERSION, STAGES, type Layout } from '../core/native.js';
import { stepShape } from '../plan/plan.js';
import { outputError, raceOf, stepResult, withScaling, writeWhole, type RunResult, type Status } from './result.js';
import { skewPoint, stepFailure, tallyStep, type StepTally } from '../tally/tally.js';

export const JOURNAL_SCHEMA = 'close-stress/journal';

export interface JournalHeader {
  type: 'run';
  schema: typeof JOURNAL_SCHEMA;
  schemaVersion: 1;
  tool: { name: string; version: string };
  options: Options;
  race: RunResult['race'];
  environment: Environment;
  startedAt: string;
}

/** `--journal PATH`, else `<--json path>.jsonl` when --json is given, else none. */
export function journalPath(options: Pick<Options, 'json' | 'journal'>): string | undefined {
  return options.journal ?? (options.json !== undefined ? `${options.json}.jsonl` : undefined);
}

/**
 * Append-only JSONL record of a run: one line per finished step, each fsynced
 * before the next step starts, so a panic or kill -9 costs at most the step
 * in progress.
 */
export class JournalWriter {
  private fd: number | undefined;
  /** Bytes of whole records written. */
  private size = 0;
  /** The first write that failed (a full disk): journaling stops, the run does not. */
  error: Error | undefined;

  private constructor(readonly path: string) {}

  static open(path: string, header: Omit<JournalHeader, 'type' | 'schema' | 'schemaVersion'>): JournalWriter {
    const w = new JournalWriter(path);
    try {
      w.fd = openSync(path, 'w', 0o644);
    } catch (err) {
      w.error = outputError(path, err);
    }
    w.append({ type: 'run', schema: JOURNAL_SCHEMA, schemaVersion: 1, ...header });
    return w;
  }

  private append(record: object): void {
    if (this.fd === undefined) return;
    const before = this.size;
    try {
      const line = Buffer.from(`${JSON.stringify(record)}\n`);
      writeWhole(this.fd, line);
      fsyncSync(this.fd);
      this.size += line.length;
    } catch (err) {
      // The measurement goes on and is still printed and saved as JSON; the
      // caller reports the lost journal after the table. The line that did
      // not fit is cut off, so the journal holds whole records only.
      this.error ??= outputError(this.path, err);
      try {
        ftruncateSync(this.fd, before);
        fsyncSync(this.fd);
      } catch {
        /* the reader drops a torn last line anyway */
      }
      closeSync(this.fd);
      this.fd = undefined;
    }
  }

  step(step: StepTally): void {
    this.append({ type: 'step', step });
  }

  end(status: Status, error?: string): void {
    this.append({ type: 'end', status, ...(error !== undefined && { error }), finishedAt: new Date().toISOString() });
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

/**
 * close-stress-core's header: the options it ran, the environment C can read,
 * this OS's errno names, and the layout its step-memory words are in.
 */
interface CoreHeader {
  type: 'run';
  schema: typeof JOURNAL_SCHEMA;
  tool: { name: string; version: string };
  options: Pick<Options, 'cores' | 'iterations' | 'race' | 'resetSide' | 'family' | 'probes' | 'skew' | 'lanesPerCore'>;
  layout: Layout;
  environment: Environment;
  errnoNames: Record<string, string>;
  startedAt: string;
}

/** One step as close-stress-core ran it: each lane's [cpu, resetCpu] and the step's memory, raw. */
interface StepMemoryLine {
  type: 'step-memory';
  cores: number;
  lanes: Array<[number, number]>;
  words: number;
  nonzero: Array<[number, number | string]>;
  kernel?: { source: string; meanings: Record<string, string>; before: Record<string, number>; after: Record<string, number> } | { unavailable: string };
}

type Line =
  | JournalHeader
  | CoreHeader
  | { type: 'step'; step: StepTally }
  | StepMemoryLine
  | { type: 'end'; status: Status; error?: string; signal?: string; finishedAt: string };

const sameNames = (a: readonly string[] | undefined, b: readonly string[]): boolean => a?.join(',') === b.join(',');
// Lane stages are only ever appended ('netns' came with --path veth): an older list that is a prefix means the same.
const stagesKnown = (a: readonly string[] | undefined, b: readonly string[]): boolean =>
  a !== undefined && a.length > 0 && a.length <= b.length && a.every((n, i) => n === b[i]);

/** The words mean what this tally code reads them as, or the journal is refused. */
function checkLayout(path: string, layout: Layout): void {
  if (layout.version !== LAYOUT_VERSION) {
    throw new UsageError(`${path}: written with counters layout ${layout.version}; this close-stress reads layout ${LAYOUT_VERSION} (use the close-stress of the same version as close-stress-core)`);
  }
  if (!sameNames(layout.callNames, CALLS) || !sameNames(layout.stageNames, STAGES) || !stagesKnown(layout.laneStageNames, LANE_STAGES)) {
    throw new UsageError(`${path}: its calls (${layout.callNames?.join(',')}) are not the ones this close-stress tallies (${CALLS.join(',')})`);
  }
}

/** A step of close-stress-core, tallied by the code that tallies a live step. */
function tallyCoreStep(path: string, header: CoreHeader, options: Options, line: StepMemoryLine): StepTally {
  const { layout, environment } = header;
  const k = options.lanesPerCore ?? 1;
  const lanes = line.cores * k;
  if (line.words !== (layout.stepBytes + lanes * layout.laneBytes) / 8 || line.lanes.length !== lanes) {
    throw new UsageError(`${path}: a ${line.cores}-core step whose memory (${line.words} words, ${line.lanes.length} lanes) does not fit its layout`);
  }
  const memory = StepMemory.fromWords(layout, lanes, line.nonzero);
  const shape = stepShape(line.cores, options.race, environment.cpu.allowed.length);
  const plan = {
    cores: line.cores,
    lanes: line.lanes.map(([cpu, resetCpu]) => ({ cpu, resetCpu })),
    ...shape,
    threads: shape.threads * k,
    lanesPerCore: k,
  };
  const tally = tallyStep(plan, memory, { errnoNames: header.errnoNames }, options.probes, options.race === 'cross-thread' || options.skew.kind !== 'none');
  // close-stress-core has one placement: the native plan's (lane i on the i-th allowed CPU).
  tally.placement = 'linear';
  if (line.kernel && 'unavailable' in line.kernel) {
    tally.kernel = kernelCheck(line.kernel, line.kernel);
  } else if (line.kernel) {
    const { source, meanings, before, after } = line.kernel;
    tally.kernel = kernelCheck({ source, meanings, counters: before }, { source, meanings, counters: after });
  }
  if (options.skew.kind === 'fixed') tally.skew = { mode: 'fixed', points: [skewPoint(options.skew.ns, tally)] };
  return tally;
}

/**
 * A journal back into a result. Steps count whatever happened after them; a
 * journal with no end line (kill -9, panic, power loss) reads as interrupted,
 * and a last line cut off mid-write is dropped. A close-stress-core journal
 * (its header has a layout) holds raw step memory, tallied here.
 */
export function readJournal(path: string): RunResult {
  const text = readFileSync(path, 'utf8');
  const lines = text.split('\n');
  const records: Line[] = [];
  for (const [i, line] of lines.entries()) {
    if (line.trim() === '') continue;
    try {
      records.push(JSON.parse(line) as Line);
    } catch {
      if (i === lines.length - 1 || (i === lines.length - 2 && lines[i + 1] === '')) break; // torn last write
      throw new UsageError(`${path}: line ${i + 1} is not JSON; not a close-stress journal`);
    }
  }
  const header = records[0];
  if (!header || header.type !== 'run' || header.schema !== JOURNAL_SCHEMA) {
    throw new UsageError(`${path}: no close-stress journal header (first line must be {"type":"run","schema":"${JOURNAL_SCHEMA}",...})`);
  }
  const core = 'layout' in header ? header : undefined;
  if (core) checkLayout(path, core.layout);
  // close-stress-core runs each step once, by trial count, and prints nothing.
  const options: Options = 'layout' in header ? { repeat: 1, force: false, quiet: true, logLevel: 'silent', ...header.options } : header.options;
  const tallies = records.flatMap((r) => {
    if (r.type === 'step') return [r.step];
    if (r.type === 'step-memory' && core) return [tallyCoreStep(path, core, options, r)];
    return [];
  });
  const steps = withScaling(tallies.map((t) => stepResult(t, header.environment?.os)), header?.environment?.cpu?.allowed?.length);
  const end = records.find((r): r is Extract<Line, { type: 'end' }> => r.type === 'end');
  const last = tallies.at(-1);
  const failure = last && stepFailure(last, last.lanes.flatMap((l, i) => (l.failure ? [i] : [])));
  const error = !end
    ? 'journal has no end line: the run was cut off'
    : (end.error ?? (end.signal ? `stopped by ${end.signal}` : end.status === 'failed' ? failure : undefined));
  return {
    schema: 'close-stress/result',
    schemaVersion: 1,
    status: end?.status ?? 'interrupted',
    ...(error !== undefined && { error }),
    options,
    race: 'race' in header ? header.race : raceOf(options),
    environment: header.environment,
    startedAt: header.startedAt,
    finishedAt: end?.finishedAt ?? statSync(path).mtime.toISOString(),
    steps,
  };
}
