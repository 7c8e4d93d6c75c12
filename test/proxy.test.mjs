// The Linux proxy of FreeBSD's timing (--netns: RPS on a private lo) with the
// test-only double of FreeBSD's close() decision (helpers/freebsd-close-double.c).
// EMULATION, not FreeBSD: the figures say what the tool does with such a race.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { root, runCli, tempDir } from './helpers/cli.mjs';

const CAN = process.platform === 'linux' && process.getuid?.() === 0 && spawnSync('unshare', ['-n', '-m', 'true']).status === 0;
const skip = !CAN && 'needs Linux, root and unshare -n -m (--netns)';

function buildDouble() {
  const src = path.join(root, 'test', 'helpers', 'freebsd-close-double.c');
  const hash = createHash('sha256').update(readFileSync(src)).digest('hex').slice(0, 12);
  const out = path.join(tmpdir(), `close-stress-double-${hash}.so`);
  if (!existsSync(out)) {
    execFileSync('cc', ['-shared', '-fPIC', '-O2', '-Wall', '-o', `${out}.${process.pid}`, src, '-ldl']);
    execFileSync('mv', [`${out}.${process.pid}`, out]);
  }
  return out;
}

function underDouble(t, args) {
  const dir = tempDir(t);
  const json = path.join(dir, 'r.json');
  const countFile = path.join(dir, 'count');
  const r = runCli([...args, '--json', json, '--quiet'], { env: { LD_PRELOAD: buildDouble(), CLOSE_DOUBLE_COUNT_FILE: countFile } });
  assert.equal(r.code, 0, r.stderr);
  const emulated = existsSync(countFile) ? readFileSync(countFile, 'utf8').trim().split('\n').reduce((a, n) => a + Number(n), 0) : 0;
  return { ...r, emulated };
}

const hitsPerSec = (s) => s.hits.perSec;

test('under --netns the emulated FreeBSD close() fails where the RST lands inside its window, and the tally equals what it returned', { skip }, (t) => {
  const { result, emulated } = underDouble(t, ['--cores', '1', '--iterations', '3000', '--netns']);
  const [s] = result.steps;
  assert.equal(s.calls.close.errors.ECONNRESET ?? 0, emulated);
  assert.equal(s.hits.count, emulated);
  // With RPS the RST reaches the victim while it is inside close(): the window is real (about 40% here).
  assert.ok(emulated > 0, 'no emulated hit under --netns');
});

test('two lanes per core raise hits per second under the proxy', { skip }, (t) => {
  const one = underDouble(t, ['--cores', '1', '--iterations', '3000', '--netns']).result.steps[0];
  const two = underDouble(t, ['--cores', '1', '--iterations', '3000', '--netns', '--lanes-per-core', '2']).result.steps[0];
  assert.equal(two.lanesPerCore, 2);
  // Measured 2.5x on the 2-CPU test machine: a victim preempted inside its close by its sibling widens the window.
  assert.ok(hitsPerSec(two) > hitsPerSec(one), `K=1 ${hitsPerSec(one)}/s, K=2 ${hitsPerSec(two)}/s`);
});
