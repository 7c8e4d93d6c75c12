// The real CLI, spawned: refusals are one stderr line and exit 2, before any
// trial or thread; a valid run with tiny counts exits 0.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli, NO_STACK, BIN } from './helpers/spawn.mjs';

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

const hasStrace = spawnSync('strace', ['-V']).status === 0;

/**
 * Threads that set up an event loop of their own (epoll_create1 on Linux):
 * Node's main thread and one helper, plus one per worker_threads Worker.
 * libuv's pool and V8's platform threads never create one.
 */
function eventLoopThreads(args, t) {
  const log = path.join(mkdtempSync(path.join(os.tmpdir(), 'close-stress-cli-')), 'strace');
  t.after(() => rmSync(path.dirname(log), { recursive: true, force: true }));
  const r = spawnSync('strace', ['-f', '-qq', '-e', 'trace=epoll_create,epoll_create1', '-o', log, process.execPath, ...args], { encoding: 'utf8', timeout: 60_000 });
  const tids = new Set(readFileSync(log, 'utf8').split('\n').filter((l) => /epoll_create/.test(l)).map((l) => l.split(' ')[0]));
  return { r, threads: tids.size };
}

test('--cores 99999 is refused before any worker thread starts', { skip: (process.platform !== 'linux' || !hasStrace) && 'needs strace on Linux to watch threads start' }, (t) => {
  const bare = eventLoopThreads(['-e', '0'], t).threads;
  const { r, threads } = eventLoopThreads([BIN, '--cores', '99999', '-q'], t);
  assert.equal(r.status, 2);
  assert.equal(r.stdout, '', 'no table: nothing ran');
  assert.match(r.stderr, /^close-stress: error: --cores takes at most 1024 per step, not 99999\n$/);
  assert.equal(threads, bare, 'no thread beyond those of a bare `node -e 0` set up an event loop');
  // The same count sees the one worker a real 1-core run starts.
  assert.equal(eventLoopThreads([BIN, '--cores', '1', '--iterations', '10', '-q'], t).threads, bare + 1);
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
