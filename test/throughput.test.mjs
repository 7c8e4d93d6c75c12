// One throughput per step, printed and saved the same way everywhere.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { stepResult, withScaling } from '../dist/result/result.js';
import { renderHtml } from '../dist/html/html.js';
import { runCli, saveJson, tempDir } from './helpers/cli.mjs';
import { assertValid } from './helpers/schema.mjs';

/** A step whose repeats ran at `rates` trials/s while all its trials over all its time give 100,000/s. */
function step(cores, rates) {
  const n = 1_000_000;
  return stepResult({
    cores, threads: cores, oversubscribed: false, trials: n, elapsedNs: 10e9,
    calls: { close: { ok: n, errors: {} }, resetClose: { ok: n, errors: {} } },
    setupFailures: {}, setupFailed: 0, strangers: 0, victimFd: { released: 0, retained: 0, reused: 0 },
    lanes: [], interrupted: false, probes: [], probeSetupFailures: {},
    latency: { close: { ok: { unit: 'ns', scheme: 'log-linear-16', counts: [[640, n]] }, error: { unit: 'ns', scheme: 'log-linear-16', counts: [] } } },
    repeats: { trialsPerSec: rates },
  });
}

function run(steps) {
  return {
    schema: 'close-stress/result', schemaVersion: 1, status: 'completed',
    options: { cores: steps.map((s) => s.cores), iterations: 1_000_000, race: 'same-thread', resetSide: 'server', family: 4, probes: [], skew: { kind: 'none' }, repeat: 3, force: false, quiet: true, logLevel: 'warn' },
    race: { shape: 'same-thread', resetSide: 'server', victim: 'client' },
    environment: { os: { type: 'Linux', release: '6.1' }, cpu: { model: 'x', online: 2, allowed: [0, 1], canPin: true }, tool: { name: 'close-stress', version: '0.1.0' }, node: 'v20', hostname: 'h' },
    startedAt: '2026-01-01T00:00:00.000Z', finishedAt: '2026-01-01T00:01:00.000Z',
    steps: withScaling(steps, 2),
  };
}

test('with --repeat the table, JSON, HTML, compare and efficiency all use the mean of the repeats as the throughput', (t) => {
  const dir = tempDir(t);
  // Means 200,000 and 400,000; pooled both 100,000 (a different figure: it must not show up as the throughput).
  const result = run([step(1, [190_000, 200_000, 210_000]), step(2, [390_000, 400_000, 410_000])]);
  assertValid('result', result);
  const [one, two] = result.steps;
  assert.equal(one.trialsPerSec, 200_000);
  assert.equal(one.pooledTrialsPerSec, 100_000, 'the other figure keeps a name of its own');
  assert.equal(one.throughput.mean, one.trialsPerSec);
  assert.equal(two.scaling.efficiency, 1, 'efficiency from the same figure: 400k on 2 cores against 200k on 1');

  const file = saveJson(dir, 'r.json', result);
  const report = runCli(['report', file]);
  assert.equal(report.code, 0, report.stderr);
  const row = report.stdout.split('\n').find((l) => /^\s+2\s+2\s/.test(l));
  assert.match(row, /400,000 ±24,841\s+100%/);
  assert.doesNotMatch(report.stdout, /100,000/);

  const html = renderHtml([result]);
  // Bar labels are centred; the axis's ticks (which may read 100k/s) are not.
  assert.match(html, /text-anchor="middle">400k\/s</);
  assert.doesNotMatch(html, /text-anchor="middle">100k\/s</);
  assert.match(html, /<td>400,000/);
  assert.doesNotMatch(html, /100,000/);

  const out = path.join(dir, 'cmp.json');
  const cmp = runCli(['compare', file, saveJson(dir, 'b.json', result), '--json', out]);
  assert.equal(cmp.code, 0, cmp.stderr);
  const c = JSON.parse(readFileSync(out, 'utf8')).cores.find((k) => k.cores === 2);
  assert.equal(c.throughput.base, 400_000);
});

test('a repeat run stopped in its first repeat prints its throughput without an interval', (t) => {
  const dir = tempDir(t);
  const result = run([step(1, [123_456])]);
  assertValid('result', result);
  assert.equal(result.steps[0].throughput.low, undefined);
  const file = saveJson(dir, 'r.json', result);
  const report = runCli(['report', file]);
  assert.equal(report.code, 0, report.stderr);
  const row = report.stdout.split('\n').find((l) => /^\s+1\s+1\s/.test(l));
  assert.match(row, /123,456\s+100%/);
  assert.doesNotMatch(row, /±|\[/);
  assert.match(report.stdout, /one repeat ran, so no interval can be computed/);
  const cmp = runCli(['compare', file, saveJson(dir, 'b.json', result)]);
  assert.match(cmp.stdout, /throughput: 123456 -> 123456 trials\/s/);
});

test('two repeats give an interval clamped at 0 and say that n is small', (t) => {
  const dir = tempDir(t);
  const result = run([step(1, [5_000, 53_450])]);
  const [s] = result.steps;
  assert.equal(s.throughput.low, 0, 'a throughput interval never goes below 0');
  const file = saveJson(dir, 'r.json', result);
  const cmp = runCli(['compare', file, saveJson(dir, 'b.json', result)]);
  assert.equal(cmp.code, 0, cmp.stderr);
  assert.match(cmp.stdout, /29225 \[0, \d+\] \(n=2, few repeats/);
  assert.doesNotMatch(cmp.stdout, /\[-/);
  const report = runCli(['report', file]);
  assert.match(report.stdout, /29,225 \[0, [\d,]+\]/);
});
