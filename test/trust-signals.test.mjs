// A signal after the last step, while the pool closes and the journal end
// line, the table and the JSON are written, must not lose the result; and
// what the terminal shows for it is a sentence, not a JSON log record.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { startCli } from './helpers/spawn.mjs';
import { bin, tempDir } from './helpers/cli.mjs';
import { assertValid } from './helpers/schema.mjs';

/** Resolves once `child`'s stderr so far matches `pattern`. */
function stderrMatches(child, pattern) {
  return new Promise((resolve) => {
    let seen = '';
    child.stderr.on('data', (d) => {
      seen += d;
      if (pattern.test(seen)) resolve();
    });
  });
}

for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]]) {
  test(`${signal} while the finished run is being saved still saves it whole (journal end line, table, JSON) and exits ${code}`, async (t) => {
    const dir = tempDir(t);
    const json = path.join(dir, 'r.json');
    const log = path.join(dir, 'log.jsonl');
    // The hook holds the finishing phase (all steps done, pool closed, nothing saved) open for 1.5 s.
    const { child, done } = startCli(['--cores', '2', '--iterations', '2000', '--json', json, '--log-file', log, '-q'],
      { CLOSE_STRESS_TEST_FINISH_DELAY_MS: '1500' });
    await stderrMatches(child, /close-stress: test: finishing in 1500 ms\n/);
    child.kill(signal);
    const r = await done;
    assert.equal(r.signal, null, `the process was killed by ${signal}: nothing saved`);
    assert.equal(r.status, code, r.stderr);
    assert.match(r.stdout, /^verdict: /m, 'the table was printed');
    const result = JSON.parse(readFileSync(json, 'utf8'));
    assertValid('result', result);
    assert.deepEqual(result.steps.map((s) => s.cores), [1, 2], 'every step measured is in the result');
    assert.ok(result.steps.every((s) => s.trials === 2000 && !s.interrupted), 'the steps themselves finished');
    assert.equal(result.status, 'interrupted');
    assert.equal(result.error, `stopped by ${signal}`);
    const journal = readFileSync(`${json}.jsonl`, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(journal.map((l) => l.type), ['run', 'step', 'step', 'end']);
    assert.equal(journal.at(-1).status, 'interrupted');
    const events = readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.ok(events.some((e) => e.event === 'signal' && e.signal === signal), 'the log file keeps the structured record');
  });
}

const hasStrace = spawnSync('strace', ['-V']).status === 0;

test('a signal that comes while the finished run is saved is not lost: exit 130, and the files, whole before it was handled, say completed', { skip: !hasStrace && 'strace is not installed (apt-get install strace)' }, async (t) => {
  const dir = tempDir(t);
  const json = path.join(dir, 'r.json');
  // strace holds the rename that puts the whole result in place for 1 s: the signal comes inside the save itself.
  const child = spawn('strace', ['-f', '--seccomp-bpf', '-qq', '-o', '/dev/null', '-e', 'trace=rename', '-e', 'inject=rename:delay_enter=1000000',
    process.execPath, bin, '--cores', '1', '--no-sweep', '--iterations', '2000', '--json', json, '-q'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  child.stdout.resume();
  const done = new Promise((resolve) => child.on('close', (status) => resolve(status)));
  // The temp file is named for the pid of the run, and exists from the open until the rename ends.
  let tmp;
  await until(() => (tmp = readdirSync(dir).find((f) => /^\.r\.json\.\d+\.tmp$/.test(f))));
  process.kill(Number(tmp.split('.')[3]), 'SIGINT');
  const status = await done;
  assert.equal(status, 130, stderr);
  assert.equal(stderr, 'close-stress: warning: SIGINT came while the finished run was being saved; it is saved whole and says completed\n');
  const result = JSON.parse(readFileSync(json, 'utf8'));
  assert.equal(result.status, 'completed');
  assert.deepEqual(result.steps.map((s) => [s.cores, s.trials, s.interrupted]), [[1, 2000, false]]);
  const journal = readFileSync(`${json}.jsonl`, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(journal.map((l) => l.type), ['run', 'step', 'end']);
  assert.equal(journal.at(-1).status, 'completed');
});

test('Ctrl-C during a step shows a sentence on the terminal, not a JSON log line', async (t) => {
  const json = path.join(tempDir(t), 'r.json');
  const { child, done } = startCli(['--cores', '1', '--iterations', '1e12', '--json', json, '-q']);
  await until(() => existsSync(`${json}.jsonl`));
  await new Promise((resolve) => setTimeout(resolve, 300));
  child.kill('SIGINT');
  const r = await done;
  assert.equal(r.status, 130, r.stderr);
  assert.equal(r.stderr, [
    'close-stress: warning: SIGINT: stopping; saving what was measured (again to quit at once)',
    'close-stress: interrupted: stopped by SIGINT',
    '',
  ].join('\n'));
});

async function until(check) {
  for (let i = 0; i < 800 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 25));
  assert.ok(check(), 'the run started');
}
