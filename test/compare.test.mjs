// `close-stress compare BASE NEW` on synthetic results whose answer is known.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { stepResult } from '../dist/result/result.js';
import { runCli, saveJson, tempDir } from './helpers/cli.mjs';
import { assertValid } from './helpers/schema.mjs';

const hist = (counts) => ({ unit: 'ns', scheme: 'log-linear-16', counts });

/** A result as the tool writes it, with chosen counts: 1e6 victim closes per step. */
function syntheticRun({ econnreset, race = 'same-thread', elapsedNs = 10e9, latencyLow = 640, n = 1_000_000 }) {
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

test('a patch that takes ECONNRESET from 120 in 1e6 to 0 is reported as a significant improvement with the zero-event bound', (t) => {
  const dir = tempDir(t);
  const base = saveJson(dir, 'base.json', syntheticRun({ econnreset: { 1: 0, 16: 120 } }));
  const next = saveJson(dir, 'new.json', syntheticRun({ econnreset: { 1: 0, 16: 0 }, elapsedNs: 11e9, latencyLow: 704 }));
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
  const r = runCli(['compare', saveJson(dir, 'a.json', run), saveJson(dir, 'b.json', run), '--json', out]);
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
  const a = saveJson(dir, 'a.json', syntheticRun({ econnreset: { 1: 0 } }));
  const b = saveJson(dir, 'b.json', syntheticRun({ econnreset: { 1: 0 }, race: 'cross-thread' }));
  const r = runCli(['compare', a, b]);
  assert.equal(r.code, 2);
  assert.equal(r.stdout, '');
  assert.equal(r.stderr.trim().split('\n').length, 1);
  assert.match(r.stderr, /--race \(same-thread vs cross-thread\)/);
});

test('different iteration counts still compare (rates are per call)', (t) => {
  const dir = tempDir(t);
  const run = syntheticRun({ econnreset: { 1: 3 } });
  const other = syntheticRun({ econnreset: { 1: 0 }, n: 5000 });
  const out = path.join(dir, 'cmp.json');
  const r = runCli(['compare', saveJson(dir, 'a.json', run), saveJson(dir, 'b.json', other), '--json', out]);
  assert.equal(r.code, 0, r.stderr);
  const [c] = JSON.parse(readFileSync(out, 'utf8')).cores;
  const row = c.rows.find((x) => x.call === 'close' && x.outcome === 'outside POSIX');
  assert.deepEqual([row.base.events, row.base.attempts, row.new.events, row.new.attempts], [3, 1_000_000, 0, 5000]);
  assert.equal(row.base.rate, 3e-6);
  assert.equal(row.difference, -3e-6);
  // 1 - 0.05^(1/5000) = 5.99e-4: the bound of the smaller run, not of 1e6 calls
  assert.match(r.stdout, /^close:outside POSIX\s+3 in 1e6: 3\.0e-6 \[[^\]]+\]\s+0 in 5,000: below 6\.0e-4 at 95%\s+-3\.0e-6\s+1\.0\s*$/m);
  assert.match(r.stdout, /verdict \(1 cores\): no significant change in close\(\) outside POSIX \(3\.0e-6 -> 0, p=1\.0\)/);
});

test('compare applies Bonferroni over the rows of a core count', (t) => {
  // 12 vs 3 in 1e6: Fisher two-sided p = 0.0352 (SciPy fisher_exact), below 0.05
  // but above 0.05 / 2, the threshold for this core count's two rows
  // (close:outside POSIX and close:ECONNRESET).
  const dir = tempDir(t);
  const out = path.join(dir, 'cmp.json');
  const r = runCli(['compare', saveJson(dir, 'a.json', syntheticRun({ econnreset: { 4: 12 } })),
    saveJson(dir, 'b.json', syntheticRun({ econnreset: { 4: 3 } })), '--json', out]);
  assert.equal(r.code, 0, r.stderr);
  const [c] = JSON.parse(readFileSync(out, 'utf8')).cores;
  assert.deepEqual(c.rows.map((x) => `${x.call}:${x.outcome}`), ['close:outside POSIX', 'close:ECONNRESET']);
  for (const row of c.rows) {
    assert.ok(Math.abs(row.pValue - 0.035155583502) < 1e-9, String(row.pValue));
    assert.equal(row.significant, false, 'p = 0.035 is not below 0.05 / 2');
  }
  assert.match(c.verdict, /^no significant change in close\(\) outside POSIX \(1\.2e-5 -> 3\.0e-6, p=0\.035\)/);
  assert.doesNotMatch(r.stdout, /\*$/m, 'no row is starred');
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
  const r = runCli(['compare', saveJson(dir, 'a.json', withRepeats([100_000, 101_000, 99_000])), saveJson(dir, 'b.json', withRepeats([80_000, 81_000, 79_000])), '--json', out]);
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
  const base = saveJson(dir, 'a.json', syntheticRun({ econnreset: { 2: 400_000 } }));
  const next = saveJson(dir, 'b.json', syntheticRun({ econnreset: { 2: 0 } }));
  const r = runCli(['compare', base, next]);
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stdout, /0\.0e\+0/);
  assert.match(r.stdout, /close:ECONNRESET .* < 1e-300\s+\*/);
  assert.match(r.stdout, /BETTER: .*\(p < 1e-300\)/);
});
