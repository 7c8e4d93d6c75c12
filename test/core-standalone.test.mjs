// close-stress-core: the C core without Node, as a kernel developer runs it in
// a test VM. It journals raw counters; close-stress tallies them with the code
// that tallies a live run, so both front ends give one tally.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { buildShim, root, runCli, sum, tempDir } from './helpers/cli.mjs';
import { assertValid } from './helpers/schema.mjs';
import { CALLS, LAYOUT_VERSION, PROBES, corePath, native } from '../dist/core/native.js';
import { buildPlan } from '../dist/plan/plan.js';
import { readJournal } from '../dist/result/journal.js';
import { loadRun } from '../dist/result/load.js';
import { closeAttempts } from '../dist/tally/tally.js';

const core = corePath() ?? path.join(root, 'native', 'build', 'Release', 'close-stress-core');
const skip = !existsSync(core) && `${core} is not built (npm install builds it)`;

function runCore(args, { env = {}, timeout = 60_000 } = {}) {
  const r = spawnSync(core, args, { encoding: 'utf8', timeout, env: { ...process.env, ...env } });
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

/** Runs close-stress-core into a journal file; returns its path and the raw records. */
function coreJournal(t, args, env) {
  const file = path.join(tempDir(t), 'core.jsonl');
  const r = runCore([...args, '--journal', file], { env });
  assert.equal(r.code, 0, r.stderr);
  return { file, records: parseJournal(readFileSync(file, 'utf8')) };
}

for (const race of ['same-thread', 'cross-thread']) {
  test(`${race}: the journal holds the options, the layout version, each step's lanes and raw memory, and reads back with every trial accounted for`, { skip }, (t) => {
    const { file, records } = coreJournal(t, ['--cores', '1,2', '--iterations', '2000', '--race', race]);
    const [run, ...rest] = records;
    const end = rest.pop();
    assert.equal(run.type, 'run');
    assert.equal(run.schema, 'close-stress/journal');
    assert.equal(run.tool.name, 'close-stress-core');
    assert.equal(run.layout.version, LAYOUT_VERSION);
    assert.deepEqual(run.layout, { ...native().layout(), lane: run.layout.lane }, 'the layout the binding hands JS, field by field');
    assert.deepEqual(run.layout.lane, native().layout().lane);
    assert.deepEqual(run.options, { cores: [1, 2], iterations: 2000, race, resetSide: 'server', family: 4, probes: [], skew: { kind: 'none' } });
    assert.deepEqual(run.errnoNames, native().platform().errnoNames, 'this OS\'s errno names travel with the numbers');
    assert.deepEqual(rest.map((s) => [s.type, s.cores]), [['step-memory', 1], ['step-memory', 2]]);
    assert.deepEqual([end.type, end.status], ['end', 'completed']);

    // The plan exists once (native/src/plan.c): the CLI's plan places every lane where the core did.
    const platform = native().platform();
    const plan = buildPlan({ ...run.options, repeat: 1 }, platform.allowedCpus, platform.canPin);
    assert.deepEqual(rest.map((s) => s.lanes), plan.steps.map((s) => s.lanes.map((l) => [l.cpu, l.resetCpu])));

    const result = readJournal(file);
    assertValid('result', result);
    assert.equal(result.status, 'completed');
    for (const step of result.steps) {
      assert.equal(step.trials, 2000);
      assert.equal(closeAttempts(step) + step.setupFailed, step.trials);
      assert.deepEqual(Object.keys(step.calls), CALLS.filter((c) => !PROBES.includes(c) && c !== 'acceptClose'), 'no probes asked: the closes only (acceptClose comes with the accept probe)');
      assert.equal(step.threads, race === 'cross-thread' ? 2 * step.cores : step.cores);
      assert.equal(sum(step.lanes.map((l) => l.trials)), step.trials);
      for (const lane of step.lanes) if (lane.pinned) assert.deepEqual(lane.cpusSeen, [lane.cpu]);
      assert.equal(step.interrupted, false);
      assert.equal(sum(Object.fromEntries(step.latency.close.ok.counts)) + sum(Object.fromEntries(step.latency.close.error.counts)), closeAttempts(step));
      if (race === 'cross-thread') assert.ok(step.achievedSkew.samples > 0);
    }
  });
}

test('probes asked for are tallied per call, and a fixed --skew reads as one skew point', { skip }, (t) => {
  const { file, records } = coreJournal(t, ['--cores', '1', '--iterations', '500', '--race', 'cross-thread', '--probe', 'shutdown,sockerror', '--skew', '100ns']);
  assert.deepEqual(records[0].options.probes, ['shutdown', 'sockerror']);
  assert.deepEqual(records[0].options.skew, { kind: 'fixed', ns: 100 });
  const [step] = readJournal(file).steps;
  const PROBES = ['shutdown', 'send', 'recv', 'sockerror', 'accept'];
  assert.deepEqual(Object.keys(step.calls).filter((c) => PROBES.includes(c)), ['shutdown', 'sockerror']);
  // Probes take turns, one per trial.
  assert.equal(step.calls.shutdown.ok + sum(step.calls.shutdown.errors) + step.calls.sockerror.ok + sum(step.calls.sockerror.errors), closeAttempts(step));
  assert.equal(step.skew.mode, 'fixed');
  assert.deepEqual([step.skew.points[0].askedNs, step.skew.points[0].trials], [100, 500]);
});

test('--lanes-per-core K runs K lanes pinned to each CPU of a step, and a same-thread --skew delays the victim close, both read back as the CLI records them', { skip }, (t) => {
  const { file, records } = coreJournal(t, ['--cores', '1,2', '--lanes-per-core', '2', '--iterations', '600', '--skew', '20us']);
  const [run, one, two] = records;
  assert.equal(run.options.lanesPerCore, 2);
  assert.deepEqual(run.options.skew, { kind: 'fixed', ns: 20_000 });
  // The CLI's plan (src/plan/plan.ts) lays out K lanes per CPU the same way.
  const platform = native().platform();
  const plan = buildPlan({ ...run.options, repeat: 1 }, platform.allowedCpus, platform.canPin);
  assert.deepEqual([one.lanes, two.lanes], plan.steps.map((s) => s.lanes.map((l) => [l.cpu, l.resetCpu])));
  assert.deepEqual([one.lanes.length, two.lanes.length], [2, 4]);
  const result = readJournal(file);
  assertValid('result', result);
  for (const step of result.steps) {
    assert.equal(step.lanesPerCore, 2);
    assert.equal(step.threads, 2 * step.cores);
    assert.equal(step.lanes.length, 2 * step.cores);
    assert.equal(step.trials, 600);
    assert.equal(sum(step.lanes.map((l) => l.trials)), step.trials);
    if (platform.canPin) assert.equal(new Set(step.lanes.map((l) => l.cpu)).size, step.cores, 'two lanes share each CPU');
    const [point] = step.skew.points;
    // Achieved = the resetting close's own time plus the spin: never below the asked delay.
    assert.equal(point.askedNs, 20_000);
    assert.ok(point.achievedMedianNs >= 20_000 && point.achievedMedianNs < 1_000_000, `achieved ${point.achievedMedianNs}`);
  }
  assert.match(runCli(['report', file]).stdout, /2 lanes pinned to each CPU of a step \(--lanes-per-core\)/);
});

test('report on a close-stress-core journal prints the kernel RST cross-check (OutRsts) and its HTML names the C core, never "node undefined"', { skip: skip || (process.platform !== 'linux' && 'Linux counters only') }, (t) => {
  const { file, records } = coreJournal(t, ['--cores', '1', '--iterations', '1000']);
  const { kernel } = records[1];
  assert.match(kernel.source, /\/proc\/net\/snmp/);
  assert.ok(kernel.after.OutRsts - kernel.before.OutRsts >= 1000, 'raw counters before and after the step');
  const html = path.join(path.dirname(file), 'core.html');
  const r = runCli(['report', file, '--html', html]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^close-stress-core 0\.1\.0 on Linux/m);
  assert.match(r.stdout, /^kernel \(\/proc\/net\/snmp.*\): OutRsts per resetting close: 1 cores [0-9.]+$/m);
  const page = readFileSync(html, 'utf8');
  assert.doesNotMatch(page, /undefined/);
  assert.match(page, /close-stress-core 0\.1\.0, C core alone, without Node, host /);
});

test('errno numbers are named by the journal\'s own OS table, not the reader\'s (a FreeBSD journal read on Linux)', { skip }, (t) => {
  const { file, records } = coreJournal(t, ['--cores', '1', '--iterations', '300'], { LD_PRELOAD: buildShim() });
  const [run, step, end] = records;
  const reset = Object.entries(run.errnoNames).find(([, n]) => n === 'ECONNRESET')[0];
  // FreeBSD numbers ECONNRESET 54: renumber this journal as FreeBSD's would be.
  run.errnoNames = { ...run.errnoNames, [reset]: 'ENOTHERE', 54: 'ECONNRESET' };
  const slot = (run.layout.stepBytes + run.layout.lane.calls) / 8;
  step.nonzero = step.nonzero.map(([i, v]) => [i === slot + Number(reset) ? slot + 54 : i, v]).sort((a, b) => a[0] - b[0]);
  writeFileSync(file, [run, step, end].map((r) => `${JSON.stringify(r)}\n`).join(''));
  const [s] = readJournal(file).steps;
  assert.deepEqual(Object.keys(s.calls.close.errors), ['ECONNRESET']);
  assert.ok(s.calls.close.errors.ECONNRESET > 0);
});

test('a journal whose counters layout version this close-stress does not know is refused in one line', { skip }, (t) => {
  const { file, records } = coreJournal(t, ['--cores', '1', '--iterations', '100']);
  records[0].layout.version = LAYOUT_VERSION + 1;
  writeFileSync(file, records.map((r) => `${JSON.stringify(r)}\n`).join(''));
  const r = runCli(['report', file]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, new RegExp(`^close-stress: error: .*core\\.jsonl: written with counters layout ${LAYOUT_VERSION + 1}; this close-stress reads layout ${LAYOUT_VERSION}`));
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
});

for (const stage of ['lane thread', 'netns']) {
  test(`a journal written before the lane stage "${stage}" existed still reads and reports`, { skip }, (t) => {
    const { file, records } = coreJournal(t, ['--cores', '1', '--iterations', '100']);
    const names = records[0].layout.laneStageNames;
    assert.deepEqual(names.slice(-2), ['netns', 'lane thread']);
    records[0].layout.laneStageNames = names.slice(0, names.indexOf(stage));
    writeFileSync(file, records.map((r) => `${JSON.stringify(r)}\n`).join(''));
    const r = runCli(['report', file]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^verdict: /m);
  });
}

test('--journal refuses to replace a file without --force; without it the journal goes to stdout', { skip }, (t) => {
  const file = path.join(tempDir(t), 'run.jsonl');
  const r = runCore(['--cores', '1', '--iterations', '200', '--journal', file]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, '');
  assert.deepEqual(parseJournal(readFileSync(file, 'utf8')).map((x) => x.type), ['run', 'step-memory', 'end']);
  const again = runCore(['--cores', '1', '--iterations', '200', '--journal', file]);
  assert.equal(again.code, 2);
  assert.match(again.stderr, /already exists; pass --force/);
  assert.equal(runCore(['--cores', '1', '--iterations', '200', '--journal', file, '--force']).code, 0);
  assert.deepEqual(parseJournal(runCore(['--cores', '1', '--iterations', '200']).stdout).map((x) => x.type), ['run', 'step-memory', 'end']);
});

for (const [args, message] of [
  [['--iterations', '1.5e0'], /--iterations takes a positive integer/],
  [['--iterations', '9007199254740992'], /must be below 2\^53/],
  [['--iterations', 'lots'], /--iterations takes a positive integer \(100000 or 1e5\)/],
  [['--cores', '2,2'], /lists a core count twice/],
  [['--cores', '2,,4'], /--cores takes a positive integer/],
  [['--cores', '2000'], /at most 1024/],
  [['--race', 'sideways'], /--race takes same-thread or cross-thread/],
  [['--family', '5'], /--family takes 4 or 6/],
  [['--probe', 'poll'], /--probe takes a list of shutdown, send, recv, sockerror, accept or all/],
  [['--probe', 'shutdown,'], /--probe takes a list of .* not ''/],
  [['--probe', 'send,send'], /--probe lists a probe twice/],
  [['--skew', '-300ns'], /--skew below 0 needs --race cross-thread/],
  [['--lanes-per-core', '0'], /--lanes-per-core takes a positive integer/],
  [['--cores', '1,512', '--lanes-per-core', '4'], /--lanes-per-core 4 with --cores 512 makes 2048 lanes in a step; at most 1024/],
  [['--race', 'cross-thread', '--skew', 'auto'], /--skew takes whole nanoseconds or microseconds/],
  [['--race', 'cross-thread', '--skew', '2ms'], /--skew takes whole nanoseconds/],
  [['--race', 'cross-thread', '--skew', '1001us'], /at most 1ms/],
  [['--bogus'], /unknown option '--bogus'/],
  [['--iterations'], /--iterations needs a value/],
  [['--journal', '--force'], /--journal needs a value \(write --journal=VALUE/],
]) {
  test(`refuses ${args.join(' ')} in one line with exit status 2`, { skip }, () => {
    const r = runCore(args);
    assert.equal(r.code, 2);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, message);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  });
}

test('accepts counts written as 1e3 and 1000, and --opt=value', { skip }, (t) => {
  for (const n of ['1e3', '1000']) {
    const { file } = coreJournal(t, ['--cores=1', `--iterations=${n}`]);
    assert.equal(readJournal(file).steps[0].trials, 1000);
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
  const result = loadRun(file);
  assert.equal(result.status, 'interrupted');
  assert.equal(result.error, 'stopped by SIGTERM');
  const [step] = result.steps;
  assert.equal(step.interrupted, true, 'the stop word is in the journaled memory');
  assert.ok(step.trials > 0 && step.trials < 1e9);
  assert.equal(closeAttempts(step) + step.setupFailed, step.trials);
});

test('a lane whose own thread cannot be created fails the step naming "lane thread"; the lanes that started still run and journal every trial', { skip: skip || (process.platform !== 'linux' && 'address-space limit checked on Linux') }, (t) => {
  // 600 lanes' counters fit in 60 MB of address space, their 256 KiB stacks do not all.
  const file = path.join(tempDir(t), 'core.jsonl');
  const r = spawnSync('sh', ['-c', 'ulimit -v 60000 && exec "$0" --cores 600 --iterations 2000 --journal "$1"', core, file], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /^close-stress-core: failed: 600-core step: lane \d+ \(CPU -?\d+\) could not start: lane thread failed with (EAGAIN|ENOMEM)$/m);
  const result = readJournal(file);
  assert.equal(result.status, 'failed');
  assert.match(result.error, /lane thread/);
  const [step] = result.steps;
  assert.ok(step.lanes.some((l) => l.failure?.stage === 'lane thread'));
  assert.equal(step.trials, 2000, 'the lanes that started took every trial');
  assert.equal(closeAttempts(step) + step.setupFailed, step.trials);
});

test('a step whose every setup fails ends the run with 1, and report names the failed stage as the CLI does', { skip }, (t) => {
  const file = path.join(tempDir(t), 'run.jsonl');
  const r = runCore(['--cores', '1,2', '--iterations', '200', '--journal', file], { env: { LD_PRELOAD: buildShim(), CLOSE_SHIM_FAIL_CONNECT_EVERY: '1' } });
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /^close-stress-core: failed: 1-core step: every trial's setup failed/m);
  const result = readJournal(file);
  assert.equal(result.status, 'failed');
  assert.equal(result.steps.length, 1, 'the run stops at the failed step');
  assert.equal(result.error, "1-core step: every trial's setup failed (connect EADDRNOTAVAIL x200)");
});

/**
 * What two runs of the same options must agree on: everything but time, each
 * lane's share of the claimed trials, and whether another lane's thread took a
 * released descriptor number before fstat looked (released or reused).
 */
function countsOf(step) {
  // load (the machine's load average around a step) and netRx (receive work per CPU) are read by
  // the CLI's step loop, not by the C core.
  // hits and firstCloseErrorNs are per second and in ns: timing, like elapsedNs; their counts are compared.
  const { elapsedNs, trialsPerSec, scaling, startup, load, netRx, latency, kernel, lanes, throughput, victimFd, hits, firstCloseErrorNs, ...counts } = step;
  return {
    ...counts,
    hitsCount: hits?.count,
    firstErrnos: Object.keys(firstCloseErrorNs ?? {}).sort(),
    victimFd: victimFd && { gone: victimFd.released + victimFd.reused, retained: victimFd.retained },
    keys: Object.keys(step).filter((k) => !['startup', 'load', 'netRx'].includes(k)).sort(),
    lanes: lanes.map(({ trials, ...lane }) => lane),
    latencyCount: sum(Object.fromEntries(latency.close.ok.counts)) + sum(Object.fromEntries(latency.close.error.counts)),
    rstCounter: kernel?.rstCounter?.name,
  };
}

const injectedBy = (file) => readFileSync(file, 'utf8').trim().split('\n').reduce((a, n) => a + Number(n), 0);

for (const shim of [false, true]) {
  test(`the same options run by close-stress and by close-stress-core give equal tallies${shim ? ' under the close() shim, each equal to the ECONNRESETs it injected' : ' (Linux as it is)'}`, { skip }, (t) => {
    const dir = tempDir(t);
    // Probes only without the shim: sockerror consumes the pending error the shim keys on.
    const args = ['--cores', '1,2', '--iterations', '2000', '--race', 'same-thread', ...(shim ? [] : ['--probe', 'shutdown,sockerror'])];
    const env = (name) => (shim ? { LD_PRELOAD: buildShim(), CLOSE_SHIM_COUNT_FILE: path.join(dir, `${name}.count`) } : {});
    const { file } = coreJournal(t, args, env('core'));
    const cliJson = path.join(dir, 'cli.json');
    const r = runCli([...args, '--json', cliJson, '--quiet'], { env: env('cli') });
    assert.equal(r.code, 0, r.stderr);
    const runs = { core: loadRun(file), cli: loadRun(cliJson) };
    // Under the shim, whether the RST was processed before the victim close is
    // the kernel's race (a rare close still returns 0): each front end must
    // count exactly what its own shim injected; all else must be equal.
    const split = (step) => (shim ? { ...step, calls: { ...step.calls, close: undefined }, posix: undefined, victimFd: undefined, hits: undefined, firstCloseErrorNs: undefined } : step);
    assert.deepEqual(runs.core.steps.map((s) => countsOf(split(s))), runs.cli.steps.map((s) => countsOf(split(s))));
    for (const [name, result] of Object.entries(runs)) {
      const resets = sum(result.steps.map((s) => s.calls.close.errors.ECONNRESET ?? 0));
      assert.deepEqual(result.steps.map((s) => closeAttempts(s)), [2000, 2000], name);
      if (!shim) assert.equal(resets, 0, `${name}: Linux's close() never fails here`);
      else {
        assert.equal(resets, injectedBy(path.join(dir, `${name}.count`)), `${name}: tallied ECONNRESET = injected`);
        assert.ok(resets >= 0.95 * 4000, `${name}: ${resets} of 4000 closes raced the RST`);
        for (const s of result.steps) assert.equal(s.victimFd.released + s.victimFd.reused, s.calls.close.errors.ECONNRESET);
      }
    }
    const ran = (o) => Object.fromEntries(['cores', 'iterations', 'race', 'resetSide', 'family', 'probes', 'skew', 'repeat'].map((k) => [k, o[k]]));
    assert.deepEqual(ran(runs.core.options), ran(runs.cli.options));
  });
}

test('a close-stress-core journal cut off mid-step (power loss) keeps the steps before the cut and reads as interrupted', { skip }, (t) => {
  const { file } = coreJournal(t, ['--cores', '1,2', '--iterations', '300']);
  const lines = readFileSync(file, 'utf8').split('\n');
  // run header, 1-core step, half of the 2-core step's line; no end line.
  writeFileSync(file, `${lines[0]}\n${lines[1]}\n${lines[2].slice(0, lines[2].length >> 1)}`);
  const result = loadRun(file);
  assert.equal(result.status, 'interrupted');
  assert.match(result.error, /no end line/);
  assert.deepEqual(result.steps.map((s) => [s.cores, s.trials]), [[1, 300]]);
});
