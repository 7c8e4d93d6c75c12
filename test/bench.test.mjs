import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { buildReference, runReference } from '../scripts/bench.mjs';

function haveCompiler() {
  try {
    execFileSync(process.env.CC || 'cc', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

test('the bench reference loop builds and reports every trial it was asked for, in both race shapes', { skip: !haveCompiler() && 'no C compiler (cc) to build the reference' }, async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'close-stress-ref-test-'));
  try {
    const bin = buildReference(dir);
    for (const race of ['same-thread', 'cross-thread']) {
      const r = await runReference(bin, 1, 200, race);
      assert.equal(r.trials, 200, race);
      assert.ok(r.trialsPerSec > 0, race);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the bench\'s lane-cost table gives RSS and start-up per lane and their ratio to the smallest lane count\'s', async () => {
  const { laneCostLines } = await import('../scripts/bench.mjs');
  const MiB = 1024 * 1024;
  const text = laneCostLines([
    { lanes: 16, peakRssBytes: 160 * MiB, wallMs: 1000, poolStartMs: 320, firstTrialMs: 700, trialsPerSec: 16000 },
    { lanes: 64, peakRssBytes: 320 * MiB, wallMs: 2000, poolStartMs: 2560, firstTrialMs: 3000, trialsPerSec: 32000 },
  ], 2e4).join('\n');
  assert.match(text, /^ +16 +160 +10\.00 +1\.00 +1000 +320 +20\.00 +1\.00 +700 +1,000$/m);
  assert.match(text, /^ +64 +320 +5\.00 +0\.50 +2000 +2560 +40\.00 +2\.00 +3000 +500$/m, '64 lanes: half the RSS per lane, twice the start-up per lane');
  assert.doesNotMatch(text, /against/, 'no baseline build, no comparison');
});

test('with a baseline build the lane-cost section sets each figure beside the baseline\'s, as this build / baseline', async () => {
  const { laneCostLines } = await import('../scripts/bench.mjs');
  const MiB = 1024 * 1024;
  const before = { lanes: 256, peakRssBytes: 2048 * MiB, wallMs: 20000, poolStartMs: 9000, firstTrialMs: 10000, trialsPerSec: 51200 };
  const text = laneCostLines([{ lanes: 256, peakRssBytes: 128 * MiB, wallMs: 1000, poolStartMs: 200, firstTrialMs: 500, trialsPerSec: 51200, before }], 2e4, 'old/bin/close-stress.js').join('\n');
  assert.match(text, /lane cost against old\/bin\/close-stress\.js: this build \/ baseline/);
  assert.match(text, /^ +256 +2048 -> 128 +0\.06 +10000 -> 500 +0\.05 +20000 -> 1000 +0\.05 +200 -> 200 +1\.00$/m);
});

test('the bench\'s veth section gives loopback and veth trials/s and their ratio per point', async () => {
  const { vethLines } = await import('../scripts/bench.mjs');
  assert.deepEqual(vethLines([], 1e5), [], 'nothing without --veth');
  const text = vethLines([{ race: 'same-thread', cores: 2, loopbackTrialsPerSec: 40000, vethTrialsPerSec: 30000, ratio: { min: 0.7, median: 0.75, max: 0.8 } }], 1e5).join('\n');
  assert.match(text, /--path veth \/ --path loopback trials\/s, 100,000 trials per run/);
  assert.match(text, /^same-thread +2 +40,000 +30,000 +0\.700 \/ 0\.750 \/ 0\.800$/m);
});

test('the bench\'s two-host section gives loopback and remote trials/s and their ratio per point', async () => {
  const { remoteLines } = await import('../scripts/bench.mjs');
  assert.deepEqual(remoteLines([], 1e5), [], 'nothing without --remote');
  const text = remoteLines([{ cores: 1, loopbackTrialsPerSec: 20000, remoteTrialsPerSec: 12000, ratio: { min: 0.5, median: 0.6, max: 0.7 } }], 5000).join('\n');
  assert.match(text, /serve and --peer in two namespaces joined by veth \/ loopback cross-thread trials\/s, 5,000 trials per run/);
  assert.match(text, /^ +1 +20,000 +12,000 +0\.500 \/ 0\.600 \/ 0\.700$/m);
});
