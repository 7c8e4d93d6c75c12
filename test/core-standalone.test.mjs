// close-stress-core: the C core without Node, as a kernel developer runs it in
// a test VM. Its journal must be the CLI's journal: same records, same counts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { root, sum, tempDir } from './helpers/cli.mjs';
import { CALLS, PROBES, corePath } from '../dist/native.js';
import { closeAttempts } from '../dist/tally.js';

const core = corePath() ?? path.join(root, 'native', 'build', 'Release', 'close-stress-core');
const built = existsSync(core);
const skip = !built && `${core} is not built (npm install builds it)`;

function runCore(args, timeout = 60_000) {
  const r = spawnSync(core, args, { encoding: 'utf8', timeout });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Every line is one JSON object; returns them. */
function parseJournal(text) {
  const lines = text.split('\n');
  assert.equal(lines.pop(), '', 'the journal ends with a newline');
  return lines.map((line, i) => {
    try {
      return JSON.parse(line);
    } catch (err) {
      assert.fail(`journal line ${i + 1} is not JSON: ${err.message}: ${line.slice(0, 80)}`);
    }
  });
}

for (const race of ['same-thread', 'cross-thread']) {
  test(`${race}: the journal has a run header, one step per requested core count and an end line, and every trial is accounted for`, { skip }, () => {
    const r = runCore(['--cores', '2', '--iterations', '2000', '--race', race]);
    assert.equal(r.code, 0, r.stderr);
    const records = parseJournal(r.stdout);
    const [run, ...rest] = records;
    const end = rest.pop();
    assert.equal(run.type, 'run');
    assert.equal(run.schema, 'close-stress/journal');
    assert.equal(run.schemaVersion, 1);
    assert.equal(run.tool.name, 'close-stress-core');
    assert.deepEqual(run.options.cores, [1, 2], '--cores 2 sweeps 1,2 as the CLI does');
    assert.equal(run.options.iterations, 2000);
    assert.deepEqual(run.race, { shape: race, resetSide: 'server', victim: 'client' });
    assert.equal(typeof run.environment.os.release, 'string');
    assert.ok(run.environment.cpu.allowed.length >= 1);
    assert.ok(!Number.isNaN(Date.parse(run.startedAt)));
    assert.equal(end.type, 'end');
    assert.equal(end.status, 'completed');
    assert.ok(Date.parse(run.startedAt) <= Date.parse(end.finishedAt));

    assert.deepEqual(rest.map((s) => s.type), ['step', 'step']);
    assert.deepEqual(rest.map((s) => s.step.cores), run.options.cores);
    for (const { step } of rest) {
      assert.equal(step.trials, 2000);
      assert.equal(closeAttempts(step) + step.setupFailed, step.trials);
      assert.equal(step.calls.close.ok + sum(step.calls.close.errors) + step.setupFailed, step.trials);
      assert.deepEqual(Object.keys(step.calls), CALLS.filter((c) => !PROBES.includes(c)), 'no probes asked: only the two closes');
      assert.equal(step.threads, race === 'cross-thread' ? 2 * step.cores : step.cores);
      assert.equal(step.lanes.length, step.cores);
      assert.equal(sum(step.lanes.map((l) => l.trials)), step.trials);
      for (const lane of step.lanes) {
        if (lane.pinned) assert.deepEqual(lane.cpusSeen, [lane.cpu]);
        if (race === 'cross-thread') assert.ok(lane.resetCpusSeen.length >= 1);
      }
      assert.equal(step.interrupted, false);
      assert.equal(sum(Object.fromEntries(step.latency.close.ok.counts)) + sum(Object.fromEntries(step.latency.close.error.counts)), closeAttempts(step));
      if (race === 'cross-thread') assert.ok(step.achievedSkew.samples > 0);
    }
  });
}

test('probes asked for are tallied per call, and only those', { skip }, () => {
  const r = runCore(['--cores', '1', '--iterations', '500', '--race', 'cross-thread', '--probe', 'shutdown,sockerror', '--skew', '100ns']);
  assert.equal(r.code, 0, r.stderr);
  const [run, { step }] = parseJournal(r.stdout);
  assert.deepEqual(run.options.probes, ['shutdown', 'sockerror']);
  assert.deepEqual(run.options.skew, { kind: 'fixed', ns: 100 });
  const PROBES = ['shutdown', 'send', 'recv', 'sockerror', 'accept'];
  assert.deepEqual(Object.keys(step.calls).filter((c) => PROBES.includes(c)), ['shutdown', 'sockerror']);
  // Probes take turns, one per trial.
  assert.equal(step.calls.shutdown.ok + sum(step.calls.shutdown.errors) + step.calls.sockerror.ok + sum(step.calls.sockerror.errors), closeAttempts(step));
  assert.equal(step.skew.mode, 'fixed');
  assert.equal(step.skew.points[0].askedNs, 100);
});

test('on Linux the kernel counters show at least one RST sent per trial (machine-wide deltas)', { skip: skip || (process.platform !== 'linux' && 'Linux counters only') }, () => {
  const r = runCore(['--cores', '1', '--iterations', '1000']);
  assert.equal(r.code, 0, r.stderr);
  const { step } = parseJournal(r.stdout)[1];
  assert.equal(step.kernel.scope, 'machine');
  assert.match(step.kernel.source, /\/proc\/net\/snmp/);
  assert.ok(step.kernel.deltas.OutRsts >= step.trials, `OutRsts +${step.kernel.deltas.OutRsts} for ${step.trials} trials`);
});

test('--journal writes the same journal to a file and refuses to replace one without --force', { skip }, (t) => {
  const file = path.join(tempDir(t), 'run.jsonl');
  const r = runCore(['--cores', '1', '--iterations', '200', '--journal', file]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, '');
  const records = parseJournal(readFileSync(file, 'utf8'));
  assert.deepEqual(records.map((x) => x.type), ['run', 'step', 'end']);
  const again = runCore(['--cores', '1', '--iterations', '200', '--journal', file]);
  assert.equal(again.code, 2);
  assert.match(again.stderr, /already exists; pass --force/);
  assert.equal(runCore(['--cores', '1', '--iterations', '200', '--journal', file, '--force']).code, 0);
});

for (const [args, message] of [
  [['--iterations', '1.5e0'], /--iterations takes a positive integer/],
  [['--iterations', '9007199254740992'], /must be below 2\^53/],
  [['--iterations', 'lots'], /--iterations takes a positive integer \(1000000, 1_000_000 or 1e6\)/],
  [['--cores', '2,2'], /lists a core count twice/],
  [['--cores', '2000'], /at most 1024/],
  [['--race', 'sideways'], /--race takes same-thread or cross-thread/],
  [['--family', '5'], /--family takes 4 or 6/],
  [['--probe', 'poll'], /--probe takes a list of shutdown, send, recv, sockerror, accept or all/],
  [['--skew', '300ns'], /--skew needs --race cross-thread/],
  [['--race', 'cross-thread', '--skew', 'auto'], /sweeps and auto run in close-stress/],
  [['--bogus'], /unknown option '--bogus'/],
  [['--iterations'], /argument missing/],
]) {
  test(`refuses ${args.join(' ')} in one line with exit status 2`, { skip }, () => {
    const r = runCore(args);
    assert.equal(r.code, 2);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, message);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  });
}

test('accepts counts written as 1e3, 1_000 and 1000', { skip }, () => {
  for (const n of ['1e3', '1_000', '1000']) {
    const r = runCore(['--cores', '1', '--iterations', n]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(parseJournal(r.stdout)[1].step.trials, 1000);
  }
});

test('SIGTERM ends the step in hand, journals it as interrupted and exits 143', { skip }, async (t) => {
  const file = path.join(tempDir(t), 'run.jsonl');
  const child = spawn(core, ['--cores', '1', '--iterations', '1e9', '--journal', file], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  await new Promise((resolve) => setTimeout(resolve, 500));
  child.kill('SIGTERM');
  const code = await new Promise((resolve) => child.on('exit', (c) => resolve(c)));
  assert.equal(code, 143, stderr);
  const records = parseJournal(readFileSync(file, 'utf8'));
  assert.deepEqual(records.map((x) => x.type), ['run', 'step', 'end']);
  assert.equal(records[1].step.interrupted, true);
  assert.ok(records[1].step.trials > 0 && records[1].step.trials < 1e9);
  assert.equal(closeAttempts(records[1].step) + records[1].step.setupFailed, records[1].step.trials);
  assert.deepEqual([records[2].status, records[2].error], ['interrupted', 'stopped by SIGTERM']);
  writeFileSync(file, ''); // keep tempDir cleanup cheap
});

test('close-stress-core and close-stress agree under the close() shim: same steps, every trial accounted, ECONNRESET as injected', async (t) => {
  const { buildShim, runCli: cli, tempDir: tmp } = await import('./helpers/cli.mjs');
  const { readJournal } = await import('../dist/journal.js');
  const shim = buildShim();
  const dir = tmp(t);
  const args = ['--cores', '2', '--iterations', '2000', '--race', 'same-thread'];
  const injectedBy = (file) => readFileSync(file, 'utf8').trim().split('\n').reduce((a, n) => a + Number(n), 0);

  const coreJournal = path.join(dir, 'core.jsonl');
  const coreCount = path.join(dir, 'core.count');
  const c = spawnSync(core, [...args, '--journal', coreJournal], {
    encoding: 'utf8', env: { ...process.env, LD_PRELOAD: shim, CLOSE_SHIM_COUNT_FILE: coreCount },
  });
  assert.equal(c.status, 0, c.stderr);
  const cliJson = path.join(dir, 'cli.json');
  const cliCount = path.join(dir, 'cli.count');
  const r = cli([...args, '--json', cliJson, '--quiet'], { env: { LD_PRELOAD: shim, CLOSE_SHIM_COUNT_FILE: cliCount } });
  assert.equal(r.code, 0, r.stderr);

  const fromCore = readJournal(coreJournal);
  const fromCli = r.result;
  for (const [result, injected] of [[fromCore, injectedBy(coreCount)], [fromCli, injectedBy(cliCount)]]) {
    assert.deepEqual(result.steps.map((s) => [s.cores, s.trials]), [[1, 2000], [2, 2000]]);
    let reset = 0;
    for (const s of result.steps) {
      const errors = Object.values(s.calls.close.errors).reduce((a, b) => a + b, 0);
      assert.equal(s.calls.close.ok + errors + s.setupFailed, s.trials);
      assert.equal(s.victimFd.released + s.victimFd.reused, s.calls.close.errors.ECONNRESET ?? 0);
      assert.equal(s.posix.close.outside, s.calls.close.errors.ECONNRESET ?? 0);
      reset += s.calls.close.errors.ECONNRESET ?? 0;
    }
    assert.equal(reset, injected);
    assert.ok(injected >= 0.95 * 4000, `injected ${injected}`);
  }
  // firstCloseErrorNs (issue 11, hits per second): main.c does not write it yet; its
  // journals report hits without the time to the first. Drop it here once it does.
  const notInCore = ['kernel', 'startup', 'firstCloseErrorNs'];
  assert.deepEqual(Object.keys(fromCore.steps[0]).filter((k) => !notInCore.includes(k)).sort(),
    Object.keys(fromCli.steps[0]).filter((k) => !notInCore.includes(k)).sort());
  const rep = cli(['report', coreJournal]);
  assert.equal(rep.code, 0, rep.stderr);
  assert.match(rep.stdout, /ECONNRESET/);
  assert.match(rep.stdout, /close\(\) returned errors POSIX does not allow \(ECONNRESET\)/);
});
