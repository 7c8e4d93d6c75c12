// Hits per second: how fast the tool finds close() errors outside POSIX, and
// how long until the first, with injected hits (the close shim) and without.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { buildShim, runCli, tempDir } from './helpers/cli.mjs';
import { assertValid } from './helpers/schema.mjs';
import { poissonRate } from '../dist/common/stats.js';

const shim = buildShim();

test('Garwood intervals for a Poisson rate match the published exact limits', () => {
  // Garwood (1936), as tabulated e.g. by Ulm (1990), 95% two-sided, per unit time.
  const cases = [[1, 0.0253, 5.5716], [5, 1.6235, 11.6683], [10, 4.7954, 18.3904]];
  for (const [k, low, high] of cases) {
    const r = poissonRate(k, 1);
    assert.ok(Math.abs(r.low - low) < 1e-3 && Math.abs(r.high - high) < 1e-3, `${k}: ${r.low} ${r.high}`);
  }
  const r = poissonRate(20, 10);
  assert.equal(r.rate, 2);
  // None seen in 30 s: below -ln(0.05)/30, about 3/T.
  assert.ok(Math.abs(poissonRate(0, 30).high - 2.9957 / 30) < 1e-4);
});

test('hits/s counts every injected close() error per second of step time, with the time to the first, in table, JSON and journal', (t) => {
  const dir = tempDir(t);
  const json = path.join(dir, 'r.json');
  const countFile = path.join(dir, 'injected');
  const r = runCli(['--cores', '2', '--iterations', '4000', '--json', json, '--quiet'], {
    env: { LD_PRELOAD: shim, CLOSE_SHIM_INJECT_EVERY: '40', CLOSE_SHIM_COUNT_FILE: countFile },
  });
  assert.equal(r.code, 0, r.stderr);
  assertValid('result', r.result);
  const injected = readFileSync(countFile, 'utf8').trim().split('\n').reduce((a, n) => a + Number(n), 0);
  let counted = 0;
  for (const s of r.result.steps) {
    const h = s.hits;
    assert.equal(h.count, s.posix.close.outside);
    counted += h.count;
    assert.ok(h.count > 0, `${s.cores} cores: no hit`);
    assert.equal(h.seconds, s.elapsedNs / 1e9);
    assert.ok(Math.abs(h.perSec - h.count / h.seconds) < 1e-9 * h.perSec);
    assert.ok(h.ci95.low < h.perSec && h.perSec < h.ci95.high);
    assert.ok(h.firstAfterNs > 0 && h.firstAfterNs <= s.elapsedNs, `first after ${h.firstAfterNs} of ${s.elapsedNs}`);
    assert.equal(h.firstAfterNs, s.firstCloseErrorNs.ECONNRESET);
  }
  assert.equal(counted, injected);
  assert.match(r.stdout, /hits\/s \[95% CI\]\s+first hit/);
  assert.match(r.stdout, /\n\s+1\s.*\s[0-9.,]+\/s \[[0-9.,]+, [0-9.,]+\]\s+[0-9.]+(ns|us|ms)\s/);
  // The journal carries what hits are made of: a report from it reads the same.
  assert.ok(existsSync(`${json}.jsonl`));
  const fromJournal = runCli(['report', `${json}.jsonl`]);
  assert.equal(fromJournal.code, 0, fromJournal.stderr);
  const row = (text) => text.split('\n').find((l) => /^\s+2\s/.test(l));
  assert.equal(row(fromJournal.stdout), row(r.stdout));
});

test('where no hit is seen, hits/s is the bound: "0 in T (<3/T)"', (t) => {
  const json = path.join(tempDir(t), 'r.json');
  const r = runCli(['--cores', '1', '--iterations', '2000', '--json', json, '--quiet']);
  assert.equal(r.code, 0, r.stderr);
  const [s] = r.result.steps;
  if (s.posix.close.outside > 0) return; // a kernel with the race: nothing to bound
  assert.equal(s.hits.count, 0);
  assert.equal(s.hits.firstAfterNs, undefined);
  assert.ok(Math.abs(s.hits.ci95.high - -Math.log(0.05) / s.hits.seconds) < 1e-9 * s.hits.ci95.high);
  assert.match(r.stdout, /\s0 in [0-9.]+m?s \(<[0-9.,]+\/s\)\s+-\s/);
});

test('compare shows hits per second of both runs with their intervals, in text and JSON', (t) => {
  const dir = tempDir(t);
  const base = path.join(dir, 'base.json');
  const next = path.join(dir, 'new.json');
  const out = path.join(dir, 'cmp.json');
  assert.equal(runCli(['--cores', '1', '--iterations', '2000', '--json', base, '--quiet'], { env: { LD_PRELOAD: shim, CLOSE_SHIM_INJECT_EVERY: '20' } }).code, 0);
  assert.equal(runCli(['--cores', '1', '--iterations', '2000', '--json', next, '--quiet']).code, 0);
  const r = runCli(['compare', base, next, '--json', out]);
  assert.equal(r.code, 0, r.stderr);
  const cmp = JSON.parse(readFileSync(out, 'utf8'));
  assertValid('compare', cmp);
  const [k] = cmp.cores;
  assert.ok(k.hits.base.count > 0);
  assert.ok(k.hits.base.ci95.low > 0);
  assert.match(r.stdout, /close\(\) outside POSIX per second: [0-9.,]+\/s \[[0-9.,]+, [0-9.,]+\] -> 0 in [0-9.]+m?s \(<[0-9.,]+\/s\); first hit [0-9.]+(ns|us|ms) -> -/);
});
