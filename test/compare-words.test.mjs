// compare's throughput notes say what an interval needs when only one side repeated.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { runCli, tempDir } from './helpers/cli.mjs';

test('compare of a single run against a repeated one says an interval needs repeats on both sides, not "no --repeat"', (t) => {
  const dir = tempDir(t);
  const once = path.join(dir, 'once.json');
  const twice = path.join(dir, 'twice.json');
  assert.equal(runCli(['--cores', '1', '--iterations', '300', '-q', '--json', once]).code, 0);
  assert.equal(runCli(['--cores', '1', '--iterations', '300', '--repeat', '2', '-q', '--json', twice]).code, 0);
  const r = runCli(['compare', once, twice]);
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stdout, /no --repeat|one run each side/);
  assert.match(r.stdout, /\(no interval: --repeat on both sides gives one\)/);
  assert.match(r.stdout, /rests on no interval: an interval needs repeats on both sides/);
});
