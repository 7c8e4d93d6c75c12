// Nothing measured is lost: the journal survives kill -9, signals save what
// was measured, and every result validates against the published schema.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { readJournal } from '../dist/result/journal.js';
import { corePath } from '../dist/core/native.js';
import { bin, runCli, tempDir } from './helpers/cli.mjs';
import { assertValid } from './helpers/schema.mjs';

/** The journal's complete lines (a line being written right now is not one yet). */
const lines = (file) => {
  if (!existsSync(file)) return [];
  const text = readFileSync(file, 'utf8');
  return text.slice(0, text.lastIndexOf('\n') + 1).split('\n').filter(Boolean).map((l) => JSON.parse(l));
};

async function until(what, check, ms = 20_000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (check()) return;
    await sleep(25);
  }
  assert.fail(`timed out waiting for ${what}`);
}

function start(args) {
  const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => { stdout += d; });
  child.stderr.on('data', (d) => { stderr += d; });
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal, stdout, stderr })));
  return { child, exited };
}

test('a run killed with SIGKILL mid-way keeps its finished steps: report turns the journal into them', async (t) => {
  const dir = tempDir(t);
  const json = path.join(dir, 'r.json');
  const journal = `${json}.jsonl`;
  const { child, exited } = start(['--cores', '1,2', '--duration', '1s', '--json', json, '-q']);
  await until('the 1-core step in the journal', () => lines(journal).some((l) => l.type === 'step'));
  child.kill('SIGKILL');
  assert.equal((await exited).signal, 'SIGKILL');
  assert.equal(existsSync(json), false, 'the killed run wrote no result');
  const recs = lines(journal);
  assert.equal(recs[0].type, 'run');
  assert.equal(recs.some((l) => l.type === 'end'), false);

  const r = runCli(['report', journal]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^\s+1\s+1\s+[0-9,]+\s/m, 'the 1-core row is there');
  assert.doesNotMatch(r.stdout, /^\s+2\s+2\s+[0-9,]+\s/m, 'the 2-core step never finished');
  assert.match(r.stderr, /interrupted: journal has no end line/);
  const result = readJournal(journal);
  assertValid('result', result);
  assert.equal(result.status, 'interrupted');
  assert.deepEqual(result.steps.map((s) => s.cores), [1]);
  assert.ok(result.steps[0].trials > 0);
  assert.equal(result.steps[0].posix.close.attempts + result.steps[0].setupFailed, result.steps[0].trials);
});

for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]]) {
  test(`${signal} stops within a second, prints and saves what was measured as interrupted, exits ${code}`, async (t) => {
    const dir = tempDir(t);
    const json = path.join(dir, 'r.json');
    const log = path.join(dir, 'log.jsonl');
    const { child, exited } = start(['--cores', '1', '--iterations', '1e12', '--json', json, '--log-file', log, '-q']);
    await until('the journal header', () => lines(`${json}.jsonl`).length > 0);
    await sleep(500);
    const sentAt = Date.now();
    child.kill(signal);
    const r = await exited;
    assert.equal(r.code, code, r.stderr);
    // The claim is about stopping the workers: from the logged signal to the
    // result's finishedAt (workers joined). The whole exit gets slack for a
    // machine shared with other test runs.
    const signalled = lines(log).find((l) => l.event === 'signal');
    assert.ok(Date.now() - sentAt < 5000, `exited ${Date.now() - sentAt} ms after ${signal}`);
    assert.match(r.stdout, /^\s+1\s+1\s+[0-9,]+!/m, 'the table marks the step interrupted');
    const result = JSON.parse(readFileSync(json, 'utf8'));
    assertValid('result', result);
    assert.equal(result.status, 'interrupted');
    assert.equal(result.error, `stopped by ${signal}`);
    const stopMs = Date.parse(result.finishedAt) - Date.parse(signalled.time);
    assert.ok(stopMs < 1000, `workers stopped ${stopMs} ms after ${signal}`);
    assert.equal(result.steps.length, 1);
    assert.ok(result.steps[0].interrupted);
    assert.ok(result.steps[0].trials > 0);
    const recs = lines(`${json}.jsonl`);
    assert.equal(recs.at(-1).type, 'end');
    assert.equal(recs.at(-1).status, 'interrupted');
    assert.equal(recs.at(-1).error, `stopped by ${signal}`, "the journal's end line says why the run stopped");
    assert.deepEqual(readJournal(`${json}.jsonl`).steps, result.steps, 'journal and result agree');
  });
}

test('--journal PATH journals without --json, one line per step, and report reads it like the result', (t) => {
  const dir = tempDir(t);
  const journal = path.join(dir, 'run.jsonl');
  const json = path.join(dir, 'r.json');
  const r = runCli(['--cores', '2', '--iterations', '2000', '--journal', journal, '--json', json, '-q']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(existsSync(`${json}.jsonl`), false, '--journal overrides the default path');
  assert.deepEqual(lines(journal).map((l) => l.type), ['run', 'step', 'step', 'end']);
  const fromJournal = runCli(['report', journal]);
  const fromJson = runCli(['report', json]);
  assert.equal(fromJournal.code, 0, fromJournal.stderr);
  assert.equal(fromJournal.stdout, fromJson.stdout);
  assertValid('result', r.result);
  assertValid('result', readJournal(journal));
});

test('--duration runs each step for a time, --repeat N reports throughput as a mean with its interval', (t) => {
  const json = path.join(tempDir(t), 'r.json');
  const began = Date.now();
  const r = runCli(['--cores', '1', '--no-sweep', '--duration', '200ms', '--repeat', '3', '--json', json, '-q']);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(Date.now() - began < 15_000);
  assertValid('result', r.result);
  const [s] = r.result.steps;
  assert.equal(r.result.status, 'completed');
  assert.equal(s.interrupted, false, 'a step ended by its duration is complete, not interrupted');
  assert.equal(s.repeats.trialsPerSec.length, 3);
  assert.equal(s.throughput.n, 3);
  assert.ok(s.throughput.low <= s.throughput.mean && s.throughput.mean <= s.throughput.high);
  // At least the asked time; the upper bound only catches a duration that was ignored.
  assert.ok(s.elapsedNs >= 0.55e9 && s.elapsedNs < 20e9, `3 x 200ms took ${s.elapsedNs} ns of measuring`);
  assert.match(r.stdout, /0\.2s per step, 3 runs each/);
});

test('--duration and --iterations together are a usage error', () => {
  const r = runCli(['--iterations', '1000', '--duration', '1s']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--duration and --iterations/);
  assert.equal(runCli(['--duration', '30 parsecs']).code, 2);
});

const core = corePath() ?? path.join(path.dirname(bin), '..', 'native', 'build', 'Release', 'close-stress-core');
test('report reads the journal of the standalone C program (close-stress-core) as a result', { skip: !existsSync(core) && 'close-stress-core is not built' }, (t) => {
  const journal = path.join(tempDir(t), 'core.jsonl');
  const r = spawnSync(core, ['--cores', '1,2', '--iterations', '1000', '--journal', journal], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  const result = readJournal(journal);
  assertValid('result', result);
  assert.equal(result.status, 'completed');
  assert.deepEqual(result.steps.map((s) => [s.cores, s.trials]), [[1, 1000], [2, 1000]]);
  const rep = runCli(['report', journal]);
  assert.equal(rep.code, 0, rep.stderr);
  assert.match(rep.stdout, /victim close\(\) latency/);
});
