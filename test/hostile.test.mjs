// Stray traffic and dying workers: strangers are counted and kept out of the
// victim tallies; a dead worker ends the run naming the step and the CPU, and
// the steps already finished are printed and saved.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { runCli, startCli, NO_STACK } from './helpers/spawn.mjs';

const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'close-stress-hostile-'));
const HAS_SS = spawnSync('ss', ['-V']).status === 0;

/** Listening TCP sockets of one process, as `ss -ltnp` shows them. */
function listeners(pid) {
  const out = spawnSync('ss', ['-Hltnp'], { encoding: 'utf8' }).stdout;
  return out.split('\n').filter((l) => l.includes(`pid=${pid},`)).map((l) => l.trim().split(/\s+/)[3]);
}

test('connections from another process to a lane listener are dropped and counted, and leave the victim tallies alone; listeners are loopback only', { skip: !HAS_SS && 'needs ss (iproute2)' }, async () => {
  const dir = tmp();
  try {
    const json = path.join(dir, 'r.json');
    const { child, done } = startCli(['--cores', '1', '--no-sweep', '--iterations', '1e9', '-q', '--log-level', 'silent', '--json', json]);
    let addrs = [];
    for (let i = 0; i < 100 && addrs.length === 0; i++) {
      await sleep(50);
      addrs = listeners(child.pid);
    }
    assert.equal(addrs.length, 1, 'one lane, one listener');
    for (const a of addrs) assert.match(a, /^127\.0\.0\.1:\d+$/, `listener not on loopback: ${a}`);
    const port = Number(addrs[0].split(':').pop());
    const STRANGERS = 10;
    const sockets = await Promise.all(
      Array.from({ length: STRANGERS }, () => new Promise((resolve, reject) => {
        const s = net.connect(port, '127.0.0.1', () => resolve(s));
        s.on('error', reject);
      })),
    );
    await sleep(300);
    child.kill('SIGINT');
    const r = await done;
    for (const s of sockets) s.destroy();
    assert.equal(r.status, 130, r.stderr);
    const result = JSON.parse(readFileSync(json, 'utf8'));
    assert.equal(result.status, 'interrupted');
    const step = result.steps[0];
    assert.ok(step.strangers >= STRANGERS, `strangers ${step.strangers}`);
    const closes = step.calls.close.ok + Object.values(step.calls.close.errors).reduce((a, b) => a + b, 0);
    assert.equal(closes + step.setupFailed, step.trials, 'every trial is a victim close or a setup failure');
    assert.equal(step.setupFailed, 0, JSON.stringify(step.setupFailures));
    assert.match(r.stdout, /stranger connections reached a listener and were dropped/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

for (const mode of ['', ':exit']) {
  test(`a worker that ${mode ? 'exits' : 'throws'} mid-run ends it naming the step and the lanes it ran; finished steps are printed and saved`, () => {
    const dir = tmp();
    try {
      const json = path.join(dir, 'r.json');
      const r = runCli(['--cores', '2', '--iterations', '300', '-q', '--log-level', 'silent', '--json', json], {
        env: { CLOSE_STRESS_TEST_FAIL_LANE: `2:1${mode}` },
        timeout: 30_000,
      });
      assert.equal(r.status, 1);
      assert.doesNotMatch(r.stderr, NO_STACK);
      const lines = r.stderr.split('\n').filter(Boolean);
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0], /2-core step: the worker for lanes 0-1 died/);
      assert.match(r.stdout, /^\s+1\s+1\s+300\s/m, 'the finished 1-core step is in the table');
      const result = JSON.parse(readFileSync(json, 'utf8'));
      assert.equal(result.status, 'failed');
      assert.deepEqual(result.steps.map((s) => s.cores), [1]);
      assert.match(result.error, /lanes 0-1/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
