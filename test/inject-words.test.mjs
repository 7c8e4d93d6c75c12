// What inject says of its mode and its own flags reads as English.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeMode } from '../dist/inject/inject.js';
import { runCli } from './helpers/cli.mjs';

test('inject names every n-th close with the right ordinal (2nd, 3rd, 11th, 21st)', () => {
  const said = [1, 2, 3, 4, 11, 12, 13, 21, 22, 111].map((n) => describeMode({ kind: 'every', n }));
  assert.deepEqual(said, [
    'every eligible close', 'every 2nd eligible close', 'every 3rd eligible close', 'every 4th eligible close',
    'every 11th eligible close', 'every 12th eligible close', 'every 13th eligible close', 'every 21st eligible close',
    'every 22nd eligible close', 'every 111th eligible close',
  ]);
});

test('inject --every and --seed errors give their own example, not --iterations\' 1e6', () => {
  for (const [args, message] of [
    [['inject', '--every', 'x', '--', 'true'], "close-stress: error: --every takes a positive integer (such as 10), not 'x'\n"],
    [['inject', '--probability', '0.5', '--seed', 'x', '--', 'true'], "close-stress: error: --seed takes a positive integer (such as 42), not 'x'\n"],
  ]) {
    const r = runCli(args);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stderr, message);
  }
});
