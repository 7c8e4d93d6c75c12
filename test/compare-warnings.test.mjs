// What moves the figures on a shared machine is recorded, and compare warns about it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { stepResult } from '../dist/result/result.js';
import { buildShim, runCli, saveJson, tempDir } from './helpers/cli.mjs';
import { assertValid } from './helpers/schema.mjs';

/** A saved run of one 2-core step: `k` ECONNRESET in 1e6, the given load, optional repeats. */
function savedRun({ k = 0, load, startedAt = '2026-01-01T00:00:00.000Z', rates }) {
  const n = 1_000_000;
  const tally = {
    cores: 2, threads: 2, oversubscribed: false, trials: n, elapsedNs: 10e9,
    calls: { close: { ok: n - k, errors: k ? { ECONNRESET: k } : {} }, resetClose: { ok: n, errors: {} } },
    setupFailures: {}, setupFailed: 0, strangers: 0, victimFd: { released: k, retained: 0, reused: 0 },
    lanes: [], interrupted: false, probes: [], probeSetupFailures: {},
    latency: { close: { ok: { unit: 'ns', scheme: 'log-linear-16', counts: [[640, n - k]] }, error: { unit: 'ns', scheme: 'log-linear-16', counts: [] } } },
    ...(load !== undefined && { load: { before: [load, load, load], after: [load, load, load] } }),
    ...(rates && { repeats: { trialsPerSec: rates } }),
  };
  return {
    schema: 'close-stress/result', schemaVersion: 1, status: 'completed',
    options: { cores: [2], iterations: n, race: 'same-thread', resetSide: 'server', family: 4, probes: [], skew: { kind: 'none' }, repeat: 1, force: false, quiet: true, logLevel: 'warn' },
    race: { shape: 'same-thread', resetSide: 'server', victim: 'client' },
    environment: { os: { type: 'Linux', release: '6.1' }, cpu: { model: 'x', online: 4, allowed: [0, 1, 2, 3], canPin: true }, tool: { name: 'close-stress', version: '0.1.0' }, hostname: 'h', node: 'v20' },
    startedAt, finishedAt: startedAt, steps: [stepResult(tally)],
  };
}

test('a run records the load average before and after each step, and whether LD_PRELOAD was set', (t) => {
  const dir = tempDir(t);
  const plain = path.join(dir, 'plain.json');
  const r = runCli(['--cores', '1', '--iterations', '500', '--json', plain, '-q'], { env: { LD_PRELOAD: '' } });
  assert.equal(r.code, 0, r.stderr);
  assertValid('result', r.result);
  const [s] = r.result.steps;
  assert.equal(s.load.before.length, 3);
  assert.equal(s.load.after.length, 3);
  assert.ok(s.load.before.every((x) => x >= 0));
  assert.deepEqual(r.result.environment.preload, {}, 'an empty LD_PRELOAD is not a preload');
  assert.match(r.stdout, /machine load \(1-minute average, before -> after each step\): 1 cores \d+\.\d\d -> \d+\.\d\d/);
  assert.doesNotMatch(r.stdout, /was set/);

  const shim = buildShim();
  const shimmed = path.join(dir, 'shim.json');
  const s2 = runCli(['--cores', '1', '--iterations', '500', '--json', shimmed, '-q'], { env: { LD_PRELOAD: shim } });
  assert.equal(s2.code, 0, s2.stderr);
  assert.deepEqual(s2.result.environment.preload, { LD_PRELOAD: shim });
  assert.match(s2.stdout, new RegExp(`note: LD_PRELOAD=${shim.replaceAll('.', '\\.')} was set`));
  const report = runCli(['report', shimmed]);
  assert.match(report.stdout, /note: LD_PRELOAD=.* was set/);
});

test('compare warns when a file is compared with itself, or with a copy of the same run', (t) => {
  const dir = tempDir(t);
  const a = saveJson(dir, 'a.json', savedRun({ load: 0.1 }));
  const self = runCli(['compare', a, a]);
  assert.equal(self.code, 0, self.stderr);
  assert.match(self.stdout, /warning: .*a\.json and .*a\.json are the same file/);
  const copy = path.join(dir, 'copy.json');
  copyFileSync(a, copy);
  const twin = runCli(['compare', a, copy]);
  assert.match(twin.stdout, /warning: .* are the same run \(same host and start time/);
  const other = runCli(['compare', a, saveJson(dir, 'b.json', savedRun({ load: 0.1, startedAt: '2026-01-02T00:00:00.000Z' }))]);
  assert.doesNotMatch(other.stdout, /same (file|run)/);
});

test('compare warns when the two runs saw very different machine loads', (t) => {
  const dir = tempDir(t);
  const out = path.join(dir, 'cmp.json');
  const quiet = saveJson(dir, 'quiet.json', savedRun({ load: 0.2 }));
  const busy = saveJson(dir, 'busy.json', savedRun({ load: 3.0, startedAt: '2026-01-02T00:00:00.000Z' }));
  const r = runCli(['compare', quiet, busy, '--json', out]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /warning: the machine's load differed: 1-minute load average per allowed CPU 0\.05 during .*quiet\.json, 0\.75 during .*busy\.json/);
  const cmp = JSON.parse(readFileSync(out, 'utf8'));
  assertValid('compare', cmp);
  assert.equal(cmp.warnings.filter((w) => /load differed/.test(w)).length, 1);
  const alike = runCli(['compare', quiet, saveJson(dir, 'alike.json', savedRun({ load: 0.4, startedAt: '2026-01-03T00:00:00.000Z' }))]);
  assert.doesNotMatch(alike.stdout, /load differed/, 'a small difference (0.05 per CPU) is not worth a warning');
  // A shared host busy during both runs: 15 and 17.5 per CPU differ by 2.5 but not in kind.
  const busyA = saveJson(dir, 'busyA.json', savedRun({ load: 60, startedAt: '2026-01-04T00:00:00.000Z' }));
  const busyB = saveJson(dir, 'busyB.json', savedRun({ load: 70, startedAt: '2026-01-05T00:00:00.000Z' }));
  assert.doesNotMatch(runCli(['compare', busyA, busyB]).stdout, /load differed/);
});

test('compare warns when a throughput change rests on no interval, not when both sides have repeats', (t) => {
  const dir = tempDir(t);
  const a = savedRun({});
  const b = savedRun({ startedAt: '2026-01-02T00:00:00.000Z' });
  b.steps[0].trialsPerSec = 90_000;
  const r = runCli(['compare', saveJson(dir, 'a.json', a), saveJson(dir, 'b.json', b)]);
  assert.match(r.stdout, /warning: throughput change at 2 cores \(-10\.0%\) rests on no interval/);
  const ra = savedRun({ rates: [100_000, 101_000, 99_000] });
  const rb = savedRun({ rates: [90_000, 91_000, 89_000], startedAt: '2026-01-02T00:00:00.000Z' });
  const r2 = runCli(['compare', saveJson(dir, 'ra.json', ra), saveJson(dir, 'rb.json', rb)]);
  assert.doesNotMatch(r2.stdout, /rests on no interval/);
});

test('compare --fail-on-worse exits 1 when a verdict is WORSE and 0 otherwise, for CI gates', (t) => {
  const dir = tempDir(t);
  const clean = saveJson(dir, 'clean.json', savedRun({ k: 0 }));
  const broken = saveJson(dir, 'broken.json', savedRun({ k: 500, startedAt: '2026-01-02T00:00:00.000Z' }));
  const worse = runCli(['compare', clean, broken, '--fail-on-worse']);
  assert.equal(worse.code, 1);
  assert.match(worse.stdout, /verdict \(2 cores\): WORSE/);
  assert.match(worse.stderr, /WORSE at 2 cores \(exit 1\)/);
  assert.equal(runCli(['compare', clean, broken]).code, 0, 'without the option a WORSE verdict still exits 0');
  assert.equal(runCli(['compare', broken, clean, '--fail-on-worse']).code, 0, 'BETTER passes the gate');
  assert.equal(runCli(['compare', clean, clean, '--fail-on-worse']).code, 0, 'no change passes the gate');
  assert.equal(runCli(['compare', clean, path.join(dir, 'missing.json'), '--fail-on-worse']).code, 2, 'a usage error is not a verdict');
});
