// `close-stress ... | head` is how people read long output: a reader that
// quits early must not turn into a stack trace, nor cost the saved result.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { bin, tempDir } from './helpers/cli.mjs';

// `true` has exited before node has started, so every write meets a closed pipe.
function intoClosedPipe(args) {
  const quoted = args.map((a) => `'${a}'`).join(' ');
  const r = spawnSync('bash', ['-c', `'${process.execPath}' '${bin}' ${quoted} | true; echo "\${PIPESTATUS[0]}"`], { encoding: 'utf8' });
  return { status: Number(r.stdout.trim()), stderr: r.stderr };
}

test('--help and a run into a pipe whose reader has quit exit as usual, with no stack trace, and the run still saves its result', (t) => {
  const help = intoClosedPipe(['--help']);
  assert.equal(help.status, 0, help.stderr);
  assert.doesNotMatch(help.stderr, /EPIPE|^\s+at /m);
  const json = path.join(tempDir(t), 'r.json');
  const run = intoClosedPipe(['--cores', '1', '--iterations', '200', '-q', '--json', json]);
  assert.equal(run.status, 0, run.stderr);
  assert.doesNotMatch(run.stderr, /EPIPE|^\s+at /m);
  assert.ok(existsSync(json), 'the result is saved although nobody read the table');
});
