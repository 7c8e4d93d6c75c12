// `close-stress compare BASE NEW` on synthetic results whose answer is known.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { stepResult } from '../dist/result.js';
import { runCli, tempDir } from './helpers/cli.mjs';
import { assertValid } from './helpers/schema.mjs';

const hist = (counts) => ({ unit: 'ns', scheme: 'log-linear-16', counts });

/** A result as the tool writes it, with chosen counts: 1e6 victim closes per step. */
function syntheticRun({ econnreset, race = 'same-thread', elapsedNs = 10e9, latencyLow = 640 }) {
  const n = 1_000_000;
  const steps = Object.entries(econnreset).map(([cores, k]) =>
    stepResult({
      cores: Number(cores), threads: Number(cores), oversubscribed: false, trials: n, elapsedNs,
      calls: { close: { ok: n - k, errors: k ? { ECONNRESET: k } : {} }, resetClose: { ok: n, errors: {} } },
      setupFailures: {}, setupFailed: 0, strangers: 0, victimFd: { released: k, retained: 0, reused: 0 },
      lanes: [], interrupted: false, probes: [], probeSetupFailures: {},
      latency: { close: { ok: hist([[latencyLow, n - k]]), error: hist(k ? [[2048, k]] : []) } },
    }));
  return {
    schema: 'close-stress/result', schemaVersion: 1, status: 'completed',
    options: { cores: steps.map((s) => s.cores), iterations: n, race, resetSide: 'server', family: 4, probes: [], skew: { kind: 'none' }, repeat: 1, force: false, quiet: true, logLevel: 'warn' },
    race: { shape: race, resetSide: 'server', victim: 'client' },
    environment: { os: { type: 'FreeBSD', release: '14.1-RELEASE' }, tool: { name: 'close-stress', version: '0.1.0' } },
    startedAt: '2026-01-01T00:00:00.000Z', finishedAt: '2026-01-01T00:01:00.000Z', steps,
  };
}

function write(dir, name, value) {
  const file = path.join(dir, name);
  writeFileSync(file, JSON.stringify(value));
  return file;
}

test('a patch that takes ECONNRESET from 120 in 1e6 to 0 is reported as a significant improvement with the zero-event bound', (t) => {
  const dir = tempDir(t);
  const base = write(dir, 'base.json', syntheticRun({ econnreset: { 1: 0, 16: 120 } }));
  const next = write(dir, 'new.json', syntheticRun({ econnreset: { 1: 0, 16: 0 }, elapsedNs: 11e9, latencyLow: 704 }));
  const out = path.join(dir, 'cmp.json');
  const r = runCli(['compare', base, next, '--json', out]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /0 in 1e6: below 3\.0e-6 at 95%/);
  assert.match(r.stdout, /verdict \(16 cores\): BETTER: close\(\) outside POSIX fell from 1\.2e-4 to 0/);
  assert.match(r.stdout, /verdict \(1 cores\): no significant change/);
  const cmp = JSON.parse(readFileSync(out, 'utf8'));
  assertValid('compare', cmp);
  const c16 = cmp.cores.find((c) => c.cores === 16);
  const row = c16.rows.find((x) => x.call === 'close' && x.outcome === 'ECONNRESET');
  assert.equal(row.base.events, 120);
  assert.equal(row.new.events, 0);
  assert.equal(row.difference, -120e-6);
  assert.ok(row.significant);
  // Fisher two-sided for [[120, 999880], [0, 1000000]]: 2 * C(1e6,120)/C(2e6,120) ~= 1.5e-36 (SciPy: 1.5e-36)
  assert.ok(row.pValue < 1e-30, String(row.pValue));
  assert.ok(Math.abs(c16.throughput.change - (10 / 11 - 1)) < 1e-12, 'throughput fell by 1/11');
  assert.equal(c16.latency.close.ok.base.p50, 672);
  assert.equal(c16.latency.close.ok.new.p50, 736);
});

test('two identical runs compare as no change, p = 1 everywhere', (t) => {
  const dir = tempDir(t);
  const run = syntheticRun({ econnreset: { 2: 7, 4: 30 } });
  const out = path.join(dir, 'cmp.json');
  const r = runCli(['compare', write(dir, 'a.json', run), write(dir, 'b.json', run), '--json', out]);
  assert.equal(r.code, 0, r.stderr);
  const cmp = JSON.parse(readFileSync(out, 'utf8'));
  assertValid('compare', cmp);
  for (const c of cmp.cores) {
    for (const row of c.rows) {
      assert.equal(row.pValue, 1);
      assert.equal(row.difference, 0);
      assert.equal(row.significant, false);
    }
    assert.match(c.verdict, /^no significant change/);
    assert.equal(c.throughput.change, 0);
  }
});

test('runs of different races are refused with exit 2 and one line naming the option', (t) => {
  const dir = tempDir(t);
  const a = write(dir, 'a.json', syntheticRun({ econnreset: { 1: 0 } }));
  const b = write(dir, 'b.json', syntheticRun({ econnreset: { 1: 0 }, race: 'cross-thread' }));
  const r = runCli(['compare', a, b]);
  assert.equal(r.code, 2);
  assert.equal(r.stdout, '');
  assert.equal(r.stderr.trim().split('\n').length, 1);
  assert.match(r.stderr, /--race \(same-thread vs cross-thread\)/);
});

test('different iteration counts still compare (rates are per call)', (t) => {
  const dir = tempDir(t);
  const run = syntheticRun({ econnreset: { 1: 3 } });
  const other = { ...run, options: { ...run.options, iterations: 5000 } };
  const r = runCli(['compare', write(dir, 'a.json', run), write(dir, 'b.json', other)]);
  assert.equal(r.code, 0, r.stderr);
});

test('with --repeat on both sides, a throughput change is judged by its t intervals', (t) => {
  const dir = tempDir(t);
  const withRepeats = (rates) => {
    const run = syntheticRun({ econnreset: { 4: 0 } });
    const [s] = run.steps;
    const tally = { ...s, repeats: { trialsPerSec: rates } };
    delete tally.trialsPerSec; delete tally.posix;
    run.steps = [stepResult(tally)];
    return run;
  };
  const out = path.join(dir, 'cmp.json');
  const r = runCli(['compare', write(dir, 'a.json', withRepeats([100_000, 101_000, 99_000])), write(dir, 'b.json', withRepeats([80_000, 81_000, 79_000])), '--json', out]);
  assert.equal(r.code, 0, r.stderr);
  const [c] = JSON.parse(readFileSync(out, 'utf8')).cores;
  assert.equal(c.throughput.base, 100_000);
  assert.equal(c.throughput.new, 80_000);
  assert.equal(c.throughput.change, -0.2);
  assert.equal(c.throughput.significant, true);
  assert.match(c.verdict, /throughput -20\.0% \(intervals apart\)/);
});

test('a p-value below what a double holds prints as "< 1e-300", never 0.0e+0', (t) => {
  const dir = tempDir(t);
  const base = write(dir, 'a.json', syntheticRun({ econnreset: { 2: 400_000 } }));
  const next = write(dir, 'b.json', syntheticRun({ econnreset: { 2: 0 } }));
  const r = runCli(['compare', base, next]);
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stdout, /0\.0e\+0/);
  assert.match(r.stdout, /close:ECONNRESET .* < 1e-300\s+\*/);
  assert.match(r.stdout, /BETTER: .*\(p < 1e-300\)/);
});
