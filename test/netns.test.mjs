// --netns: the run in a private network namespace with RPS on its lo, the
// Linux stand-in for FreeBSD's netisr; the host's lo must stay as it was.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { runCli, tempDir } from './helpers/cli.mjs';
import { assertValid } from './helpers/schema.mjs';
import { setupScript } from '../dist/env/netns.js';
import { cpuMask as rpsMask } from '../dist/env/netpath.js';

const isRoot = process.getuid?.() === 0;
const CAN = process.platform === 'linux' && isRoot && spawnSync('unshare', ['-n', '-m', 'true']).status === 0;
const HOST_RPS = '/sys/class/net/lo/queues/rx-0/rps_cpus';

test('RPS masks are hex CPU sets in 32-bit groups, and the setup touches only the namespace\'s own sysfs', () => {
  assert.equal(rpsMask([0, 1]), '3');
  assert.equal(rpsMask([1, 3]), 'a');
  assert.equal(rpsMask([0, 32]), '1,00000001');
  const script = setupScript('3');
  assert.match(script, /^set -e\nmount -t sysfs sysfs \/sys\n/, 'a fresh sysfs in the private mount namespace shows its own lo');
  assert.match(script, /echo 3 > \/sys\/class\/net\/lo\/queues\/rx-0\/rps_cpus/);
});

test('--netns runs in a private namespace with RPS on its lo, says so, and leaves the host\'s lo alone', { skip: !CAN && 'needs Linux, root and unshare -n -m' }, (t) => {
  const before = readFileSync(HOST_RPS, 'utf8');
  const json = path.join(tempDir(t), 'r.json');
  const r = runCli(['--cores', '2', '--iterations', '2000', '--netns', '--json', json, '--quiet']);
  assert.equal(r.code, 0, r.stderr);
  assertValid('result', r.result);
  assert.equal(r.result.options.netns, true);
  assert.match(r.stdout, /network: a private namespace \(--netns\) with RPS on its lo/);
  for (const s of r.result.steps) {
    // The namespace's own counters: no other traffic, so every resetting close's RST is there.
    if (s.kernel?.deltas?.OutRsts !== undefined) assert.ok(s.kernel.deltas.OutRsts >= s.calls.resetClose.ok, JSON.stringify(s.kernel.deltas.OutRsts));
  }
  assert.equal(readFileSync(HOST_RPS, 'utf8'), before, 'the host\'s lo RPS setting is unchanged');
});
