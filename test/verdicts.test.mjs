// The modules that decide verdicts, in-process: the journal's write path, the
// statistics, the POSIX table, tallies, compare, bisect and skew choices, on
// inputs whose answer is worked out here by hand. Fast enough to be the
// subset `npm run mutate` (scripts/stryker.config.mjs) runs for every mutant.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs, { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { JournalWriter, readJournal, journalPath } from '../dist/result/journal.js';

const tmp = (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'close-stress-verdicts-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
};

const hist = (counts) => ({ unit: 'ns', scheme: 'log-linear-16', counts });

/** A step tally as the native side hands it over, with chosen close() outcomes. */
function tally({ cores = 1, ok = 1000, errors = {}, ...rest } = {}) {
  const failed = Object.values(errors).reduce((a, b) => a + b, 0);
  return {
    cores, threads: cores, oversubscribed: false, trials: ok + failed, elapsedNs: 1e9,
    calls: { close: { ok, errors }, resetClose: { ok: ok + failed, errors: {} } },
    setupFailures: {}, setupFailed: 0, strangers: 0, victimFd: { released: failed, retained: 0, reused: 0 },
    lanes: [], interrupted: false, probes: [], probeSetupFailures: {},
    latency: { close: { ok: hist([[640, ok]]), error: hist(failed ? [[2048, failed]] : []) } },
    ...rest,
  };
}

const header = {
  tool: { name: 'close-stress', version: '0.1.0' },
  options: { cores: [1, 2], iterations: 1000, race: 'same-thread', resetSide: 'server', family: 4, probes: [], skew: { kind: 'none' } },
  race: { shape: 'same-thread', resetSide: 'server', victim: 'client' },
  environment: { os: { type: 'Linux', release: '6.1' }, cpu: { allowed: [0, 1] } },
  startedAt: '2026-01-01T00:00:00.000Z',
};

/** Records the journal's write(2)/fsync(2) calls through node:fs, which the ESM bindings then see too. */
function spyOnFs(t) {
  const real = { openSync: fs.openSync, writeSync: fs.writeSync, fsyncSync: fs.fsyncSync, closeSync: fs.closeSync };
  const calls = [];
  fs.openSync = (...a) => {
    const fd = real.openSync(...a);
    calls.push({ op: 'open', fd, path: String(a[0]) });
    return fd;
  };
  fs.writeSync = (fd, data, ...a) => {
    calls.push({ op: 'write', fd, data: String(data) });
    return real.writeSync(fd, data, ...a);
  };
  fs.fsyncSync = (fd) => {
    calls.push({ op: 'fsync', fd });
    return real.fsyncSync(fd);
  };
  fs.closeSync = (fd) => {
    calls.push({ op: 'close', fd });
    return real.closeSync(fd);
  };
  syncBuiltinESMExports();
  t.after(() => {
    Object.assign(fs, real);
    syncBuiltinESMExports();
  });
  return calls;
}

test('each finished step is fsynced before the next starts', (t) => {
  const file = path.join(tmp(t), 'run.jsonl');
  const calls = spyOnFs(t);
  const w = JournalWriter.open(file, header);
  w.step(tally({ cores: 1 }));
  w.step(tally({ cores: 2 }));
  w.end('completed');
  const fd = calls.find((c) => c.op === 'open' && c.path === file)?.fd;
  assert.ok(fd !== undefined, 'the journal was opened through node:fs');
  const ours = calls.filter((c) => c.fd === fd).map((c) => (c.op === 'write' ? `write ${JSON.parse(c.data).type}` : c.op));
  // Every line is on disk before the next one is written, and the file is closed once.
  assert.deepEqual(ours, ['open', 'write run', 'fsync', 'write step', 'fsync', 'write step', 'fsync', 'write end', 'fsync', 'close']);
  assert.equal(w.error, undefined);
});

test("the journal's end line carries the run's error, and reading it back keeps it", (t) => {
  const file = path.join(tmp(t), 'run.jsonl');
  const w = JournalWriter.open(file, header);
  w.step(tally({ cores: 1 }));
  w.end('failed', '2-core step: every trial\'s setup failed (connect EADDRNOTAVAIL x500)');
  const lines = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(lines.map((l) => l.type), ['run', 'step', 'end']);
  const end = lines[2];
  assert.equal(end.status, 'failed');
  assert.equal(end.error, '2-core step: every trial\'s setup failed (connect EADDRNOTAVAIL x500)');
  assert.ok(!Number.isNaN(Date.parse(end.finishedAt)));
  const result = readJournal(file);
  assert.equal(result.status, 'failed');
  assert.equal(result.error, end.error);
  assert.equal(result.finishedAt, end.finishedAt);
  assert.deepEqual(result.steps.map((s) => [s.cores, s.trials]), [[1, 1000]]);
});

test('a completed journal reads back with no error; one cut off reads as interrupted', (t) => {
  const dir = tmp(t);
  const done = path.join(dir, 'done.jsonl');
  const w = JournalWriter.open(done, header);
  w.step(tally());
  w.end('completed');
  const ok = readJournal(done);
  assert.equal(ok.status, 'completed');
  assert.equal('error' in ok, false);
  assert.equal('error' in JSON.parse(readFileSync(done, 'utf8').trim().split('\n').at(-1)), false);
  assert.deepEqual([ok.schema, ok.schemaVersion, ok.startedAt], ['close-stress/result', 1, header.startedAt]);
  assert.deepEqual(ok.options, header.options);

  const cut = path.join(dir, 'cut.jsonl');
  const lines = readFileSync(done, 'utf8').split('\n');
  // header, step, and half of a second step line: a kill mid-write
  fs.writeFileSync(cut, `${lines[0]}\n${lines[1]}\n${lines[1].slice(0, 40)}`);
  const partial = readJournal(cut);
  assert.equal(partial.status, 'interrupted');
  assert.equal(partial.error, 'journal has no end line: the run was cut off');
  assert.equal(partial.steps.length, 1);
  assert.equal(partial.finishedAt, fs.statSync(cut).mtime.toISOString());
});

test('a last line torn mid-write is dropped whether or not a newline followed; blank lines are skipped', (t) => {
  const dir = tmp(t);
  const file = path.join(dir, 'j.jsonl');
  const w = JournalWriter.open(file, { ...header, environment: { os: { type: 'Linux' } } });
  w.step(tally({ cores: 1 }));
  w.step(tally({ cores: 2, elapsedNs: 2e9 }));
  w.end('completed');
  const [run, one, two] = readFileSync(file, 'utf8').split('\n');
  fs.writeFileSync(file, `${run}\n\n${one}\n   \n${two.slice(0, 30)}\n`);
  const r = readJournal(file);
  assert.deepEqual(r.steps.map((s) => s.cores), [1]);
  assert.equal(r.status, 'interrupted');
  fs.writeFileSync(file, `${run}\n${one}\n${two}\n`);
  const both = readJournal(file);
  assert.deepEqual(both.steps.map((s) => [s.cores, s.trialsPerSec, s.scaling.efficiency]), [[1, 1000, 1], [2, 500, 0.25]],
    'no allowed-CPU count in the header: every lane counts as a CPU of its own');
  for (const environment of [undefined, { cpu: {} }]) {
    const h = { ...JSON.parse(run), environment };
    fs.writeFileSync(file, `${JSON.stringify(h)}\n${one}\n`);
    assert.deepEqual(readJournal(file).steps.map((s) => s.cores), [1], `header environment ${JSON.stringify(environment)}`);
  }
  fs.writeFileSync(file, `${run}\n${one.slice(0, 30)}\n${two}\n`);
  assert.throws(() => readJournal(file), { name: 'UsageError', message: /line 2 is not JSON/ }, 'a torn line that is not the last is damage');
});

test('a journal with a broken line inside, or no header, is refused with a one-line usage error', (t) => {
  const dir = tmp(t);
  const file = path.join(dir, 'j.jsonl');
  const w = JournalWriter.open(file, header);
  w.step(tally());
  w.end('completed');
  const [run, step, end] = readFileSync(file, 'utf8').trim().split('\n');
  assert.equal(JSON.parse(run).schema, 'close-stress/journal');
  assert.equal(JSON.parse(run).schemaVersion, 1);
  fs.writeFileSync(file, `${run}\n{oops\n${step}\n${end}\n`);
  assert.throws(() => readJournal(file), { name: 'UsageError', message: `${file}: line 2 is not JSON; not a close-stress journal` });
  fs.writeFileSync(file, `${run}\n{oops\n${step}`);
  assert.throws(() => readJournal(file), { name: 'UsageError', message: /line 2 is not JSON/ }, 'a complete line follows it: damage, not a torn end');
  fs.writeFileSync(file, `${run}\n{oops\n\n${step}\n`);
  assert.throws(() => readJournal(file), { name: 'UsageError', message: /line 2 is not JSON/ });
  fs.writeFileSync(file, `${JSON.stringify({ ...JSON.parse(run), type: 'step' })}\n`);
  assert.throws(() => readJournal(file), { name: 'UsageError', message: /no close-stress journal header/ });
  fs.writeFileSync(file, `${step}\n${end}\n`);
  assert.throws(() => readJournal(file), { name: 'UsageError', message: /no close-stress journal header/ });
  fs.writeFileSync(file, `${JSON.stringify({ ...JSON.parse(run), schema: 'other' })}\n`);
  assert.throws(() => readJournal(file), { name: 'UsageError', message: /no close-stress journal header/ });
  fs.writeFileSync(file, '');
  assert.throws(() => readJournal(file), { name: 'UsageError' });
});

test('a journal that cannot be written stops journaling, keeps the first error, and never throws into the run', (t) => {
  const missing = path.join(tmp(t), 'no-such-dir', 'run.jsonl');
  const w = JournalWriter.open(missing, header);
  assert.match(w.error?.message ?? '', /ENOENT/);
  w.step(tally());
  w.end('completed');
  assert.match(w.error.message, /ENOENT/, 'the first error is kept');

  const full = JournalWriter.open('/dev/full', header);
  assert.match(full.error?.message ?? '', /ENOSPC/, 'the header write hit a full disk');
  full.step(tally());
  full.end('completed');
  assert.match(full.error.message, /ENOSPC/);
});

test('the journal is --journal PATH, else the --json path plus .jsonl, else none', () => {
  assert.equal(journalPath({ journal: 'j.jsonl', json: 'r.json' }), 'j.jsonl');
  assert.equal(journalPath({ json: 'r.json' }), 'r.json.jsonl');
  assert.equal(journalPath({}), undefined);
});

// ---- tally: counters as the C side leaves them, read back into numbers ----

import { native, CALLS, STAGES } from '../dist/core/native.js';
import { StepMemory } from '../dist/core/memory.js';
import {
  tallyStep, mergeTallies, skewPoint, skewStats, errnoName, addCounts, sumCounts, callsMade, failedShare, closeAttempts, stepFailure,
} from '../dist/tally/tally.js';
import { measureWithSkew, mixedness, sweepPoints, windowCall, hitsPerSec, searchGrid, refineEdge, refineAround } from '../dist/measure/skew.js';

const layout = native().layout();
const platform = native().platform();
const errno = Object.fromEntries(Object.entries(platform.errnoNames).map(([n, name]) => [name, Number(n)]));
const L = layout.lane;
const slot = layout.errnoSlots;

/** Writes one lane counter as the C side would. */
const put = (memory, lane, offset, value, index = 0) => {
  memory.words[(memory.laneOffset(lane) + offset) / 8 + index] = BigInt(value);
};
const putCall = (memory, lane, call, errnoNumber, n) => put(memory, lane, L.calls + CALLS.indexOf(call) * slot * 8, n, errnoNumber);
const putSkew = (memory, lane, ns, n) => put(memory, lane, L.skew, n, ns / layout.skewBucketNs + layout.skewHalf);
const plan = (cores, threads = cores, lanes = Array.from({ length: cores }, (_, i) => ({ cpu: i, resetCpu: -1 }))) =>
  ({ cores, threads, oversubscribed: false, lanes });

test('a step tally adds every lane\'s counters: calls by errno name, every other close, setup failures by stage, descriptors, strangers, time, first hits', () => {
  const step = plan(2, 2, [{ cpu: 0, resetCpu: 1 }, { cpu: 1, resetCpu: 0 }]);
  const m = new StepMemory(layout, 2, 1000);
  // lane 0: 600 trials, 590 closes (580 ok, 10 ECONNRESET), 10 connect EADDRNOTAVAIL
  put(m, 0, L.done, 600); putCall(m, 0, 'close', 0, 580); putCall(m, 0, 'close', errno.ECONNRESET, 10);
  putCall(m, 0, 'resetClose', 0, 590);
  put(m, 0, L.setup + STAGES.indexOf('connect') * slot * 8, 10, errno.EADDRNOTAVAIL);
  put(m, 0, L.fd_released, 7); put(m, 0, L.fd_reused, 3); put(m, 0, L.strangers, 2);
  put(m, 0, L.start_ns, 5000); put(m, 0, L.end_ns, 9000); put(m, 0, L.pinned, 1);
  put(m, 0, L.victim_cpus, 0b1); put(m, 0, L.reset_cpus, 0b10);
  putCall(m, 0, 'otherClose', 0, 20); putCall(m, 0, 'otherClose', errno.EBADF, 1);
  put(m, 0, L.close_first_error_ns, 7000, errno.ECONNRESET);
  // lane 1: 400 trials, all closes ok but 5 EPIPE and 1 ECONNRESET; 4 socket EMFILE; one CPU above 64
  put(m, 1, L.done, 400); putCall(m, 1, 'close', 0, 390); putCall(m, 1, 'close', errno.EPIPE, 5);
  putCall(m, 1, 'close', errno.ECONNRESET, 1);
  putCall(m, 1, 'resetClose', 0, 396); putCall(m, 1, 'otherClose', 0, 4);
  // lane 1 met ECONNRESET first (at 6500, lane 0 only at 7000); both relative to the first lane start (4000)
  put(m, 1, L.close_first_error_ns, 6500, errno.ECONNRESET); put(m, 1, L.close_first_error_ns, 10000, errno.EPIPE);
  put(m, 1, L.setup + STAGES.indexOf('socket') * slot * 8, 4, errno.EMFILE);
  put(m, 1, L.fd_retained, 5);
  put(m, 1, L.start_ns, 4000); put(m, 1, L.end_ns, 12000);
  put(m, 1, L.victim_cpus, 0b110); put(m, 1, L.victim_cpus, 1n << 1n, 1);
  put(m, 1, L.close_latency, 390, 3);
  put(m, 1, L.close_latency + layout.latencyBuckets * 8, 6, 40);
  const t = tallyStep(step, m, platform);
  assert.equal(t.trials, 1000);
  assert.deepEqual(t.calls, {
    close: { ok: 970, errors: { ECONNRESET: 11, EPIPE: 5 } }, resetClose: { ok: 986, errors: {} },
    otherClose: { ok: 24, errors: { EBADF: 1 } },
  });
  assert.deepEqual(t.firstCloseErrorNs, { ECONNRESET: 2500, EPIPE: 6000 }, 'earliest over lanes, from the step start');
  assert.deepEqual(t.setupFailures, { connect: { EADDRNOTAVAIL: 10 }, socket: { EMFILE: 4 } });
  assert.equal(t.setupFailed, 14);
  assert.equal(closeAttempts(t) + t.setupFailed, t.trials);
  assert.deepEqual(t.victimFd, { released: 7, retained: 5, reused: 3 });
  assert.equal(t.strangers, 2);
  assert.equal(t.elapsedNs, 8000, 'from the first lane start to the last lane end');
  assert.deepEqual(t.lanes, [
    { cpu: 0, resetCpu: 1, pinned: true, trials: 600, cpusSeen: [0], resetCpusSeen: [1] },
    { cpu: 1, resetCpu: 0, pinned: false, trials: 400, cpusSeen: [1, 2, 65], resetCpusSeen: [] },
  ]);
  assert.deepEqual(t.latency.close.ok.counts, [[layout.latencyBucketLows[3], 390]]);
  assert.deepEqual(t.latency.close.error.counts, [[layout.latencyBucketLows[40], 6]]);
  assert.equal(t.interrupted, false);
  assert.deepEqual([t.cores, t.threads, t.oversubscribed, t.probes, t.probeSetupFailures], [2, 2, false, [], {}]);
  assert.equal('achievedSkew' in t, false, 'one thread per lane: no skew to report');
  assert.equal('lanesPerCore' in t, false, 'one lane per core reads as records that predate --lanes-per-core');
});

test('a lane that could not start names its stage and errno; a stopped step reads as interrupted; no lane start means no time', () => {
  const m = new StepMemory(layout, 1, 10);
  put(m, 0, L.lane_stage, 2); put(m, 0, L.lane_errno, errno.EADDRINUSE);
  m.stop();
  const t = tallyStep(plan(1), m, platform);
  assert.deepEqual(t.lanes[0].failure, { stage: 'bind', errno: 'EADDRINUSE' });
  assert.equal(t.interrupted, true);
  assert.equal(t.elapsedNs, 0);
  assert.equal(t.trials, 0);
  put(m, 0, L.lane_stage, 99);
  assert.equal(tallyStep(plan(1), m, platform).lanes[0].failure.stage, 'stage 99');
});

test('probes are tallied only when they ran, with their own setup failures', () => {
  const m = new StepMemory(layout, 1, 10);
  put(m, 0, L.done, 10); putCall(m, 0, 'close', 0, 10); putCall(m, 0, 'shutdown', errno.ENOTCONN, 4); putCall(m, 0, 'shutdown', 0, 6);
  putCall(m, 0, 'send', 0, 10);
  put(m, 0, L.probe_setup, 2, errno.ECONNREFUSED);
  putCall(m, 0, 'acceptClose', 0, 3);
  const t = tallyStep(plan(1), m, platform, ['shutdown']);
  assert.deepEqual(Object.keys(t.calls), ['close', 'resetClose', 'otherClose', 'shutdown'], 'the accept probe\'s closes only with it');
  assert.deepEqual(t.calls.shutdown, { ok: 6, errors: { ENOTCONN: 4 } });
  assert.deepEqual(t.probeSetupFailures, { ECONNREFUSED: 2 });
  assert.deepEqual(t.probes, ['shutdown']);
  const withAccept = tallyStep(plan(1), m, platform, ['accept']);
  assert.deepEqual(Object.keys(withAccept.calls), ['close', 'resetClose', 'acceptClose', 'otherClose', 'accept']);
  assert.deepEqual(withAccept.calls.acceptClose, { ok: 3, errors: {} });
});

test('errno numbers that share a name (the OS\'s aliases) are tallied under it together; skew samples add over lanes', () => {
  const m = new StepMemory(layout, 2, 10);
  put(m, 0, L.done, 10); putCall(m, 0, 'close', 0, 4); putCall(m, 0, 'close', 11, 2); putCall(m, 0, 'close', 35, 3);
  putCall(m, 1, 'close', 11, 1);
  putSkew(m, 0, 100, 3); putSkew(m, 1, 100, 2); putSkew(m, 1, -100, 1);
  const aliases = { errnoNames: { 11: 'EAGAIN', 35: 'EAGAIN' } };
  const t = tallyStep(plan(2, 4), m, aliases);
  assert.deepEqual(t.calls.close, { ok: 4, errors: { EAGAIN: 6 } });
  assert.deepEqual(t.achievedSkew, { samples: 6, medianNs: 100, p10Ns: -100, p90Ns: 100 });
});

test('latency histograms are sorted by bucket over lanes, kept apart by outcome; a lane that never started adds no time', () => {
  const m = new StepMemory(layout, 3, 30);
  put(m, 0, L.done, 10); put(m, 0, L.start_ns, 5000); put(m, 0, L.end_ns, 9000);
  put(m, 0, L.close_latency, 4, 40);
  put(m, 1, L.done, 10); put(m, 1, L.start_ns, 6000); put(m, 1, L.end_ns, 8000);
  put(m, 1, L.close_latency, 6, 3);
  put(m, 1, L.close_latency + layout.latencyBuckets * 8, 2, 0);
  // lane 2 failed before its start gate: no start, no end
  const t = tallyStep(plan(3), m, platform);
  assert.equal(t.elapsedNs, 4000);
  assert.deepEqual(t.latency.close.ok, { unit: 'ns', scheme: 'log-linear-16', counts: [[layout.latencyBucketLows[3], 6], [layout.latencyBucketLows[40], 4]] });
  assert.deepEqual(t.latency.close.error, { unit: 'ns', scheme: 'log-linear-16', counts: [[layout.latencyBucketLows[0], 2]] });
});

test('a setup failure recorded without an errno still counts, as "none"; probe setup failures likewise', () => {
  const m = new StepMemory(layout, 1, 10);
  put(m, 0, L.done, 10); putCall(m, 0, 'close', 0, 7);
  put(m, 0, L.setup + STAGES.indexOf('linger') * slot * 8, 3, 0);
  put(m, 0, L.probe_setup, 1, 0);
  const t = tallyStep(plan(1), m, platform, ['accept']);
  assert.deepEqual(t.setupFailures, { linger: { none: 3 } });
  assert.equal(t.setupFailed, 3);
  assert.deepEqual(t.probeSetupFailures, { none: 1 });
});

test('two threads per lane report the achieved skew from its 10 ns buckets: median, p10 and p90', () => {
  const m = new StepMemory(layout, 1, 100);
  put(m, 0, L.done, 100);
  putSkew(m, 0, -200, 10); putSkew(m, 0, 300, 80); putSkew(m, 0, 700, 10);
  const t = tallyStep(plan(1, 2), m, platform);
  assert.deepEqual(t.achievedSkew, { samples: 100, medianNs: 300, p10Ns: -200, p90Ns: 300 });
  const empty = tallyStep(plan(1, 2), new StepMemory(layout, 1, 1), platform);
  assert.equal(empty.achievedSkew, undefined);
});

test('skew quantiles: the first bucket where the running count reaches q of the samples, at its centre', () => {
  // buckets of 10 ns centred on (i - 5) * 10: -50 .. +40
  const counts = [0, 1, 0, 0, 0, 8, 0, 0, 0, 1];
  assert.deepEqual(skewStats(counts, 10, 5), { samples: 10, medianNs: 0, p10Ns: -40, p90Ns: 0 });
  assert.deepEqual(skewStats([0, 0, 0, 0, 0, 0, 0, 0, 0, 4], 10, 5), { samples: 4, medianNs: 40, p10Ns: 40, p90Ns: 40 });
  assert.deepEqual(skewStats([2, 2, 2, 2, 2], 100, 2), { samples: 10, medianNs: 0, p10Ns: -200, p90Ns: 200 });
  assert.equal(skewStats([0, 0, 0], 10, 1), undefined);
});

test('a step fails the run when a lane could not start (naming its CPU, stage and errno, and ulimit -n for descriptors) or every setup failed', () => {
  const lanes = [{ cpu: 4, resetCpu: -1, pinned: true, trials: 0, cpusSeen: [], resetCpusSeen: [] },
    { cpu: 5, resetCpu: -1, pinned: true, trials: 0, cpusSeen: [], resetCpusSeen: [], failure: { stage: 'socket', errno: 'EMFILE' } }];
  const t = tally({ cores: 2, lanes });
  assert.equal(stepFailure(t, [1]), '2-core step: lane 1 (CPU 5) could not start: socket failed with EMFILE; raise the descriptor limit (ulimit -n)');
  lanes[1].failure.errno = 'ENFILE';
  assert.match(stepFailure(t, [1]), /with ENFILE; raise the descriptor limit \(ulimit -n\)$/);
  lanes[1].failure = { stage: 'bind', errno: 'EADDRINUSE' };
  assert.equal(stepFailure(t, [1, 0]), '2-core step: lane 1 (CPU 5) could not start: bind failed with EADDRINUSE', 'the first failed lane');
  assert.equal(stepFailure(t, [0]), '2-core step: lane 0 (CPU 4) could not start: unknown failed with unknown error');
  assert.equal(stepFailure(t, []), undefined, 'closes were made: the step measured something');
  const allSetup = tally({ cores: 1, ok: 0, setupFailures: { connect: { EADDRNOTAVAIL: 3, ECONNREFUSED: 1 }, socket: { EMFILE: 2 } }, setupFailed: 6 });
  allSetup.trials = 6;
  allSetup.calls.close = { ok: 0, errors: {} };
  assert.equal(stepFailure(allSetup, []), "1-core step: every trial's setup failed (connect EADDRNOTAVAIL x3, connect ECONNREFUSED x1, socket EMFILE x2)");
  assert.equal(stepFailure({ ...allSetup, trials: 0 }, []), undefined, 'no trial at all (stopped at once) is no setup failure');
});

test('skew beyond the 10 ns buckets: far rows by |skew| read at their bucket\'s middle, the last one counted as beyond, not measured', () => {
  // far buckets by |skew|: [20, 41) [41, 80) [80, 160) [160, ...): middles 30.5, 60.5, 120, and 160 for the last
  const lows = [20, 41, 80, 160];
  const a = skewStats([0, 1, 3, 0, 0], 10, 2, { below: [2, 0, 0, 1], above: [0, 1, 0, 2], lows });
  // in order: -160 (1), -30.5 (2), -10 (1), 0 (3), 60.5 (1), 160 (2)
  assert.deepEqual(a, { samples: 10, medianNs: 0, p10Ns: -160, p90Ns: 160, beyond: { samples: 3, beyondNs: 160 } });
  const b = skewStats([0, 0, 2, 0, 0], 10, 2, { below: [1, 0, 0, 0], above: [0, 0, 6, 1], lows });
  // -30.5 (1), 0 (2), 120 (6), 160 (1): p10 at the first (rounded half up), median and p90 in the third
  assert.deepEqual(b, { samples: 10, medianNs: 120, p10Ns: -30, p90Ns: 120, beyond: { samples: 1, beyondNs: 160 } });
  const c = skewStats([0, 0, 0, 0, 0], 10, 2, { below: [0, 3, 0, 0], above: [0, 0, 0, 0], lows });
  assert.deepEqual(c, { samples: 3, medianNs: -60, p10Ns: -60, p90Ns: -60 }, 'nothing past the last bucket: no beyond (-60.5 rounds up)');
  assert.equal(skewStats([0, 0, 0], 10, 1, { below: [0, 0], above: [0, 0], lows: [20, 40] }), undefined);
});

test('a step tally reads the far skew rows of every lane; one thread reports skew only when asked for one', () => {
  const lows = layout.latencyBucketLows;
  const last = lows.length - 1;
  const far = (side, b) => (side === 'above' ? layout.latencyBuckets + b : b);
  const m = new StepMemory(layout, 2, 20);
  put(m, 0, L.done, 10); put(m, 1, L.done, 10);
  putSkew(m, 0, 200, 5);
  put(m, 0, L.skew_far, 3, far('below', 165));
  put(m, 1, L.skew_far, 2, far('above', 166)); put(m, 1, L.skew_far, 1, far('above', last));
  const t = tallyStep(plan(2, 4), m, platform);
  // -(lows[165] + lows[166]) / 2 (3), 200 (5), (lows[166] + lows[167]) / 2 (2), lows[last] (1)
  assert.deepEqual(t.achievedSkew, {
    samples: 11, medianNs: 200, p10Ns: -(lows[165] + lows[166]) / 2, p90Ns: (lows[166] + lows[167]) / 2,
    beyond: { samples: 1, beyondNs: lows[last] },
  });
  assert.equal('achievedSkew' in tallyStep(plan(2), m, platform), false, 'one thread per lane, no skew asked');
  assert.deepEqual(tallyStep(plan(2), m, platform, [], true).achievedSkew, t.achievedSkew, 'one thread asked for a skew');
  assert.equal('achievedSkew' in tallyStep(plan(2, 4), m, platform, [], false), false);
});

test('errno names come from the OS; the overflow slot and unknown numbers say so', () => {
  assert.equal(errnoName(platform, 0, slot), 'none');
  assert.equal(errnoName(platform, errno.ECONNRESET, slot), 'ECONNRESET');
  assert.equal(errnoName({ errnoNames: {} }, 255, 256), 'E>=255');
  assert.equal(errnoName({ errnoNames: { 255: 'EWEIRD' } }, 255, 256), 'EWEIRD');
  assert.equal(errnoName({ errnoNames: {} }, 254, 256), 'errno 254');
});

test('calls made, failed share and counts: the one definition verdicts use', () => {
  assert.equal(callsMade({ ok: 3, errors: { A: 2, B: 5 } }), 10);
  assert.equal(callsMade(undefined), 0);
  assert.equal(failedShare({ ok: 3, errors: { A: 2, B: 5 } }), 0.7);
  assert.equal(failedShare({ ok: 0, errors: {} }), undefined);
  assert.equal(failedShare(undefined), undefined);
  assert.equal(failedShare({ ok: 4, errors: {} }), 0);
  assert.equal(sumCounts({ a: 1, b: 2 }), 3);
  assert.equal(sumCounts({}), 0);
  const into = { a: 1 };
  addCounts(into, { a: 2, b: 3 });
  assert.deepEqual(into, { a: 3, b: 3 });
});

test('merged tallies (repeats, skew points) add every count and keep the first pass\'s shape', () => {
  const a = tally({ ok: 90, errors: { ECONNRESET: 10 }, setupFailures: { connect: { EADDRNOTAVAIL: 2 } }, setupFailed: 2, strangers: 1,
    lanes: [{ cpu: 0, resetCpu: -1, pinned: true, trials: 102, cpusSeen: [0, 3], resetCpusSeen: [1] }],
    probeSetupFailures: { ECONNREFUSED: 1 }, kernel: { deltas: { OutRsts: 100 } } });
  const b = tally({ ok: 45, errors: { ECONNRESET: 5, EPIPE: 1 }, setupFailures: { connect: { EADDRNOTAVAIL: 1 }, socket: { EMFILE: 4 } }, setupFailed: 5, strangers: 2,
    lanes: [{ cpu: 0, resetCpu: -1, pinned: true, trials: 56, cpusSeen: [2, 0], resetCpusSeen: [1, 0] }],
    probeSetupFailures: { ECONNREFUSED: 2, EMFILE: 1 }, interrupted: true, kernel: { deltas: { OutRsts: 50 } } });
  const m = mergeTallies([a, b]);
  assert.equal(m.trials, a.trials + b.trials);
  assert.equal(m.elapsedNs, 2e9);
  assert.deepEqual(m.calls.close, { ok: 135, errors: { ECONNRESET: 15, EPIPE: 1 } });
  assert.deepEqual(m.calls.resetClose, { ok: 151, errors: {} });
  assert.deepEqual(m.setupFailures, { connect: { EADDRNOTAVAIL: 3 }, socket: { EMFILE: 4 } });
  assert.equal(m.setupFailed, 7);
  assert.equal(m.strangers, 3);
  assert.deepEqual(m.victimFd, { released: 16, retained: 0, reused: 0 });
  assert.deepEqual(m.lanes, [{ cpu: 0, resetCpu: -1, pinned: true, trials: 158, cpusSeen: [0, 2, 3], resetCpusSeen: [0, 1] }]);
  assert.equal(m.interrupted, true);
  assert.deepEqual(m.probeSetupFailures, { ECONNREFUSED: 3, EMFILE: 1 });
  assert.deepEqual(m.latency.close.ok.counts, [[640, 135]]);
  assert.deepEqual(m.latency.close.error.counts, [[2048, 16]]);
  assert.deepEqual(m.kernel.deltas, { OutRsts: 150 });
  assert.deepEqual(a.calls.close, { ok: 90, errors: { ECONNRESET: 10 } }, 'the parts are left as they were');
  assert.deepEqual(mergeTallies([a]), a);
  const laneless = mergeTallies([a, tally({ lanes: [] })]);
  assert.deepEqual(laneless.lanes, a.lanes, 'a pass with fewer lanes adds nothing to the others');
  assert.equal(mergeTallies([a, tally()]).kernel, undefined, 'counters of only some passes would be read against all their trials: none kept');
  assert.equal(mergeTallies([tally(), b]).kernel, undefined);
  const withProbe = tally({ ok: 10 });
  withProbe.calls.shutdown = { ok: 4, errors: { ENOTCONN: 6 } };
  assert.deepEqual(mergeTallies([tally({ ok: 10 }), withProbe]).calls.shutdown, { ok: 4, errors: { ENOTCONN: 6 } }, 'a call only a later pass made');
  assert.throws(() => mergeTallies([]), /at least one/);
  // first hits: a later pass's count from the step's start, after the passes before it
  const early = tally({ firstCloseErrorNs: { ECONNRESET: 5 } });
  const late = tally({ firstCloseErrorNs: { ECONNRESET: 3, EPIPE: 7 } });
  assert.deepEqual(mergeTallies([early, late, tally({ firstCloseErrorNs: { EIO: 2 } })]).firstCloseErrorNs, { ECONNRESET: 5, EPIPE: 1e9 + 7, EIO: 2e9 + 2 });
  assert.deepEqual(mergeTallies([tally(), late]).firstCloseErrorNs, { ECONNRESET: 1e9 + 3, EPIPE: 1e9 + 7 });
  assert.deepEqual(early.firstCloseErrorNs, { ECONNRESET: 5 }, 'the parts are left as they were');
});

test('merged repeats add up the receive work per CPU and the veth packets of every pass; a first pass without them keeps none', () => {
  const netRx = (perCpu, processedPerCpu) => ({ source: '/proc/softirqs NET_RX', scope: 'machine', perCpu, ...(processedPerCpu && { processedPerCpu }) });
  const veth = (rx, tx) => ({ listen: { device: 'l', rxPackets: rx, txPackets: tx }, client: { device: 'c', rxPackets: tx, txPackets: rx } });
  const a = tally({ netRx: netRx([10, 1], [100, 5]), vethPackets: veth(7, 3) });
  const b = tally({ netRx: netRx([20, 2, 4], [200, 6, 8]), vethPackets: veth(70, 30) });
  const m = mergeTallies([a, b]);
  assert.deepEqual([m.netRx.perCpu, m.netRx.processedPerCpu], [[30, 3, 4], [300, 11, 8]]);
  assert.deepEqual(m.vethPackets, veth(77, 33));
  assert.deepEqual(a.netRx.perCpu, [10, 1], 'the parts are left as they were');
  const late = mergeTallies([tally(), b]);
  assert.deepEqual([late.netRx, late.vethPackets], [undefined, undefined]);
});

test('a step tally names --lanes-per-core only when more than one, and first hits only when a close failed, the earliest over lanes', () => {
  const m = new StepMemory(layout, 2, 1000);
  for (const lane of [0, 1]) {
    put(m, lane, L.done, 100); putCall(m, lane, 'close', 0, 100); putCall(m, lane, 'resetClose', 0, 100); put(m, lane, L.start_ns, 1000);
  }
  assert.equal(tallyStep({ ...plan(1, 1, [{ cpu: 0, resetCpu: -1 }, { cpu: 0, resetCpu: -1 }]), lanesPerCore: 2 }, m, platform).lanesPerCore, 2);
  // a skew sample in the lowest fine bucket, the word right after the first-error row
  put(m, 0, L.skew, 5, 0);
  const one = tallyStep({ ...plan(2), lanesPerCore: 1 }, m, platform, [], true);
  assert.equal('lanesPerCore' in one, false);
  assert.equal('firstCloseErrorNs' in one, false, 'no close failed: no first hit');
  assert.equal(one.achievedSkew.samples, 5);
  // lane 0 met ECONNRESET first, at 4000 (lane 1 only at 9000): 3000 ns after the step's start
  putCall(m, 0, 'close', errno.ECONNRESET, 1); put(m, 0, L.close_first_error_ns, 4000, errno.ECONNRESET);
  putCall(m, 1, 'close', errno.ECONNRESET, 1); put(m, 1, L.close_first_error_ns, 9000, errno.ECONNRESET);
  assert.deepEqual(tallyStep(plan(2), m, platform).firstCloseErrorNs, { ECONNRESET: 3000 });
});

test('a skew point is marked as a search point only when it is one', () => {
  const t = tally({ achievedSkew: { samples: 1000, medianNs: 480, p10Ns: 400, p90Ns: 560 } });
  assert.equal('search' in skewPoint(500, t), false, 'the step itself, or a sweep point');
  assert.equal(skewPoint(500, t, true).search, true);
  assert.deepEqual([skewPoint(500, t).askedNs, skewPoint(500, t).achievedMedianNs], [500, 480]);
});

// ---- skew: the choice of window, with a pool whose outcome curves are known ----

/**
 * A stand-in for the lane pool: each pass writes `trials` trials into the
 * step's memory, with the window call (shutdown) failing for the share
 * `curve(skewNs)` of them, the victim close() failing with ECONNRESET (outside
 * POSIX: a hit) for the share `hits(skewNs)`, each trial taking
 * `trialNs(skewNs)`, and the achieved skew the asked one (in the fine range, to its 10 ns bucket).
 */
function fakeContext({
  curve, hits = () => 0, trialNs = () => 1000, iterations = 1000, probes = ['shutdown'], race = 'cross-thread',
  stopAfter = Infinity, failLaneAt, failOnCall, stoppedFromStart = false, skewSamples = true,
} = {}) {
  const asked = [];
  const details = [];
  let stopped = stoppedFromStart;
  const ctx = {
    platform, layout,
    options: { iterations, probes, race, skew: { kind: 'none' } },
    progress: { startStep(step, memory, trials, detail) { details.push(detail); }, endStep() {} },
    onMemory() {},
    stopping: () => stopped,
    pool: {
      async runStep(step, memory, options, skewNs) {
        asked.push(skewNs);
        const n = Number(memory.words[layout.stepLimit / 8]);
        const failed = Math.round(n * curve(skewNs));
        const hit = Math.round(n * hits(skewNs));
        put(memory, 0, L.done, n);
        put(memory, 0, L.start_ns, 1_000_000); put(memory, 0, L.end_ns, 1_000_000 + n * trialNs(skewNs));
        putCall(memory, 0, 'close', 0, n - hit);
        putCall(memory, 0, 'close', errno.ECONNRESET, hit);
        putCall(memory, 0, 'shutdown', 0, n - failed);
        putCall(memory, 0, 'shutdown', errno.ENOTCONN, failed);
        // into its 10 ns bucket, as the C side counts it
        const achieved = Math.floor(Math.max(-10_000, Math.min(10_000, skewNs)) / layout.skewBucketNs) * layout.skewBucketNs;
        if (skewSamples) putSkew(memory, 0, achieved, n);
        if (asked.length >= stopAfter) stopped = true;
        return skewNs === failLaneAt || asked.length === failOnCall ? [0] : [];
      },
    },
  };
  return { ctx, asked, details };
}
/** As the run does: the options carry the --skew spec the step is measured with. */
const skewRun = (ctx, step, spec) => {
  ctx.options.skew = spec;
  return measureWithSkew(ctx, step, spec);
};
const crossStep = plan(1, 2, [{ cpu: 0, resetCpu: 1 }]);
const ramp = (ns) => Math.min(1, Math.max(0, (ns + 100) / 1000)); // 0 below -100 ns, 1 above 900 ns
// The log grid written out by hand: +-100 ns .. 100 us, and 0.
const MAGS = [100, 200, 500, 1000, 2000, 5000, 10_000, 20_000, 50_000, 100_000];
const GRID = [...MAGS.map((x) => -x).reverse(), 0, ...MAGS];

/** Hits per second of a point worked out here: ECONNRESET closes over the point's own time. */
const pointHitsPerSec = (p) => (p.calls.close.errors.ECONNRESET ?? 0) / (p.elapsedNs / 1e9);
/** The first point (in the order tried) with the greatest value of f. */
const firstMax = (points, f) => points.reduce((a, p) => (f(p) > f(a) ? p : a));

test('auto skew picks the point with the most close() errors outside POSIX per second: the log grid, a finer look around the best, then the step there', async () => {
  // Hits grow as sqrt(skew) while each trial costs (1 us + skew): the share of hits is
  // highest at 100 us, hits per second at 1 us. The shutdown proxy alone would pick ~425 ns.
  const hits = (ns) => (ns > 0 ? Math.min(1, Math.sqrt(ns) / 400) : 0);
  const trialNs = (ns) => 1000 + Math.abs(ns);
  const { ctx, asked } = fakeContext({ curve: ramp, hits, trialNs });
  const m = await skewRun(ctx, crossStep, { kind: 'auto' });
  // around 1 us: a quarter and half of the way to its grid neighbours 500 ns and 2 us
  const fine = [750, 875, 1250, 1500];
  assert.deepEqual(asked, [...GRID, ...fine, 1000]);
  assert.equal(m.tally.skew.mode, 'auto');
  assert.equal(m.tally.skew.objective, 'hits/s');
  const searched = m.tally.skew.points.filter((p) => p.search);
  assert.equal(m.tally.skew.chosenNs, firstMax(searched, pointHitsPerSec).askedNs, 'the most hits per second, computed here');
  assert.equal(m.tally.skew.chosenNs, 1000);
  assert.notEqual(firstMax(searched, (p) => p.calls.close.errors.ECONNRESET ?? 0).askedNs, 1000, 'not the largest share of hits');
  assert.equal(m.tally.trials, 1000, 'the step itself runs the asked iterations at the chosen skew');
  const points = m.tally.skew.points;
  assert.deepEqual(points.map((p) => p.askedNs), [...GRID, ...fine, 1000].sort((a, b) => a - b));
  assert.equal(points.filter((p) => !p.search).length, 1);
  const final = points.find((p) => !p.search);
  assert.deepEqual([final.askedNs, final.trials, final.achievedMedianNs, final.elapsedNs], [1000, 1000, 1000, 1000 * 2000]);
  assert.equal('search' in final, false);
  assert.ok(searched.every((p) => p.trials === 500), 'a search point is 1/20 of the step, at least 500');
  assert.deepEqual(final.calls.close, { ok: 921, errors: { ECONNRESET: 79 } });
  assert.deepEqual(m.failedLanes, []);
});

test('with --fail-on, auto skew aims at those outcomes per second, not close() errors outside POSIX, and records the target', async () => {
  // close() errors outside POSIX come fastest at -2 us; shutdown:ENOTCONN per second
  // (ramp over the trial's 1 us + skew) peaks between 500 ns and 2 us.
  const hits = (ns) => (ns === -2000 ? 0.5 : 0);
  const trialNs = (ns) => 1000 + Math.abs(ns);
  const plain = fakeContext({ curve: ramp, hits, trialNs });
  const p = await skewRun(plain.ctx, crossStep, { kind: 'auto' });
  assert.equal(p.tally.skew.chosenNs, -2000);
  assert.equal(p.tally.skew.target, 'close() errors outside POSIX');
  const aimed = fakeContext({ curve: ramp, hits, trialNs });
  aimed.ctx.options.failOn = [{ call: 'shutdown', errno: 'ENOTCONN' }];
  const m = await skewRun(aimed.ctx, crossStep, { kind: 'auto' });
  const searched = m.tally.skew.points.filter((x) => x.search);
  const rate = (x) => (x.calls.shutdown.errors.ENOTCONN ?? 0) / (x.elapsedNs / 1e9);
  assert.equal(m.tally.skew.chosenNs, firstMax(searched, rate).askedNs, 'the most shutdown:ENOTCONN per second, computed here');
  assert.equal(m.tally.skew.chosenNs, 875);
  assert.equal(m.tally.skew.objective, 'hits/s of --fail-on shutdown:ENOTCONN');
  assert.equal(m.tally.skew.target, '--fail-on shutdown:ENOTCONN');
  // a --fail-on outcome seen nowhere: the proxy, saying which target was missing
  const missing = fakeContext({ curve: ramp, hits, trialNs });
  missing.ctx.options.failOn = [{ call: 'close', errno: 'EPIPE' }];
  const q = await skewRun(missing.ctx, crossStep, { kind: 'auto' });
  assert.match(q.tally.skew.objective, /^proxy: no point had a --fail-on close:EPIPE outcome; chosen where shutdown\(\) failed/);
});

test('auto skew with no close() error outside POSIX falls back to the window call\'s failure share nearest one half, refined across the steepest crossing', async () => {
  const { ctx, asked } = fakeContext({ curve: ramp });
  const m = await skewRun(ctx, crossStep, { kind: 'auto' });
  // ramp crosses one half between 200 ns (0.3) and 500 ns (0.6): a quarter, half, three quarters across
  const fine = [275, 350, 425];
  assert.deepEqual(asked, [...GRID, ...fine, 425]);
  const searched = m.tally.skew.points.filter((p) => p.search);
  const share = (p) => failedShare(p.calls.shutdown);
  assert.equal(m.tally.skew.chosenNs, firstMax(searched, (p) => -Math.abs(share(p) - 0.5)).askedNs, 'nearest one half, computed here');
  assert.equal(m.tally.skew.chosenNs, 425);
  assert.match(m.tally.skew.objective, /^proxy: no point had a close\(\) error outside POSIX; chosen where shutdown\(\) failed/);
  const final = m.tally.skew.points.find((p) => !p.search);
  assert.deepEqual(final.calls.shutdown, { ok: 475, errors: { ENOTCONN: 525 } });
  // POSIX-allowed close() errors are no hits: the proxy still decides
  const allowed = fakeContext({ curve: ramp });
  allowed.ctx.pool.runStep = ((run) => async (step, memory, options, skewNs) => {
    const r = await run(step, memory, options, skewNs);
    putCall(memory, 0, 'close', errno.EINTR, 7);
    return r;
  })(allowed.ctx.pool.runStep);
  const a = await skewRun(allowed.ctx, crossStep, { kind: 'auto' });
  assert.equal(a.tally.skew.chosenNs, 425);
  assert.match(a.tally.skew.objective, /^proxy:/);
  // no probe to stand in: nothing to choose by, said so; the first point tried is kept
  const bare = fakeContext({ curve: ramp, probes: [] });
  const b = await skewRun(bare.ctx, crossStep, { kind: 'auto' });
  assert.deepEqual(bare.asked, [...GRID, -100_000]);
  assert.equal(b.tally.skew.chosenNs, -100_000);
  assert.match(b.tally.skew.objective, /^none: .*add --probe shutdown/);
});

test('auto skew: search points are 1/20 of the step, between 500 and 20,000 trials; ties go to the earliest point', async () => {
  const { ctx, asked } = fakeContext({ curve: (ns) => (ns === -2000 || ns === 2000 ? 0.5 : 0), iterations: 1e6 });
  const m = await skewRun(ctx, crossStep, { kind: 'auto' });
  assert.equal(m.tally.skew.chosenNs, -2000);
  assert.ok(m.tally.skew.points.filter((p) => p.search).every((p) => p.trials === 20_000));
  // the first of equally steep crossings (-5 us to -2 us) is refined
  assert.deepEqual(asked.slice(21), [-4250, -3500, -2750, -2000]);
  const r = await skewRun(fakeContext({ curve: ramp, iterations: 100_000 }).ctx, crossStep, { kind: 'auto' });
  assert.ok(r.tally.skew.points.filter((p) => p.search).every((p) => p.trials === 5000));
  const tied = fakeContext({ curve: ramp, hits: (ns) => (ns === 500 || ns === 5000 ? 0.1 : 0) });
  const t = await skewRun(tied.ctx, crossStep, { kind: 'auto' });
  assert.equal(t.tally.skew.chosenNs, 500, 'equal hits per second: the earlier point');
});

test('auto skew on one thread (same-thread) searches only delays of the victim close: 0 to 100 us', async () => {
  const { ctx, asked } = fakeContext({ curve: ramp, race: 'same-thread' });
  const m = await skewRun(ctx, plan(1), { kind: 'auto' });
  assert.deepEqual(asked, [0, ...MAGS, 275, 350, 425, 425]);
  assert.equal(m.tally.skew.chosenNs, 425);
  assert.equal(m.tally.skew.points.find((p) => !p.search).achieved.medianNs, 420, 'asked a skew, one thread reports what it achieved');
});

test('auto skew stopped during the search keeps what it measured and claims no window', async () => {
  const { ctx, asked } = fakeContext({ curve: ramp, stopAfter: 3 });
  const m = await skewRun(ctx, crossStep, { kind: 'auto' });
  assert.deepEqual(asked, [-100_000, -50_000, -20_000]);
  assert.equal(m.tally.skew.mode, 'auto');
  assert.equal('chosenNs' in m.tally.skew, false);
  assert.equal('objective' in m.tally.skew, false);
  assert.ok(m.tally.skew.points.every((p) => p.search === true));
  assert.equal(m.tally.trials, 1500);
  assert.equal('achievedSkew' in m.tally, false, 'one figure for many asked skews would mislead');
});

test('auto skew with a lane failing during the search stops there and claims no window', async () => {
  const { ctx, asked } = fakeContext({ curve: ramp, failLaneAt: -1000 });
  const m = await skewRun(ctx, crossStep, { kind: 'auto' });
  assert.deepEqual(asked, GRID.slice(0, 7), 'the coarse grid ends at the failed point');
  assert.equal(asked.at(-1), -1000);
  assert.equal('chosenNs' in m.tally.skew, false);
  assert.ok(m.tally.skew.points.every((p) => p.search === true), 'no step was run at a chosen skew');
  assert.deepEqual(m.failedLanes, [0]);
  const late = fakeContext({ curve: ramp, failOnCall: 23 });
  const l = await skewRun(late.ctx, crossStep, { kind: 'auto' });
  assert.deepEqual(late.asked, [...GRID, 275, 350], 'a failure in the finer look ends it too');
  assert.equal('chosenNs' in l.tally.skew, false);
  assert.deepEqual(l.failedLanes, [0]);
});

test('a skew sweep runs each point at the full count and reports each; the merged tally has no single achieved skew', async () => {
  const { ctx, asked } = fakeContext({ curve: ramp, iterations: 200 });
  const m = await skewRun(ctx, crossStep, { kind: 'sweep', fromNs: -100, toNs: 300, stepNs: 200 });
  assert.deepEqual(asked, [-100, 100, 300]);
  assert.equal(m.tally.skew.mode, 'sweep');
  assert.deepEqual(m.tally.skew.points.map((p) => [p.askedNs, p.trials, p.calls.shutdown.errors.ENOTCONN ?? 0]), [[-100, 200, 0], [100, 200, 40], [300, 200, 80]]);
  assert.equal(m.tally.trials, 600);
  assert.equal('achievedSkew' in m.tally, false);
  assert.equal(m.tally.skew.points[1].achieved.medianNs, 100);
  assert.ok(m.tally.skew.points.every((p) => !('search' in p)), 'sweep points are not search points');
  const stopped = fakeContext({ curve: ramp, iterations: 200, failLaneAt: 100 });
  const s = await skewRun(stopped.ctx, crossStep, { kind: 'sweep', fromNs: -100, toNs: 300, stepNs: 200 });
  assert.deepEqual(stopped.asked, [-100, 100], 'a failed lane ends the sweep');
  assert.deepEqual(s.failedLanes, [0]);
});

test('a fixed skew runs once there and records that one point; no skew runs plainly', async () => {
  const { ctx, asked } = fakeContext({ curve: ramp, iterations: 300 });
  const m = await skewRun(ctx, crossStep, { kind: 'fixed', ns: 250 });
  assert.deepEqual(asked, [250]);
  assert.deepEqual(m.tally.skew.points.map((p) => [p.askedNs, p.achievedMedianNs, p.trials]), [[250, 250, 300]]);
  assert.equal(m.tally.skew.mode, 'fixed');
  assert.equal(m.tally.achievedSkew.medianNs, 250);
  const plain = fakeContext({ curve: ramp, iterations: 300 });
  const p = await skewRun(plain.ctx, crossStep, { kind: 'none' });
  assert.deepEqual(plain.asked, [0]);
  assert.equal(p.tally.skew, undefined);
});

test('skew passes are labelled for the progress line by the skew they ask', async () => {
  const fixed = fakeContext({ curve: ramp });
  await skewRun(fixed.ctx, crossStep, { kind: 'fixed', ns: -1500 });
  assert.deepEqual(fixed.details, ['skew -1.5us']);
  const sweep = fakeContext({ curve: ramp });
  await skewRun(sweep.ctx, crossStep, { kind: 'sweep', fromNs: 0, toNs: 1000, stepNs: 500 });
  assert.deepEqual(sweep.details, ['skew 0ns', 'skew 500ns', 'skew 1us']);
  const auto = fakeContext({ curve: ramp });
  await skewRun(auto.ctx, crossStep, { kind: 'auto' });
  assert.equal(auto.details[0], 'skew -100us');
  assert.equal(auto.details.at(-1), 'skew 425ns (auto)');
  const none = fakeContext({ curve: ramp });
  await skewRun(none.ctx, crossStep, { kind: 'none' });
  assert.deepEqual(none.details, ['']);
});

test('a skew run stopped before its first point runs plainly once; auto stopped after the coarse grid claims no window', async () => {
  for (const spec of [{ kind: 'sweep', fromNs: 0, toNs: 1000, stepNs: 500 }, { kind: 'auto' }]) {
    const f = fakeContext({ curve: ramp, stoppedFromStart: true });
    const m = await skewRun(f.ctx, crossStep, spec);
    assert.deepEqual(f.asked, [0], spec.kind);
    assert.equal(m.tally.skew, undefined);
  }
  const f = fakeContext({ curve: ramp, stopAfter: GRID.length });
  const m = await skewRun(f.ctx, crossStep, { kind: 'auto' });
  assert.equal(f.asked.length, GRID.length, 'no finer grid after a stop');
  assert.equal(m.tally.skew.points.length, GRID.length);
  assert.equal('chosenNs' in m.tally.skew, false);
});

test('auto skew reports a lane that failed in the step itself; points keep their own copy of the counts', async () => {
  const f = fakeContext({ curve: ramp, failOnCall: GRID.length + 4 });
  const m = await skewRun(f.ctx, crossStep, { kind: 'auto' });
  assert.equal(f.asked.length, GRID.length + 4);
  assert.equal(m.tally.skew.chosenNs, 425);
  assert.deepEqual(m.failedLanes, [0]);
  const fx = fakeContext({ curve: ramp });
  const one = await skewRun(fx.ctx, crossStep, { kind: 'fixed', ns: 100 });
  one.tally.calls.close.ok += 5; // as merging repeats does
  assert.equal(one.tally.skew.points[0].calls.close.ok, 1000);
});

test('a skew point of a step with no achieved-skew samples reads zeros, not nothing', async () => {
  const f = fakeContext({ curve: ramp, skewSamples: false });
  const m = await skewRun(f.ctx, plan(1, 1), { kind: 'fixed', ns: 100 });
  assert.deepEqual(m.tally.skew.points[0].achieved, { samples: 0, medianNs: 0, p10Ns: 0, p90Ns: 0 });
  assert.equal(m.tally.skew.points[0].achievedMedianNs, 0);
});

test('the window call is the first probe after the barrier, else the close; mixedness is p(1 - p)', () => {
  assert.equal(windowCall(['accept', 'shutdown', 'send']), 'shutdown');
  assert.equal(windowCall(['accept']), 'close');
  assert.equal(windowCall([]), 'close');
  assert.equal(mixedness({ close: { ok: 1, errors: { E: 3 } } }, 'close'), 0.1875);
  assert.equal(mixedness({ close: { ok: 0, errors: {} } }, 'close'), 0);
  assert.equal(mixedness({}, 'shutdown'), 0);
  assert.deepEqual(sweepPoints(-2, 2, 2), [-2, 0, 2]);
  assert.deepEqual(sweepPoints(0, 5, 2), [0, 2, 4]);
  assert.deepEqual(sweepPoints(3, 3, 1), [3]);
});

test('auto skew\'s objective is victim close() errors outside POSIX per second; the grid and its refinements are where the text says', () => {
  assert.equal(hitsPerSec({ close: { ok: 1, errors: { ECONNRESET: 3, EINTR: 5, EIO: 1 } } }, 2e9), 1.5, 'EINTR and EIO are allowed: not hits');
  assert.equal(hitsPerSec({ close: { ok: 1, errors: { ECONNRESET: 3 } } }, 0), 0, 'no time measured: no rate');
  assert.equal(hitsPerSec({ shutdown: { ok: 0, errors: { ECONNRESET: 3 } } }, 1e9), 0, 'only the victim close counts');
  assert.deepEqual(searchGrid(false), GRID);
  assert.deepEqual(searchGrid(true), [0, ...MAGS]);
  // the steepest of two crossings of one half wins; a share touching one half is a crossing; no crossing, no points
  assert.deepEqual(refineEdge([[0, 0.1], [100, 0.6], [200, 0.9], [400, 0.1]]), [250, 300, 350]);
  assert.deepEqual(refineEdge([[0, 0.5], [100, 0.9]]), [25, 50, 75]);
  assert.deepEqual(refineEdge([[0, 0.5], [100, 0.5]]), [], 'a flat half is no edge');
  assert.deepEqual(refineEdge([[0, 0.1], [100, 0.4]]), []);
  assert.deepEqual(refineEdge([[-100, 0.8], [0, 0.2], [100, 0.9]]), [25, 50, 75], 'falling edges count, the steeper kept');
  assert.deepEqual(refineEdge([[0, 0.9], [100, 0.5]]), [25, 50, 75], 'falling onto one half is a crossing');
  // steepness is the change in share (0.6 here), not where the shares lie (0.45 to 0.6 sums higher)
  assert.deepEqual(refineEdge([[0, 0], [100, 0.6], [200, 0.45], [300, 0.55]]), [25, 50, 75]);
  assert.deepEqual(refineAround(1000, GRID), [750, 875, 1250, 1500]);
  assert.deepEqual(refineAround(-100_000, GRID), [-87_500, -75_000], 'an end of the grid has one neighbour');
  assert.deepEqual(refineAround(100_000, GRID), [75_000, 87_500]);
});

// ---- compare: two results, row by row ----

import { stepResult } from '../dist/result/result.js';
import { compareResults, renderComparison, checkComparable, describeSide, ALPHA, COMPARE_SCHEMA } from '../dist/report/compare.js';

/** A result as the tool writes it, around step tallies. */
function result(tallies, { race = 'same-thread', probes = [], skew, resetSide = 'server', family = 4, iterations = 1000, status = 'completed', os: osInfo = { type: 'FreeBSD', release: '14.1-RELEASE' } } = {}) {
  return {
    schema: 'close-stress/result', schemaVersion: 1, status,
    options: { cores: tallies.map((t) => t.cores), iterations, race, resetSide, family, probes, ...(skew && { skew }) },
    race: { shape: race, resetSide, victim: 'client' },
    environment: { os: osInfo },
    startedAt: '2026-01-01T00:00:00.000Z', finishedAt: '2026-01-01T00:01:00.000Z',
    steps: tallies.map((t) => stepResult(t)),
  };
}
const M = 1_000_000;

test('compare: a drop from 120 in 1e6 to 0 is BETTER, with Fisher p, Wilson sides and the zero-event bound', () => {
  const c = compareResults(result([tally({ cores: 16, ok: M - 120, errors: { ECONNRESET: 120 } })]),
    result([tally({ cores: 16, ok: M, elapsedNs: 2e9 })]), ['v1', 'v2']);
  assert.equal(c.schema, 'close-stress/compare');
  assert.equal(COMPARE_SCHEMA, 'close-stress/compare');
  assert.equal(c.schemaVersion, 1);
  assert.equal(c.alpha, ALPHA);
  assert.equal(ALPHA, 0.05);
  assert.deepEqual(c.base, { label: 'v1', status: 'completed', startedAt: '2026-01-01T00:00:00.000Z', os: 'FreeBSD 14.1-RELEASE', iterations: 1000 });
  assert.equal(c.new.label, 'v2');
  const [k] = c.cores;
  assert.equal(k.cores, 16);
  assert.deepEqual(k.rows.map((r) => `${r.call}:${r.outcome}`), ['close:outside POSIX', 'close:ECONNRESET']);
  const [row] = k.rows;
  assert.deepEqual([row.base.events, row.base.attempts, row.new.events, row.new.attempts], [120, M, 0, M]);
  assert.equal(row.base.rate, 120e-6);
  assert.ok(row.base.low < 120e-6 && row.base.high > 120e-6);
  assert.equal(row.base.upper95WhenZero, undefined);
  assert.ok(Math.abs(row.new.upper95WhenZero - 2.9957e-6) < 1e-9, '1 - 0.05^(1/1e6)');
  assert.equal(row.difference, -120e-6);
  assert.ok(Math.abs(row.pValue / 1.4992704875336308e-36 - 1) < 1e-6, `SciPy fisher_exact: 1.4993e-36, got ${row.pValue}`);
  assert.equal(row.significant, true);
  assert.equal(k.throughput.base, 1e6 - 0);
  assert.equal(k.throughput.new, M / 2);
  assert.equal(k.throughput.change, -0.5);
  assert.equal(k.throughput.significant, undefined);
  assert.equal(k.verdict, 'BETTER: close() outside POSIX fell from 1.2e-4 to 0 (below 3.0e-6 at 95%) (p=1.5e-36); other significant changes: close:ECONNRESET down; throughput -50.0% (no interval: --repeat on both sides gives one)');
  assert.deepEqual([k.latency.close.ok.base.count, k.latency.close.ok.new.count, k.latency.close.ok.new.p50], [M - 120, M, 672]);
  assert.equal(k.latency.close.error, undefined, 'no failing close on the new side: nothing to compare');
  assert.deepEqual(c.onlyIn, { base: [], new: [] });
});

test('compare: a rise is WORSE; other significant rows are listed; identical runs have p = 1', () => {
  const base = result([tally({ cores: 2, ok: 1000, errors: {} })]);
  const next = result([tally({ cores: 2, ok: 970, errors: { ECONNRESET: 30 } })]);
  const [k] = compareResults(base, next).cores;
  const [row] = k.rows;
  assert.ok(Math.abs(row.pValue / 1.4936655762609023e-9 - 1) < 1e-6, `SciPy fisher_exact: 1.4937e-9, got ${row.pValue}`);
  assert.equal(row.difference, 30 / 1000);
  assert.match(k.verdict, /^WORSE: close\(\) outside POSIX rose from 0 to 3\.00% \(p=1\.5e-9\); other significant changes: close:ECONNRESET up; throughput \+0\.0% \(no interval: --repeat on both sides gives one\)$/);
  const same = compareResults(next, next).cores[0];
  assert.ok(same.rows.every((r) => r.pValue === 1 && !r.significant && r.difference === 0));
  assert.equal(same.verdict, 'no significant change in close() outside POSIX (3.00% -> 3.00%, p=1.0); throughput +0.0% (no interval: --repeat on both sides gives one)');
  const down = compareResults(next, base).cores[0];
  assert.match(down.verdict, /^BETTER: .*; other significant changes: close:ECONNRESET down;/);
});

test('compare: rows are the errnos of either side, sorted; POSIX-allowed errors get no outside row of their own', () => {
  const a = tally({ cores: 1, ok: 990, errors: { EINTR: 4, ECONNRESET: 6 } });
  const b = tally({ cores: 1, ok: 995, errors: { EIO: 5 } });
  a.calls.shutdown = { ok: 10, errors: { ENOTCONN: 990 } };
  b.calls.shutdown = { ok: 1000, errors: {} };
  a.calls.sockerror = { ok: 0, errors: { ECONNRESET: 1000 } };
  b.calls.sockerror = { ok: 0, errors: { ECONNRESET: 1000 } };
  a.calls.send = { ok: 0, errors: {} };
  b.calls.send = { ok: 3, errors: { EPIPE: 2 } };
  a.calls.recv = { ok: 3, errors: { ECONNRESET: 1 } };
  const [k] = compareResults(result([a]), result([b])).cores;
  assert.deepEqual(k.rows.map((r) => `${r.call}:${r.outcome}`), [
    'close:outside POSIX', 'close:ECONNRESET', 'close:EINTR', 'close:EIO',
    'shutdown:ENOTCONN',
    'sockerror:ECONNRESET',
  ], 'resetClose has no errors; send made no call on one side; recv ran on one side only; sockerror has no POSIX list');
  assert.deepEqual([k.rows[0].base.events, k.rows[0].new.events], [6, 0]);
  assert.deepEqual([k.rows[3].base.events, k.rows[3].new.events], [0, 5]);
  // Bonferroni over six rows: p must be below 0.05 / 6
  const sh = k.rows[4];
  assert.equal(sh.significant, sh.pValue < 0.05 / 6);
  assert.equal(sh.significant, true);
});

test('compare: a shutdown outside POSIX gets its own row when either side has one', () => {
  const a = tally({ cores: 1 });
  const b = tally({ cores: 1 });
  a.calls.shutdown = { ok: 990, errors: { ECONNRESET: 10 } };
  b.calls.shutdown = { ok: 1000, errors: {} };
  const [k] = compareResults(result([a]), result([b])).cores;
  assert.deepEqual(k.rows.map((r) => `${r.call}:${r.outcome}`), ['close:outside POSIX', 'shutdown:outside POSIX', 'shutdown:ECONNRESET']);
  assert.equal(k.rows[0].pValue, 1);
  assert.equal(k.rows[1].base.events, 10);
});

test('compare: throughput with --repeat on both sides is judged by whether the t intervals overlap', () => {
  const withRepeats = (rates) => tally({ cores: 4, repeats: { trialsPerSec: rates } });
  const far = compareResults(result([withRepeats([100, 101, 99])]), result([withRepeats([80, 81, 79])])).cores[0].throughput;
  assert.deepEqual([far.base, far.new, far.change, far.significant], [100, 80, -0.2, true]);
  assert.equal(far.baseCi.n, 3);
  assert.ok(far.baseCi.low < 100 && far.baseCi.high > 100);
  const up = compareResults(result([withRepeats([80, 81, 79])]), result([withRepeats([100, 101, 99])])).cores[0].throughput;
  assert.equal(up.significant, true);
  const near = compareResults(result([withRepeats([100, 110, 90])]), result([withRepeats([99, 109, 89])])).cores[0];
  assert.equal(near.throughput.significant, false);
  assert.match(near.verdict, /throughput -1\.0% \(within noise\)$/);
  const one = compareResults(result([withRepeats([100])]), result([withRepeats([80, 81, 79])])).cores[0].throughput;
  assert.equal(one.significant, undefined, 'one run has no interval');
  const oneSided = compareResults(result([tally({ cores: 4 })]), result([withRepeats([80, 81, 79])])).cores[0].throughput;
  assert.equal(oneSided.significant, undefined);
  assert.equal(oneSided.baseCi, undefined);
  assert.equal(oneSided.newCi.n, 3);
  const stalled = compareResults(result([tally({ cores: 4, elapsedNs: 0 })]), result([tally({ cores: 4 })])).cores[0].throughput;
  assert.equal(stalled.change, 0, 'no base rate: no ratio');
  const apart = compareResults(result([withRepeats([100, 101, 99])]), result([withRepeats([80, 81, 79])])).cores[0];
  assert.match(apart.verdict, /throughput -20\.0% \(intervals apart\)$/);
});

test('compare: only common core counts are compared; the others are listed', () => {
  const c = compareResults(result([tally({ cores: 1 }), tally({ cores: 2 }), tally({ cores: 8 })]), result([tally({ cores: 2 }), tally({ cores: 4 })]));
  assert.deepEqual(c.cores.map((k) => k.cores), [2]);
  assert.deepEqual(c.onlyIn, { base: [1, 8], new: [4] });
  assert.match(renderComparison(c), /\nnot compared: core counts only in base \(1,8\), only in new \(4\)\n$/);
  const d = compareResults(result([tally({ cores: 1 })]), result([tally({ cores: 1 }), tally({ cores: 4 })]));
  assert.match(renderComparison(d), /not compared: core counts only in base \(-\), only in new \(4\)\n$/);
  const e = compareResults(result([tally({ cores: 1 }), tally({ cores: 4 })]), result([tally({ cores: 1 })]));
  assert.match(renderComparison(e), /not compared: core counts only in base \(4\), only in new \(-\)\n$/);
  assert.doesNotMatch(renderComparison(compareResults(result([tally()]), result([tally()]))), /not compared/);
});

test('compare refuses runs whose rates measure different races, naming the option, and runs with no core count in common', () => {
  const base = result([tally({ cores: 1 })]);
  for (const [opts, message] of [
    [{ race: 'cross-thread' }, 'compare: the runs differ in --race (same-thread vs cross-thread): their rates measure different races'],
    [{ resetSide: 'client' }, 'compare: the runs differ in --reset-side (server vs client): their rates measure different races'],
    [{ family: 6 }, 'compare: the runs differ in --family (4 vs 6): their rates measure different races'],
    [{ probes: ['shutdown', 'send'] }, 'compare: the runs differ in --probe (none vs shutdown,send): close() rates with and without probes (or with other probes) are not comparable: the probes change what the close sees'],
    [{ skew: { kind: 'fixed', ns: 100 } }, 'compare: the runs differ in --skew ({"kind":"none"} vs {"kind":"fixed","ns":100}): their rates measure different races'],
  ]) {
    assert.throws(() => checkComparable(base, result([tally({ cores: 1 })], opts)), { name: 'UsageError', message });
  }
  assert.doesNotThrow(() => checkComparable(base, result([tally({ cores: 1 })], { skew: { kind: 'none' }, iterations: 5 })));
  const noProbes = result([tally({ cores: 1 })]);
  delete noProbes.options.probes;
  assert.doesNotThrow(() => checkComparable(base, noProbes), 'no probes recorded is the same as none');
  const twoLanes = result([tally({ cores: 1 })]);
  twoLanes.options.lanesPerCore = 2;
  assert.throws(() => checkComparable(base, twoLanes), { name: 'UsageError', message: 'compare: the runs differ in --lanes-per-core (1 vs 2): their rates measure different races' });
  const oneLane = result([tally({ cores: 1 })]);
  oneLane.options.lanesPerCore = 1;
  assert.doesNotThrow(() => checkComparable(base, oneLane), 'no lanes per core recorded is the same as one');
  assert.throws(() => compareResults(base, result([tally({ cores: 2 })])), { name: 'UsageError', message: 'compare: the runs have no core count in common' });
});

test('compare renders a header, a rate table per core count, throughput, latency and the verdict', () => {
  const rep = (rates) => ({ trialsPerSec: rates });
  const a = tally({ cores: 2, ok: M - 12, errors: { ECONNRESET: 12 }, repeats: rep([1000, 1010, 990]), firstCloseErrorNs: { ECONNRESET: 1_200_000 } });
  const b = tally({ cores: 2, ok: 5000, errors: {}, repeats: rep([900, 910, 890]) });
  const c = compareResults(result([a], { os: { type: 'FreeBSD', release: '14.1' } }), result([b], { os: { type: 'FreeBSD' } }), ['before', 'after']);
  const text = renderComparison(c);
  const lines = text.split('\n');
  assert.equal(lines[0], 'base: before (FreeBSD 14.1, completed, started 2026-01-01T00:00:00.000Z)');
  assert.equal(lines[1], 'new:  after (FreeBSD, completed, started 2026-01-01T00:00:00.000Z)');
  assert.equal(lines[2], "rates with Wilson 95% intervals; p two-sided: Fisher's exact test (no repeats: drift not counted); * = significant at 0.05 after Bonferroni over the rows of a core count");
  assert.equal(lines[3], '');
  assert.equal(lines[4], '== 2 cores');
  assert.match(lines[5], /^call:outcome {9}base {32}new {30}difference {2}p$/);
  assert.equal(lines[6], 'close:outside POSIX  12 in 1e6: 1.2e-5 [6.9e-6, 2.1e-5]  0 in 5,000: below 6.0e-4 at 95%  -1.2e-5     1.0');
  assert.equal(lines[7], 'close:ECONNRESET     12 in 1e6: 1.2e-5 [6.9e-6, 2.1e-5]  0 in 5,000: below 6.0e-4 at 95%  -1.2e-5     1.0');
  // 12 hits in 1 s: Garwood's exact interval, SciPy chi2.ppf(0.025, 24) / 2 = 6.2006, chi2.ppf(0.975, 26) / 2 = 20.9686;
  // none in 1 s: below -ln(0.05) = 2.996 per second
  assert.equal(lines[8], 'close() outside POSIX per second: 12.0/s [6.20, 21.0] -> 0 in 1.00s (<3.00/s); first hit 1.20ms -> -');
  assert.match(lines[9], /^throughput: 1000 \[975, 1025\] \(n=3\) -> 900 \[875, 925\] \(n=3\) trials\/s \(-10\.0%\)$/);
  assert.equal(lines[10], 'close() returning 0 latency: p50 672ns -> 672ns, p90 672ns -> 672ns, p99 672ns -> 672ns, p99.9 672ns -> 672ns, max 672ns -> 672ns');
  assert.equal(lines[11], `verdict (2 cores): ${c.cores[0].verdict}`);
  assert.equal(lines[12], '');
  // The synthetic runs share host and start time, and their repeats kept no per-repeat counts: both are said.
  assert.match(lines[13], /^warning: before and after are the same run /);
  assert.match(lines[14], /^warning: run-to-run drift is not accounted for at 2 cores: /);
  assert.equal(lines.length, 16);
  assert.equal(text.at(-1), '\n');
  // a significant row is starred; a failing-close latency line appears when both sides have one
  const x = compareResults(result([tally({ cores: 1, ok: M - 120, errors: { ECONNRESET: 120 } })]), result([tally({ cores: 1, ok: M - 2, errors: { ECONNRESET: 2 } })]));
  const t2 = renderComparison(x);
  assert.match(t2, /^close:outside POSIX .* {2}\*$/m);
  assert.match(t2, /^close:ECONNRESET .* {2}\*$/m);
  assert.match(t2, /^close\(\) failing latency: p50 2\.18us -> 2\.18us/m);
  assert.match(t2, /^throughput: 1000000 -> 1000000 trials\/s \(\+0\.0%\)$/m);
  assert.match(t2, /-1\.2e-4 +[0-9.e-]+ +\*$/m);
});

test('compare: a run with no OS recorded or no latency histograms still compares, saying less', () => {
  const a = result([tally({ cores: 1 })]);
  const b = result([tally({ cores: 1 })]);
  a.environment = {};
  delete b.steps[0].latency;
  const c = compareResults(a, b);
  assert.equal(c.base.os, '?');
  assert.deepEqual(c.cores[0].latency, { close: {} });
  assert.doesNotMatch(renderComparison(c), /latency/);
  b.environment = { os: { release: '14.1' } };
  assert.equal(compareResults(a, b).new.os, '? 14.1');
});

test('compare: a call made on one side only, a shutdown outside POSIX only in the new run, Bonferroni per core count', () => {
  const a = tally({ cores: 1 });
  const b = tally({ cores: 1 });
  a.calls.send = { ok: 3, errors: { EPIPE: 2 } };
  b.calls.send = { ok: 0, errors: {} };
  a.calls.shutdown = { ok: 1000, errors: {} };
  b.calls.shutdown = { ok: 990, errors: { ECONNRESET: 10 } };
  const [k] = compareResults(result([a]), result([b])).cores;
  assert.deepEqual(k.rows.map((r) => `${r.call}:${r.outcome}`), ['close:outside POSIX', 'shutdown:outside POSIX', 'shutdown:ECONNRESET']);
  // 12 vs 3 in 1e6: p = 0.0352 (SciPy), above 0.05 / 2 rows
  const [c] = compareResults(result([tally({ cores: 4, ok: M - 12, errors: { ECONNRESET: 12 } })]), result([tally({ cores: 4, ok: M - 3, errors: { ECONNRESET: 3 } })])).cores;
  assert.ok(c.rows.every((r) => close(r.pValue, 0.035155583502, 1e-6) && r.significant === false));
  assert.match(c.verdict, /^no significant change/);
});

test('compare: the verdict names several other significant rows, tiny p in exponent form, and no close() part when no close was made', () => {
  const [k] = compareResults(result([tally({ cores: 1, ok: 1000 })]), result([tally({ cores: 1, ok: 970, errors: { ECONNRESET: 15, EPIPE: 15 } })])).cores;
  assert.match(k.verdict, /^WORSE: close\(\) outside POSIX rose from 0 to 3\.00% .*; other significant changes: close:ECONNRESET up, close:EPIPE up; throughput/);
  const [p] = compareResults(result([tally({ cores: 1, ok: 1000 })]), result([tally({ cores: 1, ok: 985, errors: { ECONNRESET: 15 } })])).cores;
  assert.ok(close(p.rows[0].pValue, 5.7891244716748187e-05, 1e-6), 'SciPy fisher_exact([[0,1000],[15,985]])');
  assert.match(p.verdict, /\(p=5\.8e-5\)/);
  assert.match(renderComparison(compareResults(result([tally({ cores: 1, ok: 1000 })]), result([tally({ cores: 1, ok: 985, errors: { ECONNRESET: 15 } })]))), / 5\.8e-5 +\*$/m);
  const none = tally({ cores: 1, ok: 0 });
  none.calls.shutdown = { ok: 1000, errors: {} };
  const other = tally({ cores: 1, ok: 0 });
  other.calls.shutdown = { ok: 900, errors: { ECONNRESET: 100 } };
  const [n] = compareResults(result([none]), result([other])).cores;
  assert.equal(n.rows[0].call, 'shutdown');
  assert.match(n.verdict, /^other significant changes: shutdown:outside POSIX up, shutdown:ECONNRESET up; throughput/);
});

test('compare: default labels, an interval on the base side only, no latency block, no environment', () => {
  const rep = (rates) => tally({ cores: 4, repeats: { trialsPerSec: rates } });
  const c = compareResults(result([rep([100, 101, 99])]), result([rep([50])]));
  assert.deepEqual([c.base.label, c.new.label], ['base', 'new']);
  assert.equal(c.cores[0].throughput.significant, undefined, 'the new side has one run: no interval');
  const a = result([tally({ cores: 1 })]);
  const b = result([tally({ cores: 1 })]);
  delete a.steps[0].latency;
  b.steps[0].latency = {};
  delete a.environment;
  const d = compareResults(a, b);
  assert.deepEqual(d.cores[0].latency, { close: {} });
  assert.equal(d.base.os, '?');
  b.steps[0].latency = { close: {} };
  assert.deepEqual(compareResults(b, b).cores[0].latency, { close: {} });
  delete b.environment;
  assert.equal(compareResults(a, b).new.os, '?');
});

test('compare renders a rise with a plus sign, no change as +0, and lists every core count only one run has', () => {
  const up = renderComparison(compareResults(result([tally({ cores: 1, ok: 1000 })]), result([tally({ cores: 1, ok: 970, errors: { ECONNRESET: 30 } })])));
  assert.match(up, /^close:outside POSIX +0 in 1,000: below 3\.0e-3 at 95% +30 in 1,000: 3\.00% \[[^\]]+\] +\+3\.0e-2 +1\.5e-9 +\*$/m);
  const same = renderComparison(compareResults(result([tally({ cores: 1 })]), result([tally({ cores: 1 })])));
  assert.match(same, /^close:outside POSIX .* \+0\.0e\+0 +1\.0$/m);
  const c = compareResults(result([tally({ cores: 1 })]), result([tally({ cores: 1 }), tally({ cores: 2 }), tally({ cores: 4 })]));
  assert.match(renderComparison(c), /only in new \(2,4\)\n$/);
  const noClose = result([tally({ cores: 1 })]);
  noClose.steps[0].latency = {};
  assert.deepEqual(compareResults(noClose, noClose).cores[0].latency, { close: {} });
});

test('compare describes a side as events in calls with its interval, or the zero-event bound', () => {
  assert.equal(describeSide({ events: 0, attempts: M, upper95WhenZero: 2.9957e-6 }), '0 in 1e6: below 3.0e-6 at 95%');
  assert.equal(describeSide({ events: 0, attempts: 5000 }), '0 in 5,000: below 1.0e+0 at 95%');
  assert.equal(describeSide({ events: 0, attempts: 1000, upper95WhenZero: 0.003 }), '0 in 1,000: below 3.0e-3 at 95%', 'powers of ten below 1e5 are written out');
  assert.equal(describeSide({ events: 1234, attempts: 1e5, rate: 0.01234, low: 0.0117, high: 0.013 }), '1,234 in 1e5: 1.23% [1.17%, 1.30%]');
  assert.equal(describeSide({ events: 3, attempts: 99_999, rate: 3e-5, low: 1e-5, high: 9e-5 }), '3 in 99,999: 3.0e-5 [1.0e-5, 9.0e-5]');
  assert.equal(describeSide({ events: 3, attempts: 2e5, rate: 1.5e-5, low: 1e-5, high: 9e-5 }), '3 in 200,000: 1.5e-5 [1.0e-5, 9.0e-5]');
});

// ---- bisect: the exit status git reads ----

import { parseFailOn, checkFailOn, parseRate, judge, bisectRequested, BISECT_EXIT } from '../dist/report/bisect.js';

test('bisect exit statuses are the ones git bisect run reads: 0 good, 1 bad, 125 skip', () => {
  assert.deepEqual(BISECT_EXIT, { good: 0, bad: 1, skip: 125, abort: 128 });
});

test('--fail-on: a bare errno means the victim close(); call:errno names the call; anything else is refused naming what it takes', () => {
  assert.deepEqual(parseFailOn('ECONNRESET'), [{ call: 'close', errno: 'ECONNRESET' }]);
  assert.deepEqual(parseFailOn('ECONNRESET,shutdown:ENOTCONN,resetClose:E2BIG'), [
    { call: 'close', errno: 'ECONNRESET' }, { call: 'shutdown', errno: 'ENOTCONN' }, { call: 'resetClose', errno: 'E2BIG' },
  ]);
  assert.throws(() => parseFailOn('poll:ECONNRESET'), { name: 'UsageError', message: "--fail-on: unknown syscall 'poll' in 'poll:ECONNRESET' (one of close, resetClose, acceptClose, otherClose, shutdown, send, recv, sockerror, accept)" });
  for (const bad of ['econnreset', 'ECONNRESET ', 'E', 'close:', 'close:ECONN-RESET', 'XECONNRESET', '', 'ECONNRESET,']) {
    assert.throws(() => parseFailOn(bad), { name: 'UsageError', message: /^--fail-on takes errno names like ECONNRESET or close:ECONNRESET, not '/ }, bad);
  }
});

test('--fail-on that can never be met is refused: an errno this OS lacks, a probe that does not run', () => {
  const names = ['ECONNRESET', 'ENOTCONN'];
  assert.doesNotThrow(() => checkFailOn([{ call: 'close', errno: 'ECONNRESET' }], [], names));
  assert.throws(() => checkFailOn([{ call: 'close', errno: 'EWHAT' }], [], names), { name: 'UsageError', message: '--fail-on: EWHAT is not an errno name on this OS' });
  assert.throws(() => checkFailOn([{ call: 'shutdown', errno: 'ENOTCONN' }], ['send'], names), { name: 'UsageError', message: '--fail-on shutdown:ENOTCONN needs --probe shutdown, or that call never runs' });
  assert.doesNotThrow(() => checkFailOn([{ call: 'shutdown', errno: 'ENOTCONN' }], ['shutdown'], names));
  assert.doesNotThrow(() => checkFailOn([{ call: 'resetClose', errno: 'ENOTCONN' }], [], names), 'resetClose always runs');
});

test('--fail-above takes a rate in [0, 1)', () => {
  assert.equal(parseRate('0', '--fail-above'), 0);
  assert.equal(parseRate('1e-5', '--fail-above'), 1e-5);
  assert.equal(parseRate('0.999', '--fail-above'), 0.999);
  for (const bad of ['1', '-0.1', '', ' ', 'NaN', 'Infinity', 'abc', '2']) {
    assert.throws(() => parseRate(bad, '--fail-above'), { name: 'UsageError', message: `--fail-above takes a rate in [0, 1) such as 1e-5, not '${bad}'` });
  }
});

const rule = (failOn = [], above = 0) => ({ failOn, above });

test('bisect mode is read from the raw command line, so a usage error under --fail-on or --fail-above aborts the bisection', () => {
  const argv = (...a) => ['node', 'close-stress', ...a];
  for (const yes of [argv('--fail-on', 'ECONNRESET'), argv('--fail-on=ECONNRESET'), argv('--iteration', '2e4', '--fail-above', '1e-5'), argv('-q', '--fail-above=0')]) {
    assert.equal(bisectRequested(yes), true, yes.join(' '));
  }
  for (const no of [argv(), argv('--cores', '2'), argv('--fail-onx'), argv('--json', 'fail-on'), ['--fail-on', 'close-stress'], argv('x--fail-on')]) {
    assert.equal(bisectRequested(no), false, no.join(' '));
  }
});

test('bisect skips a commit whose kernel counted no RST for the resets, and a good verdict on unreadable counters says the RSTs are not proven', () => {
  const counted = (rsts) => ({ source: '/proc/net/snmp', scope: 'machine', deltas: { OutRsts: rsts }, rstCounter: { name: 'OutRsts', meaning: 'RST segments sent' } });
  const withRsts = result([tally({ cores: 1, ok: 1000, kernel: counted(1000) })]);
  assert.deepEqual(judge(withRsts, rule()), { exitCode: 0, reason: 'good: close() errors outside POSIX: 0 in 1,000 close() calls: rate below 3.0e-3 at 95%' }, 'RSTs counted: a plain good');
  const fewer = result([tally({ cores: 1, ok: 1000, kernel: counted(1000) }), tally({ cores: 2, ok: 1000, kernel: counted(900) })]);
  assert.deepEqual(judge(fewer, rule()), { exitCode: 125, reason: 'could not measure: 2 cores: the kernel counted 0.90 OutRsts per resetting close: the RST injection did not happen' }, 'any step below one RST per reset');
  const none = result([tally({ cores: 1, ok: 1000, kernel: counted(0) })]);
  assert.deepEqual(judge(none, rule()), { exitCode: 125, reason: 'could not measure: 1 core: the kernel counted 0.00 OutRsts per resetting close: the RST injection did not happen' });
  const unreadable = result([tally({ cores: 1, ok: 1000, kernel: { source: 'sysctl', scope: 'machine', deltas: {}, unavailable: 'no layout' } })]);
  assert.deepEqual(judge(unreadable, rule()), { exitCode: 0, reason: 'good: close() errors outside POSIX: 0 in 1,000 close() calls: rate below 3.0e-3 at 95% (RSTs not proven: kernel counters unavailable (no layout), so the RSTs are not proven)' });
  const bad = result([tally({ cores: 1, ok: 990, errors: { ECONNRESET: 10 }, kernel: counted(0) })]);
  assert.equal(judge(bad, rule()).exitCode, BISECT_EXIT.bad, 'an errno outside POSIX is evidence without an RST counted');
});

test('bisect judges each step on its own: a regression at 16 cores is not diluted by the 1-core step', () => {
  const r = result([tally({ cores: 1, ok: M }), tally({ cores: 16, ok: 999, errors: { ECONNRESET: 1 } })]);
  assert.deepEqual(judge(r, rule()), { exitCode: 1, reason: 'bad: 16 cores: close() errors outside POSIX: 1 in 1000 close() calls (1.00e-3 > 0)' });
  assert.deepEqual(judge(r, rule([{ call: 'close', errno: 'ECONNRESET' }])), { exitCode: 1, reason: 'bad: 16 cores: close:ECONNRESET: 1 in 1000 close() calls (1.00e-3 > 0)' });
  assert.deepEqual(judge(r, rule([], 1e-3)), { exitCode: 0, reason: 'good: close() errors outside POSIX: 1 in 1,001,000 close() calls; highest step 16 cores: 1.00e-3 (95% up to 5.6e-3), at or below 0.001 (RSTs not proven: no kernel counters were recorded, so the RSTs are not proven)' }, 'at the threshold is not above it (these synthetic steps have no kernel counters: said)');
  assert.equal(judge(r, rule([], 0.9e-3)).exitCode, 1);
  assert.deepEqual(judge(r, rule([{ call: 'close', errno: 'EPIPE' }])), { exitCode: 0, reason: 'good: close:EPIPE: 0 in 1,001,000 close() calls: rate below 3.0e-6 at 95%; each step below 3.0e-3 (fewest: 1,000 at 16 cores) (RSTs not proven: no kernel counters were recorded, so the RSTs are not proven)' });
});

test('bisect: an errno POSIX allows is not counted unless listed; listed errnos of one call add up over that call', () => {
  const r = result([tally({ cores: 2, ok: 990, errors: { EINTR: 6, EIO: 4 } })]);
  assert.equal(judge(r, rule()).exitCode, 0, 'EINTR and EIO are POSIX close() errors');
  const both = judge(r, rule([{ call: 'close', errno: 'EINTR' }, { call: 'close', errno: 'EIO' }], 0.009));
  assert.deepEqual(both, { exitCode: 1, reason: 'bad: 2 cores: close:EINTR,close:EIO: 10 in 1000 close() calls (1.00e-2 > 0.009)' });
  assert.equal(judge(r, rule([{ call: 'close', errno: 'EINTR' }], 0.009)).exitCode, 0, 'one errno alone stays below');
});

test('bisect: a probe\'s errno is a rate over that probe\'s own calls', () => {
  const t = tally({ cores: 1, ok: 1000 });
  t.calls.shutdown = { ok: 90, errors: { ENOTCONN: 10 } };
  const r = result([t]);
  assert.deepEqual(judge(r, rule([{ call: 'shutdown', errno: 'ENOTCONN' }], 0.05)), { exitCode: 1, reason: 'bad: 1 cores: shutdown:ENOTCONN: 10 in 100 shutdown() calls (1.00e-1 > 0.05)' });
  assert.equal(judge(r, rule([{ call: 'shutdown', errno: 'ENOTCONN' }], 0.1)).exitCode, 0);
  const mixed = judge(r, rule([{ call: 'close', errno: 'ECONNRESET' }, { call: 'shutdown', errno: 'ENOTCONN' }], 0.05));
  assert.match(mixed.reason, /^bad: 1 cores: close:ECONNRESET,shutdown:ENOTCONN: 10 in 100 shutdown\(\) calls/);
});

test('bisect says 125 (cannot test) when nothing could be measured, never 0 or 1', () => {
  assert.deepEqual(judge({ ...result([tally()]), status: 'failed', error: 'boom' }, rule()), { exitCode: 125, reason: 'could not measure: boom' });
  assert.deepEqual(judge({ ...result([tally()]), status: 'failed' }, rule()), { exitCode: 125, reason: 'could not measure: run failed' });
  assert.deepEqual(judge(result([tally({ ok: 0 })]), rule()), { exitCode: 125, reason: 'could not measure: no victim close() was made' });
  assert.deepEqual(judge(result([]), rule()), { exitCode: 125, reason: 'could not measure: no victim close() was made' });
  const noProbe = result([tally({ cores: 1 }), tally({ cores: 2 })]);
  assert.deepEqual(judge(noProbe, rule([{ call: 'shutdown', errno: 'ENOTCONN' }])), { exitCode: 125, reason: 'could not measure: no shutdown() call was made' });
  assert.deepEqual(judge(noProbe, rule([{ call: 'send', errno: 'EPIPE' }, { call: 'shutdown', errno: 'ENOTCONN' }])), { exitCode: 125, reason: 'could not measure: no send(), shutdown() call was made' });
  const once = result([tally({ cores: 1 }), tally({ cores: 2 })]);
  once.steps[1].calls.shutdown = { ok: 5, errors: {} };
  assert.equal(judge(once, rule([{ call: 'shutdown', errno: 'ENOTCONN' }])).exitCode, 0, 'made in one step is measured');
  assert.equal(judge({ ...result([tally()]), status: 'interrupted' }, rule()).exitCode, 0, 'an interrupted run still measured what it ran');
});

test('bisect: a good verdict states what it rules out per syscall, each over its own calls and steps; a step that never made the call is not the weakest', () => {
  const counted = (rsts) => ({ source: '/proc/net/snmp', scope: 'machine', deltas: { OutRsts: rsts }, rstCounter: { name: 'OutRsts', meaning: 'RST segments sent' } });
  const one = tally({ cores: 1 });
  const many = tally({ cores: 2, ok: 3000, kernel: counted(3000) });
  many.calls.shutdown = { ok: 100, errors: {} };
  assert.deepEqual(judge(result([one, many]), rule([{ call: 'close', errno: 'ECONNRESET' }, { call: 'shutdown', errno: 'ENOTCONN' }])).reason,
    'good: close:ECONNRESET,shutdown:ENOTCONN: 0 in 4,000 close() calls: rate below 7.5e-4 at 95%; each step below 3.0e-3 (fewest: 1,000 at 1 core); ' +
    '0 in 100 shutdown() calls: rate below 3.0e-2 at 95%; each step below 3.0e-2 (fewest: 100 at 2 cores) (RSTs not proven: no kernel counters were recorded, so the RSTs are not proven)');
  // shutdown() made only at 2 cores: the 1-core step's 0 calls neither bound it nor top it
  const plain = tally({ cores: 1, kernel: counted(1000) });
  const probed = tally({ cores: 2, kernel: counted(1000) });
  probed.calls.shutdown = { ok: 90, errors: { ENOTCONN: 10 } };
  assert.deepEqual(judge(result([plain, probed]), rule([{ call: 'shutdown', errno: 'EPIPE' }], 0.5)),
    { exitCode: 0, reason: 'good: shutdown:EPIPE: 0 in 100 shutdown() calls: rate below 3.0e-2 at 95%; each step below 3.0e-2 (fewest: 100 at 2 cores)' });
  assert.deepEqual(judge(result([plain, probed]), rule([{ call: 'shutdown', errno: 'ENOTCONN' }], 0.5)),
    { exitCode: 0, reason: 'good: shutdown:ENOTCONN: 10 in 100 shutdown() calls; highest step 2 cores: 1.00e-1 (95% up to 1.7e-1), at or below 0.5' });
});

test('bisect reads results saved before steps had a close verdict: no RST is still a skip, with its own reason, and RSTs counted a plain good', () => {
  const counted = (rsts) => ({ source: '/proc/net/snmp', scope: 'machine', deltas: { OutRsts: rsts }, rstCounter: { name: 'OutRsts', meaning: 'RST segments sent' } });
  const none = result([tally({ kernel: counted(0) })]);
  delete none.steps[0].closeVerdict;
  assert.deepEqual(judge(none, rule()), { exitCode: 125, reason: 'could not measure: 1 core: the RST injection did not happen' });
  const seen = result([tally({ kernel: counted(1000) }), tally({ cores: 2, kernel: counted(1000) })]);
  for (const step of seen.steps) delete step.closeVerdict;
  assert.deepEqual(judge(seen, rule()), { exitCode: 0, reason: 'good: close() errors outside POSIX: 0 in 2,000 close() calls: rate below 1.5e-3 at 95%; each step below 3.0e-3 (fewest: 1,000 at 1 core)' });
});

// ---- stats and the POSIX table ----

import { wilson, zeroEventUpperBound, fisherExact, meanInterval, zFor } from '../dist/common/stats.js';
import { POSIX_ERRORS, classify, outsidePosix, hasPosixList } from '../dist/common/posix.js';

const close = (a, b, tol = 1e-9) => Math.abs(a - b) <= tol * Math.max(1, Math.abs(b));

test('stats: normal quantiles, zero-event bounds and empty samples', () => {
  assert.ok(close(zFor(0.95), 1.959963984540054));
  assert.ok(close(zFor(0.99), 2.5758293035489004), 'SciPy norm.ppf(0.995)');
  assert.ok(close(zFor(0.9), 1.6448536269514722), 'SciPy norm.ppf(0.95)');
  assert.ok(close(zeroEventUpperBound(1000), 0.0029912495450953314), '1 - 0.05^(1/1000)');
  assert.ok(close(zeroEventUpperBound(10, 0.99), 1 - 0.01 ** 0.1));
  assert.equal(zeroEventUpperBound(0), 1);
  assert.equal(zeroEventUpperBound(-3), 1);
  assert.deepEqual(wilson(0, 0), { rate: 0, low: 0, high: 1 });
  assert.deepEqual(wilson(3, -1), { rate: 0, low: 0, high: 1 });
  const w = wilson(0, 100);
  assert.ok(w.low >= 0 && w.low < 1e-12, 'never below 0');
  assert.ok(close(w.high, 0.036994, 1e-4), 'Wilson upper of 0 in 100: z^2/(n+z^2)');
  const all = wilson(100, 100);
  assert.ok(all.high <= 1 && all.high > 1 - 1e-12, 'never above 1');
  assert.ok(close(all.low, 1 - 0.036994, 1e-4));
  const w99 = wilson(10, 100, 0.99);
  assert.ok(w99.low < wilson(10, 100).low && w99.high > wilson(10, 100).high, 'a higher confidence widens the interval');
});

test("stats: Fisher's exact test as SciPy computes it, and tables with one possible arrangement", () => {
  assert.ok(close(fisherExact(3, 7, 8, 2), 0.06977851869492736));
  assert.ok(close(fisherExact(0, 5, 5, 0), 0.007936507936507938));
  assert.ok(close(fisherExact(1, 9, 11, 3), 0.0027594561852200836));
  assert.ok(close(fisherExact(11, 3, 1, 9), 0.0027594561852200836), 'symmetric');
  assert.equal(fisherExact(0, 10, 0, 10), 1);
  assert.equal(fisherExact(10, 0, 10, 0), 1);
  assert.equal(fisherExact(5, 5, 5, 5), 1);
  assert.ok(fisherExact(2, 998, 9, 991) > 0.05 && close(fisherExact(2, 998, 9, 991), 0.06470495791578931));
});

test('stats: the mean of repeats with its t interval (SciPy t.ppf(0.975, 3)); one run has no interval', () => {
  const m = meanInterval([100, 110, 90, 105]);
  assert.equal(m.mean, 101.25);
  assert.equal(m.n, 4);
  assert.ok(close(m.low, 87.66234558101992) && close(m.high, 114.83765441898008), JSON.stringify(m));
  const two = meanInterval([100, 110]);
  assert.ok(close(two.high - two.mean, 63.53102368087347, 1e-6), 'two runs already have an interval: t.ppf(0.975, 1) * 5');
  assert.deepEqual(meanInterval([7]), { mean: 7, n: 1 }, 'one run has no interval');
  assert.deepEqual(meanInterval([]), { mean: 0, n: 0 });
  const wide = meanInterval([100, 110, 90, 105], 0.99);
  assert.ok(wide.low < m.low && wide.high > m.high);
});

test('the POSIX table: every error each syscall page allows, in POSIX.1-2008 and POSIX.1-2024', () => {
  const close08 = ['EBADF', 'EINTR', 'EIO'];
  assert.deepEqual(POSIX_ERRORS.close, { section: 'XSH close()', '2008': close08, '2024': [...close08, 'EINPROGRESS'] });
  assert.deepEqual(POSIX_ERRORS.resetClose, POSIX_ERRORS.close);
  assert.deepEqual(POSIX_ERRORS.acceptClose, POSIX_ERRORS.close, 'the accept probe\'s own close is a close()');
  assert.deepEqual(POSIX_ERRORS.otherClose, POSIX_ERRORS.close);
  const shutdown = ['EBADF', 'EINVAL', 'ENOTCONN', 'ENOTSOCK', 'ENOBUFS'];
  assert.deepEqual(POSIX_ERRORS.shutdown, { section: 'XSH shutdown()', '2008': shutdown, '2024': shutdown });
  const send = ['EAGAIN', 'EWOULDBLOCK', 'EBADF', 'ECONNRESET', 'EDESTADDRREQ', 'EINTR', 'EMSGSIZE', 'ENOTCONN',
    'ENOTSOCK', 'EOPNOTSUPP', 'EPIPE', 'EACCES', 'EIO', 'ENETDOWN', 'ENETUNREACH', 'ENOBUFS'];
  assert.deepEqual(POSIX_ERRORS.send, { section: 'XSH send()', '2008': send, '2024': send });
  const recv = ['EAGAIN', 'EWOULDBLOCK', 'EBADF', 'ECONNRESET', 'EINTR', 'EINVAL', 'ENOTCONN', 'ENOTSOCK',
    'EOPNOTSUPP', 'ETIMEDOUT', 'EIO', 'ENOBUFS', 'ENOMEM'];
  assert.deepEqual(POSIX_ERRORS.recv, { section: 'XSH recv()', '2008': recv, '2024': recv });
  const accept = ['EAGAIN', 'EWOULDBLOCK', 'EBADF', 'ECONNABORTED', 'EINTR', 'EINVAL', 'EMFILE', 'ENFILE',
    'ENOBUFS', 'ENOMEM', 'ENOTSOCK', 'EOPNOTSUPP', 'EPROTO'];
  assert.deepEqual(POSIX_ERRORS.accept, { section: 'XSH accept()', '2008': accept, '2024': accept });
  assert.deepEqual(Object.keys(POSIX_ERRORS), ['close', 'resetClose', 'acceptClose', 'otherClose', 'shutdown', 'send', 'recv', 'accept']);
});

test('POSIX verdicts: ECONNRESET is outside for close and shutdown, allowed for send and recv; EINPROGRESS only since 2024', () => {
  assert.equal(classify('close', 'ECONNRESET'), 'outside');
  assert.equal(classify('shutdown', 'ECONNRESET'), 'outside');
  assert.equal(classify('send', 'ECONNRESET'), 'posix');
  assert.equal(classify('recv', 'ECONNRESET'), 'posix');
  assert.equal(classify('close', 'EINTR'), 'posix');
  assert.equal(classify('close', 'EBADF'), 'posix');
  assert.equal(classify('close', 'EIO'), 'posix');
  assert.equal(classify('close', 'EINPROGRESS'), '2024-only');
  assert.equal(classify('close', 'EINVAL'), 'outside');
  assert.equal(classify('shutdown', 'ENOTCONN'), 'posix');
  assert.equal(classify('send', 'EPIPE'), 'posix');
  assert.equal(classify('accept', 'ECONNABORTED'), 'posix');
  assert.equal(classify('accept', 'ECONNRESET'), 'outside');
  assert.deepEqual(outsidePosix('close', { ECONNRESET: 3, EINTR: 2, EINPROGRESS: 1, EPIPE: 4 }), { ECONNRESET: 3, EPIPE: 4 });
  assert.deepEqual(outsidePosix('close', {}), {});
  assert.equal(hasPosixList('close'), true);
  assert.equal(hasPosixList('accept'), true);
  assert.equal(hasPosixList('sockerror'), false, 'SO_ERROR carries any error: no list');
  assert.equal(hasPosixList('toString'), false, 'an inherited property is not a syscall');
});
