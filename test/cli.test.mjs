// The real CLI, spawned: refusals are one stderr line and exit 2, before any
// trial or thread; a valid run with tiny counts exits 0.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCli, NO_STACK } from './helpers/spawn.mjs';

const BAD = [
  [['--cores', '99999'], /--cores takes at most 1024/],
  [['--iterations', '9007199254740993'], /--iterations .*2\^53/],
  [['--iterations', '-5'], /--iterations takes a positive integer/],
  [['--iterations', '1.5'], /--iterations takes a positive integer/],
  [['--iterations', 'NaN'], /--iterations takes a positive integer/],
  [['--iterations', ''], /--iterations takes a positive integer/],
  [['--iterations', '5', '--iterations', '6'], /--iterations given twice/],
  [['--bogus'], /unknown option '--bogus'/],
  [['--no-sweep=1'], /unknown option '--no-sweep=1'/],
  [['stray'], /unexpected argument 'stray'/],
  [['--race'], /--race/],
  [['--family', '5'], /--family takes 4 or 6/],
];

test('each invalid invocation exits 2 with exactly one stderr line naming the flag, no output and no stack trace', () => {
  for (const [args, message] of BAD) {
    const r = runCli([...args, '-q']);
    assert.equal(r.status, 2, `${args.join(' ')}: exit ${r.status}`);
    const lines = r.stderr.split('\n').filter(Boolean);
    assert.equal(lines.length, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.match(lines[0], /^close-stress: error: /);
    assert.match(lines[0], message);
    assert.doesNotMatch(r.stderr, NO_STACK);
    assert.equal(r.stdout, '', `${args.join(' ')} ran: ${r.stdout}`);
  }
});

test('--cores 99999 is refused before any worker thread starts', () => {
  const r = runCli(['--cores', '99999', '-q']);
  assert.equal(r.status, 2);
  assert.equal(r.stdout, '', 'no table: nothing ran');
  assert.match(r.stderr, /^close-stress: error: --cores takes at most 1024 per step, not 99999\n$/);
});

test('valid flag combinations run to completion with tiny counts', (t) => {
  for (const args of [
    ['--cores', '1', '--iterations', '200'],
    ['--cores', '2', '--no-sweep', '--iterations', '1e2', '--race', 'cross-thread', '--reset-side', 'client'],
    ['--cores', '1', '--iterations', '1_00', '--family', '6', '--log-level', 'silent'],
  ]) {
    const r = runCli([...args, '-q']);
    if (r.status !== 0 && args.includes('6') && /EADDRNOTAVAIL|EAFNOSUPPORT/.test(r.stderr)) {
      t.diagnostic(`IPv6 case not checked: no IPv6 loopback here (${r.stderr.trim()})`);
      continue;
    }
    assert.equal(r.status, 0, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stdout, /^verdict: /m);
  }
});

test('--help and --version exit 0', () => {
  assert.equal(runCli(['--help']).status, 0);
  assert.equal(runCli(['--version']).status, 0);
});
