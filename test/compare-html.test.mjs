// The comparison page says what the terminal's compare says; both pages show the kernel's RST
// cross-check and what happened to descriptors after failed closes. Several runs compare against one base.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { stepResult } from '../dist/result/result.js';
import { runCli, saveJson, tempDir } from './helpers/cli.mjs';
import { assertValid } from './helpers/schema.mjs';

/** One saved run: per core count, ECONNRESET count per repeat (1e5 trials each), and kernel RSTs sent per resetting close. */
function savedRun(perCores, { startedAt = '2026-01-01T00:00:00.000Z', rsts = 1, rate = 10_000, retained = 0 } = {}) {
  const n = 100_000;
  const steps = Object.entries(perCores).map(([cores, ks]) => {
    const per = ks.map((k) => ({ close: { ok: n - k, errors: k ? { ECONNRESET: k } : {} }, resetClose: { ok: n, errors: {} } }));
    const k = ks.reduce((a, b) => a + b, 0);
    const trials = n * ks.length;
    return stepResult({
      cores: Number(cores), threads: Number(cores), oversubscribed: false, trials, elapsedNs: (trials / rate) * 1e9,
      calls: { close: { ok: trials - k, errors: k ? { ECONNRESET: k } : {} }, resetClose: { ok: trials, errors: {} } },
      setupFailures: {}, setupFailed: 0, strangers: 0, victimFd: { released: k - retained, retained, reused: 0 },
      lanes: [], interrupted: false, probes: [], probeSetupFailures: {},
      latency: { close: { ok: { unit: 'ns', scheme: 'log-linear-16', counts: [[640, trials - k]] }, error: { unit: 'ns', scheme: 'log-linear-16', counts: k ? [[2048, k]] : [] } } },
      kernel: { source: '/proc/net/snmp', scope: 'machine', deltas: { OutRsts: Math.round(trials * rsts) }, rstCounter: { name: 'OutRsts', meaning: 'TCP segments sent with RST' } },
      ...(ks.length > 1 && { repeats: { trialsPerSec: ks.map((_, i) => rate * (1 + (i % 2 ? 0.01 : -0.01))), calls: per } }),
    });
  });
  return {
    schema: 'close-stress/result', schemaVersion: 1, status: 'completed',
    options: { cores: steps.map((s) => s.cores), iterations: n, race: 'same-thread', resetSide: 'server', family: 4, probes: [], skew: { kind: 'none' }, repeat: 3, force: false, quiet: true, logLevel: 'warn' },
    race: { shape: 'same-thread', resetSide: 'server', victim: 'client' },
    environment: { os: { type: 'FreeBSD', release: '14.1', arch: 'x64', version: '#1' }, cpu: { model: 'x', online: 4, allowed: [0, 1, 2, 3], canPin: true }, tool: { name: 'close-stress', version: '0.1.0' }, node: 'v20', hostname: 'h' },
    startedAt, finishedAt: startedAt, steps,
  };
}

const text = (html) => html.replace(/<[^>]+>/g, ' ').replace(/&gt;/g, '>').replace(/&lt;/g, '<').replace(/&#39;/g, "'").replace(/\s+/g, ' ');

test('the comparison HTML shows each core count\'s verdict, the rows with their difference and p, and throughput with intervals', (t) => {
  const dir = tempDir(t);
  const base = saveJson(dir, 'base.json', savedRun({ 1: [0, 0, 0], 4: [10, 12, 11] }));
  const next = saveJson(dir, 'new.json', savedRun({ 1: [0, 0, 0], 4: [0, 0, 0] }, { startedAt: '2026-01-02T00:00:00.000Z' }));
  const html = path.join(dir, 'cmp.html');
  const r = runCli(['compare', base, next, '--html', html]);
  assert.equal(r.code, 0, r.stderr);
  const page = readFileSync(html, 'utf8');
  const words = text(page);
  // The terminal's verdict lines, word for word, in the page.
  for (const line of r.stdout.split('\n').filter((l) => l.startsWith('verdict ('))) {
    const [, cores, verdict] = line.match(/^verdict \((\d+) cores\): (.*)$/);
    assert.ok(words.includes(`${cores} ${cores === '1' ? 'core' : 'cores'}: ${verdict}`), `page lacks: ${line}`);
  }
  assert.match(page, /class="verdict good" data-cores="4" data-judgement="BETTER"/);
  assert.match(words, /close:outside POSIX 33 in 300,000: 1\.1e-4 \[[^\]]+\] 0 in 300,000: below 1\.0e-5 at 95% -1\.1e-4 [\d.e-]+ quasi-binomial, disp [\d.]+, df 4 \*/);
  assert.match(words, /throughput 9,967 \[[\d,]+, [\d,]+\] \(n=3\) → 9,967 \[[\d,]+, [\d,]+\] \(n=3\) trials\/s: \+0\.0%, within noise/);
  assert.equal((page.match(/<g class="ci" data-n="3">/g) ?? []).length, 4, 'a 95% whisker on each of the four throughput bars');
});

test('both HTML pages show the kernel RSTs per resetting close and the released, retained and reused descriptors', (t) => {
  const dir = tempDir(t);
  const base = saveJson(dir, 'base.json', savedRun({ 2: [30] }, { retained: 4 }));
  const broken = saveJson(dir, 'broken.json', savedRun({ 2: [30] }, { rsts: 0, retained: 4, startedAt: '2026-01-02T00:00:00.000Z' }));
  const report = path.join(dir, 'report.html');
  assert.equal(runCli(['report', base, '--html', report]).code, 0);
  const cmp = path.join(dir, 'cmp.html');
  assert.equal(runCli(['compare', base, broken, '--html', cmp]).code, 0);
  for (const file of [report, cmp]) {
    const page = readFileSync(file, 'utf8');
    assert.match(page, /<th scope="col">kernel RSTs per resetting close<\/th><th scope="col">fd released<\/th><th scope="col">fd retained<\/th><th scope="col">fd reused<\/th>/);
    assert.match(page, /<td class="text">1\.00<\/td><td>26<\/td><td>4<\/td><td>0<\/td>/, 'RSTs per close, then released 26, retained 4, reused 0');
    assert.match(page, /OutRsts counter \(\/proc\/net\/snmp, machine-wide/);
  }
  assert.match(readFileSync(cmp, 'utf8'), /0\.00 \(no RST: not evidence\)/);
});

test('compare BASE A B prints one column per run against the base, in the table, JSON and HTML', (t) => {
  const dir = tempDir(t);
  const base = saveJson(dir, 'base.json', savedRun({ 4: [100, 110, 105] }));
  const worse = saveJson(dir, 'worse.json', savedRun({ 4: [300, 310, 290] }, { startedAt: '2026-01-02T00:00:00.000Z' }));
  const better = saveJson(dir, 'better.json', savedRun({ 4: [0, 0, 0] }, { startedAt: '2026-01-03T00:00:00.000Z' }));
  const json = path.join(dir, 'cmp.json');
  const html = path.join(dir, 'cmp.html');
  const r = runCli(['compare', base, worse, better, '--json', json, '--html', html]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /run 1: .*worse\.json/);
  assert.match(r.stdout, /run 2: .*better\.json/);
  const header = r.stdout.split('\n').find((l) => l.startsWith('call:outcome'));
  assert.match(header, /^call:outcome\s+base\s+run 1\s+run 2$/);
  const row = r.stdout.split('\n').find((l) => l.startsWith('close:outside POSIX'));
  assert.match(row, /315 in 300,000: .*900 in 300,000: .*\(\+2\.0e-3, p [\d.e-]+\) \*\s+0 in 300,000: below .*\(-1\.[01]e-3, p [\d.e-]+\) \*$/);
  assert.match(r.stdout, /verdict \(4 cores, run 1\): WORSE/);
  assert.match(r.stdout, /verdict \(4 cores, run 2\): BETTER/);

  const cmp = JSON.parse(readFileSync(json, 'utf8'));
  assertValid('compare', cmp);
  assert.equal(cmp.base.label, base);
  assert.deepEqual(cmp.comparisons.map((c) => [c.new.label, c.cores[0].judgement]), [[worse, 'WORSE'], [better, 'BETTER']]);

  const page = readFileSync(html, 'utf8');
  assert.equal((page.match(/<section class="comparison"/g) ?? []).length, 2);
  assert.match(page, /<h3>1: worse\.json against base<\/h3>/);
  assert.match(page, /data-judgement="WORSE"/);
  assert.match(page, /data-judgement="BETTER"/);
  assert.equal((page.match(/<g class="bar"/g) ?? []).length, 3, 'a throughput bar per run');

  const gate = runCli(['compare', base, better, worse, '--fail-on-worse']);
  assert.equal(gate.code, 1);
  assert.match(gate.stderr, /WORSE at 4 cores of .*worse\.json/);
  assert.equal(runCli(['compare', base, better, better, '--fail-on-worse']).code, 0);
});

test('among several runs, one that measured a different race is refused naming its file', (t) => {
  const dir = tempDir(t);
  const base = saveJson(dir, 'base.json', savedRun({ 4: [1, 2, 3] }));
  const other = savedRun({ 4: [1, 2, 3] }, { startedAt: '2026-01-02T00:00:00.000Z' });
  other.options.race = 'cross-thread';
  const r = runCli(['compare', base, saveJson(dir, 'ok.json', savedRun({ 4: [1, 2, 3] })), saveJson(dir, 'cross.json', other)]);
  assert.equal(r.code, 2);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /cross\.json: compare: the runs differ in --race/);
});
