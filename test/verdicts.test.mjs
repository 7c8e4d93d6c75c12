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
import { JournalWriter, readJournal, journalPath } from '../dist/journal.js';

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

test('a journal with a broken line inside, or no header, is refused with a one-line usage error', (t) => {
  const dir = tmp(t);
  const file = path.join(dir, 'j.jsonl');
  const w = JournalWriter.open(file, header);
  w.step(tally());
  w.end('completed');
  const [run, step, end] = readFileSync(file, 'utf8').trim().split('\n');
  fs.writeFileSync(file, `${run}\n{oops\n${step}\n${end}\n`);
  assert.throws(() => readJournal(file), { name: 'UsageError', message: `${file}: line 2 is not JSON; not a close-stress journal` });
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
  assert.equal(w.error?.code, 'ENOENT');
  w.step(tally());
  w.end('completed');
  assert.equal(w.error.code, 'ENOENT');

  const full = JournalWriter.open('/dev/full', header);
  assert.equal(full.error?.code, 'ENOSPC', 'the header write hit a full disk');
  full.step(tally());
  full.end('completed');
  assert.equal(full.error.code, 'ENOSPC');
});

test('the journal is --journal PATH, else the --json path plus .jsonl, else none', () => {
  assert.equal(journalPath({ journal: 'j.jsonl', json: 'r.json' }), 'j.jsonl');
  assert.equal(journalPath({ json: 'r.json' }), 'r.json.jsonl');
  assert.equal(journalPath({}), undefined);
});
