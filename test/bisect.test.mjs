// `git bisect run close-stress ... --fail-on ECONNRESET`: the exit status is
// the verdict git reads: 0 good, 1 bad, 125 this commit cannot be tested.
// FreeBSD's behaviour comes from the LD_PRELOAD close() shim on Linux.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { buildShim, runCli, tempDir } from './helpers/cli.mjs';
import { assertValid } from './helpers/schema.mjs';

const small = ['--cores', '1', '--iterations', '2000', '-q'];

test('exit 0 when close() never returns the listed errno (Linux as it is)', () => {
  const r = runCli([...small, '--fail-on', 'ECONNRESET']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /bisect: good/);
});

test('exit 1 when close() returns ECONNRESET (the kern/159179 behaviour, from the shim)', (t) => {
  const json = path.join(tempDir(t), 'r.json');
  const r = runCli([...small, '--fail-on', 'close:ECONNRESET', '--json', json], { env: { LD_PRELOAD: buildShim() } });
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /bisect: bad: 1 cores: close:ECONNRESET: [0-9]+ in [0-9]+ close\(\) calls/);
  assertValid('result', r.result);
  assert.equal(r.result.status, 'completed', 'the run itself succeeded; only the verdict is bad');
});

test('--fail-above: exit 0 while the outside-POSIX rate stays at or below the threshold, 1 above it', () => {
  const env = { LD_PRELOAD: buildShim() };
  const r = runCli([...small, '--fail-above', '0.5'], { env });
  assert.equal(r.code, 1, `the shim fails every reset close: ${r.stderr}`);
  const clean = runCli([...small, '--fail-above', '0']);
  assert.equal(clean.code, 0, `Linux's close() never leaves POSIX: rate 0 is not above 0: ${clean.stderr}`);
  const listedOther = runCli([...small, '--fail-on', 'shutdown:ECONNRESET', '--fail-above', '0'], { env });
  assert.equal(listedOther.code, 128, `a rule about a syscall that never runs would pass every commit: ${listedOther.stderr}`);
  assert.match(listedOther.stderr, /^close-stress: error: --fail-on shutdown:ECONNRESET needs --probe shutdown/);
});

test('--fail-on refuses an errno this OS does not have, instead of passing every commit', () => {
  const r = runCli([...small, '--fail-on', 'ECONNREST']);
  assert.equal(r.code, 128, 'a usage error under --fail-on aborts the bisection');
  assert.match(r.stderr, /^close-stress: error: --fail-on: ECONNREST is not an errno name on this OS \(bisect aborted: this says nothing about the commit, exit 128\)\n$/);
});

test('exit 125 when the run could not measure (every connect fails)', () => {
  const r = runCli([...small, '--fail-on', 'ECONNRESET'], { env: { LD_PRELOAD: buildShim(), CLOSE_SHIM_FAIL_CONNECT_EVERY: '1' } });
  assert.equal(r.code, 125, r.stderr);
  assert.match(r.stderr, /bisect: could not measure/);
});

test('a bad --fail-on is a usage error that aborts the bisection (exit 128), not a verdict', () => {
  assert.equal(runCli([...small, '--fail-on', 'nosuchcall:ECONNRESET']).code, 128);
  assert.equal(runCli([...small, '--fail-on', 'connreset']).code, 128);
  assert.equal(runCli([...small, '--fail-above', '2']).code, 128);
});
