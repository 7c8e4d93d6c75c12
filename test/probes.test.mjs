// Issue 3's instruments: probes tallied as the kernel answered them, the
// skew curve, and a POSIX verdict per syscall.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { bin, runCli, sum, tempDir } from './helpers/cli.mjs';
import { assertValid } from './helpers/schema.mjs';
import { parseNs, parseProbes, parseSkew } from '../dist/options/options.js';
import { sweepPoints, windowCall } from '../dist/measure/skew.js';

const hasStrace = spawnSync('strace', ['-V']).status === 0;

const STRACE_CALL = [
  [/^shutdown\(\d+, SHUT_RDWR\)\s+= (-?\d+)(?: (E[A-Z]+))?/, 'shutdown'],
  [/^sendto\(\d+, .*MSG_NOSIGNAL.*\)\s+= (-?\d+)(?: (E[A-Z]+))?/, 'send'],
  [/^recvfrom\(\d+, .*MSG_DONTWAIT.*\)\s+= (-?\d+)(?: (E[A-Z]+))?/, 'recv'],
];

test('each probe tallies what the kernel returned, as strace recorded it', { skip: !hasStrace && 'strace is not installed (apt-get install strace)' }, (t) => {
  const dir = tempDir(t);
  const json = path.join(dir, 'r.json');
  const trials = 200;
  const r = spawnSync('strace', ['-f', '-ff', '-qq', '-e', 'trace=shutdown,sendto,recvfrom,getsockopt', '-o', path.join(dir, 'trace'),
    process.execPath, bin, '--cores', '2', '--no-sweep', '--iterations', String(trials), '--probe', 'shutdown,send,recv,sockerror',
    '--json', json, '--quiet'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const seen = {};
  const bump = (call, key) => {
    seen[call] ??= { ok: 0, errors: {} };
    if (key === 'ok') seen[call].ok++;
    else seen[call].errors[key] = (seen[call].errors[key] ?? 0) + 1;
  };
  for (const f of readdirSync(dir).filter((f) => f.startsWith('trace.'))) {
    for (const line of readFileSync(path.join(dir, f), 'utf8').split('\n')) {
      for (const [re, call] of STRACE_CALL) {
        const m = re.exec(line);
        if (m) bump(call, Number(m[1]) >= 0 ? 'ok' : m[2]);
      }
      const so = /^getsockopt\(\d+, SOL_SOCKET, SO_ERROR, \[(\w+)\], \[4\]\) = 0/.exec(line);
      if (so) bump('sockerror', so[1] === '0' ? 'ok' : so[1]);
    }
  }
  const { calls } = JSON.parse(readFileSync(json, 'utf8')).steps[0];
  for (const call of ['shutdown', 'send', 'recv']) assert.deepEqual(calls[call], seen[call], call);
  // strace prints the SO_ERROR value as a number: compare counts.
  assert.equal(calls.sockerror.ok, seen.sockerror.ok);
  assert.equal(sum(calls.sockerror.errors), sum(seen.sockerror.errors));
  // Probes take turns, one per trial, in each lane: every trial ran exactly one.
  const made = ['shutdown', 'send', 'recv', 'sockerror'].map((call) => calls[call].ok + sum(calls[call].errors));
  assert.equal(made.reduce((a, b) => a + b, 0), trials);
  for (const n of made) assert.ok(Math.abs(n - trials / 4) <= 2, `split ${made.join(', ')}`);
});

test('with several probes each trial runs one of them, so send no longer always follows a successful shutdown; the split is shown', (t) => {
  const json = path.join(tempDir(t), 'r.json');
  const trials = 3000;
  const r = runCli(['--cores', '1', '--iterations', String(trials), '--probe', 'all', '--json', json, '--quiet']);
  assert.equal(r.code, 0, r.stderr);
  assertValid('result', r.result);
  const { calls } = r.result.steps[0];
  const probes = ['shutdown', 'send', 'recv', 'sockerror', 'accept'];
  for (const p of probes) assert.equal(calls[p].ok + sum(calls[p].errors), trials / probes.length, p);
  // Run after a successful shutdown, send would see EPIPE every time; on the socket as the RST left it, it does not.
  assert.notEqual(calls.send.errors.EPIPE ?? 0, trials / probes.length, JSON.stringify(calls.send));
  assert.match(r.stdout, /probes take turns, one per trial, so each sees the socket as the RST left it: shutdown 600, send 600, recv 600, sockerror 600, accept 600 trials\./);
  assert.match(r.stdout, /close\(\) rates from a run with probes are not comparable with a run without/);
});

test('compare refuses runs with and without probes: their close() rates are not comparable', (t) => {
  const dir = tempDir(t);
  const a = path.join(dir, 'a.json');
  const b = path.join(dir, 'b.json');
  assert.equal(runCli(['--cores', '1', '--iterations', '200', '--json', a, '--quiet']).code, 0);
  assert.equal(runCli(['--cores', '1', '--iterations', '200', '--probe', 'shutdown', '--json', b, '--quiet']).code, 0);
  const r = runCli(['compare', a, b]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /differ in --probe \(none vs shutdown\): close\(\) rates with and without probes \(or with other probes\) are not comparable/);
});

test('the accept probe: Linux hands over a connection whose client reset before accept()', (t) => {
  const json = path.join(tempDir(t), 'r.json');
  const r = runCli(['--cores', '1', '--iterations', '500', '--probe', 'accept', '--json', json, '--quiet']);
  assert.equal(r.code, 0, r.stderr);
  assertValid('result', r.result);
  const s = r.result.steps[0];
  assert.equal(s.calls.accept.ok + sum(s.calls.accept.errors), 500);
  if (process.platform === 'linux') assert.equal(s.calls.accept.ok, 500);
  assert.equal(s.posix.accept.section, 'XSH accept()');
  assert.match(r.stdout, /probes, on the victim/);
});

test('a skew sweep on two threads draws the window: shutdown() ENOTCONN rises from near 0 to most trials, and the achieved skew is reported within 350 ns of the requested value', (t) => {
  const json = path.join(tempDir(t), 'r.json');
  const r = runCli(['--cores', '1', '--iterations', '3000', '--race', 'cross-thread', '--probe', 'shutdown',
    '--skew', '-1us:6us:1us', '--json', json, '--quiet']);
  assert.equal(r.code, 0, r.stderr);
  assertValid('result', r.result);
  const s = r.result.steps[0];
  assert.equal(s.skew.mode, 'sweep');
  assert.deepEqual(s.skew.points.map((p) => p.askedNs), [-1000, 0, 1000, 2000, 3000, 4000, 5000, 6000]);
  const rate = (p) => (p.calls.shutdown.errors.ENOTCONN ?? 0) / p.trials;
  const rates = s.skew.points.map(rate);
  assert.ok(rates[0] < 0.05, `at -1us: ${rates[0]}`);
  assert.ok(Math.max(...rates) > 0.5, `rates ${rates.join(', ')}`);
  for (const p of s.skew.points) {
    // The achieved skew follows the asked one (spin-waits, not sleeps): here
    // the median lands 10-250 ns early, so 350 ns holds on a loaded machine
    // and still catches a report shifted by half a microsecond.
    assert.ok(Math.abs(p.achievedMedianNs - p.askedNs) < 350, `asked ${p.askedNs}, achieved ${p.achievedMedianNs}`);
    assert.equal(p.achieved.medianNs, p.achievedMedianNs);
    assert.ok(p.achieved.p10Ns <= p.achieved.medianNs && p.achieved.medianNs <= p.achieved.p90Ns, JSON.stringify(p.achieved));
    assert.equal(p.achieved.samples, p.trials, 'one skew sample per trial');
    assert.equal(p.calls.close.ok + sum(p.calls.close.errors), p.trials);
  }
  assert.equal(s.trials, 8 * 3000);
  assert.equal(s.calls.close.ok + sum(s.calls.close.errors), s.trials, 'close() stays accounted for at every skew');
  assert.match(r.stdout, /skew sweep: share of calls that failed/);
});

test('auto skew picks the point whose failure share is nearest one half, then runs the step there', (t) => {
  const json = path.join(tempDir(t), 'r.json');
  const r = runCli(['--cores', '1', '--iterations', '2000', '--race', 'cross-thread', '--probe', 'shutdown', '--skew', 'auto', '--json', json, '--quiet']);
  assert.equal(r.code, 0, r.stderr);
  assertValid('result', r.result);
  const s = r.result.steps[0];
  assert.equal(s.skew.mode, 'auto');
  const final = s.skew.points.filter((p) => !p.search);
  assert.equal(final.length, 1);
  assert.equal(final[0].askedNs, s.skew.chosenNs);
  assert.equal(s.trials, 2000);
  const searched = s.skew.points.filter((p) => p.search);
  const chosen = searched.find((p) => p.askedNs === s.skew.chosenNs);
  assert.ok(chosen, 'the chosen skew is one the search tried');
  // Worked out here, not with the module's own scoring: the share of shutdown()
  // calls that failed, and its distance from one half.
  const share = (p) => sum(p.calls.shutdown.errors) / (p.calls.shutdown.ok + sum(p.calls.shutdown.errors));
  const nearest = Math.min(...searched.map((p) => Math.abs(share(p) - 0.5)));
  assert.equal(Math.abs(share(chosen) - 0.5), nearest, `chose ${chosen.askedNs} ns (share ${share(chosen)}); shares ${searched.map((p) => `${p.askedNs}:${share(p).toFixed(2)}`).join(' ')}`);
});

test('probe and skew flags parse as documented', () => {
  assert.deepEqual(parseProbes('all'), ['shutdown', 'send', 'recv', 'sockerror', 'accept']);
  assert.deepEqual(parseProbes('recv,shutdown'), ['shutdown', 'recv']);
  assert.throws(() => parseProbes('close'), /--probe takes/);
  assert.throws(() => parseProbes('send,send'), /twice/);
  assert.equal(parseNs('300ns', '--skew'), 300);
  assert.equal(parseNs('-2us', '--skew'), -2000);
  assert.equal(parseNs('1.5us', '--skew'), 1500);
  assert.equal(parseNs('0', '--skew'), 0);
  assert.throws(() => parseNs('300', '--skew'), /with a unit/);
  assert.throws(() => parseNs('5s', '--skew'), /with a unit/);
  assert.throws(() => parseNs('2ms', '--skew'), /at most 1ms/);
  assert.deepEqual(parseSkew('-2us:2us:100ns'), { kind: 'sweep', fromNs: -2000, toNs: 2000, stepNs: 100 });
  assert.deepEqual(sweepPoints(-200, 200, 100), [-200, -100, 0, 100, 200]);
  assert.throws(() => parseSkew('2us:-2us:100ns'), /must go up/);
  assert.throws(() => parseSkew('0:1us:0ns'), /step must be positive/);
  assert.equal(windowCall(['accept', 'recv']), 'recv');
  assert.equal(windowCall([]), 'close');
});

test('a negative --skew on one thread (same-thread) is a usage error: the victim close always follows the reset', () => {
  for (const skew of ['-300ns', '-1us:1us:500ns']) {
    const r = runCli(['--skew', skew, '--iterations', '10']);
    assert.equal(r.code, 2, skew);
    assert.match(r.stderr, /^close-stress: error: --skew below 0 needs --race cross-thread/);
  }
});

test('same-thread skew: a spin between the resetting and the victim close, swept and recorded as achieved', (t) => {
  const json = path.join(tempDir(t), 'r.json');
  const r = runCli(['--cores', '1', '--iterations', '400', '--skew', '0:40us:20us', '--json', json, '--quiet']);
  assert.equal(r.code, 0, r.stderr);
  assertValid('result', r.result);
  const s = r.result.steps[0];
  assert.equal(r.result.options.race, 'same-thread');
  assert.deepEqual(s.skew.points.map((p) => p.askedNs), [0, 20_000, 40_000]);
  const achieved = s.skew.points.map((p) => p.achievedMedianNs);
  // Achieved = the resetting close's own time plus the spin: never below the asked delay.
  for (const [i, p] of s.skew.points.entries()) {
    assert.ok(achieved[i] >= p.askedNs, `asked ${p.askedNs}, achieved ${achieved[i]}`);
    assert.ok(achieved[i] < p.askedNs + 1_000_000, `asked ${p.askedNs}, achieved ${achieved[i]}`);
    assert.equal(p.trials, 400);
    assert.ok(p.achieved.samples >= 390, `samples ${p.achieved.samples}`);
  }
  assert.ok(achieved[0] > 0, 'the resetting close takes time: the victim starts after it');
  assert.match(r.stdout, /skew sweep: share of calls that failed/);
});

test('same-thread --skew auto searches only delays of the victim close', (t) => {
  const json = path.join(tempDir(t), 'r.json');
  const r = runCli(['--cores', '1', '--iterations', '500', '--skew', 'auto', '--json', json, '--quiet']);
  assert.equal(r.code, 0, r.stderr);
  const s = r.result.steps[0];
  assert.equal(s.skew.mode, 'auto');
  assert.ok(s.skew.points.length > 5);
  assert.ok(s.skew.points.every((p) => p.askedNs >= 0), s.skew.points.map((p) => p.askedNs).join(','));
  assert.ok(s.skew.chosenNs >= 0);
});

test('the achieved skew of a 50 us request reads about 50 us, not the 10 us edge of the fine range', (t) => {
  const json = path.join(tempDir(t), 'r.json');
  const r = runCli(['--cores', '1', '--iterations', '500', '--race', 'cross-thread', '--skew', '50us', '--json', json, '--quiet']);
  assert.equal(r.code, 0, r.stderr);
  assertValid('result', r.result);
  const [point] = r.result.steps[0].skew.points;
  // The spin guarantees the asked delay after the barrier; log buckets beyond
  // 10 us are 1/16 octave wide. (A resetter descheduled on a loaded machine
  // starts late: that moves some samples, not the median of most.)
  assert.ok(point.achievedMedianNs >= 45_000 && point.achievedMedianNs < 100_000, `50us: achieved ${point.achievedMedianNs}`);
  assert.doesNotMatch(r.stdout, /\b10000ns\b/, 'the edge of the fine range is never printed as a measurement');
  assert.match(r.stdout, /\n\s*50\.0us\s+[0-9.]+us/, 'the asked and achieved skews print in us');
});

test('achieved-skew quantiles: 10 ns resolution within +-10 us, log buckets beyond, overflow shown as a bound', async () => {
  const { skewStats } = await import('../dist/tally/tally.js');
  const { native } = await import('../dist/core/native.js');
  const layout = native().layout();
  const linear = new Array(layout.skewBuckets).fill(0);
  const below = new Array(layout.latencyBuckets).fill(0);
  const above = new Array(layout.latencyBuckets).fill(0);
  const lows = layout.latencyBucketLows;
  const far = { below, above, lows };
  linear[layout.skewHalf + 150] = 10; // 1500..1510 ns
  assert.deepEqual(skewStats(linear, layout.skewBucketNs, layout.skewHalf, far), { samples: 10, medianNs: 1500, p10Ns: 1500, p90Ns: 1500 });
  linear.fill(0);
  const b50us = lows.findLastIndex((low) => low <= 50_000);
  above[b50us] = 10;
  const s = skewStats(linear, layout.skewBucketNs, layout.skewHalf, far);
  assert.ok(Math.abs(s.medianNs - 50_000) < 50_000 / 16, `median ${s.medianNs}`);
  const bNeg = lows.findLastIndex((low) => low <= 2_000_000);
  below[bNeg] = 30;
  assert.ok(skewStats(linear, layout.skewBucketNs, layout.skewHalf, far).medianNs < -1_800_000);
  below.fill(0);
  above.fill(0);
  above[lows.length - 1] = 1;
  const over = skewStats(linear, layout.skewBucketNs, layout.skewHalf, far);
  assert.deepEqual(over.beyond, { samples: 1, beyondNs: lows[lows.length - 1] });
});

test('--skew auto maximises hits per second where there are hits (injected here), and names the objective', async (t) => {
  const { buildShim } = await import('./helpers/cli.mjs');
  const { hitsPerSec } = await import('../dist/measure/skew.js');
  const json = path.join(tempDir(t), 'r.json');
  const r = runCli(['--cores', '1', '--iterations', '500', '--skew', 'auto', '--json', json, '--quiet'], {
    env: { LD_PRELOAD: buildShim(), CLOSE_SHIM_INJECT_EVERY: '3' },
  });
  assert.equal(r.code, 0, r.stderr);
  assertValid('result', r.result);
  const s = r.result.steps[0];
  assert.equal(s.skew.objective, 'hits/s');
  const searched = s.skew.points.filter((p) => p.search);
  const rate = (p) => hitsPerSec(p.calls, p.elapsedNs);
  const best = Math.max(...searched.map(rate));
  assert.ok(best > 0);
  assert.equal(rate(searched.find((p) => p.askedNs === s.skew.chosenNs)), best);
  assert.match(r.stdout, /chosen by hits\/s/);
});

test('--skew auto with --fail-on aims at the --fail-on outcomes (injected here) and saves which target it used', async (t) => {
  const { buildShim } = await import('./helpers/cli.mjs');
  const { hitsPerSec } = await import('../dist/measure/skew.js');
  const json = path.join(tempDir(t), 'r.json');
  const r = runCli(['--cores', '1', '--iterations', '500', '--skew', 'auto', '--fail-on', 'ECONNRESET', '--json', json, '--quiet'], {
    env: { LD_PRELOAD: buildShim(), CLOSE_SHIM_INJECT_EVERY: '3' },
  });
  assert.equal(r.code, 1, `the injected ECONNRESETs make the bisect verdict bad: ${r.stderr}`);
  assertValid('result', r.result);
  assert.deepEqual(r.result.options.failOn, [{ call: 'close', errno: 'ECONNRESET' }]);
  const s = r.result.steps[0];
  assert.equal(s.skew.target, '--fail-on close:ECONNRESET');
  assert.equal(s.skew.objective, 'hits/s of --fail-on close:ECONNRESET');
  const searched = s.skew.points.filter((p) => p.search);
  const rate = (p) => hitsPerSec(p.calls, p.elapsedNs, r.result.options.failOn);
  assert.equal(rate(searched.find((p) => p.askedNs === s.skew.chosenNs)), Math.max(...searched.map(rate)));
  assert.match(r.stdout, /chosen by hits\/s of --fail-on close:ECONNRESET/);
});

test('--skew auto with no hit anywhere falls back to a named proxy, never silently', (t) => {
  const json = path.join(tempDir(t), 'r.json');
  const r = runCli(['--cores', '1', '--iterations', '500', '--skew', 'auto', '--json', json, '--quiet']);
  assert.equal(r.code, 0, r.stderr);
  const s = r.result.steps[0];
  if (s.skew.points.some((p) => s.posix.close.outside > 0 || Object.keys(p.calls.close.errors).length > 0)) return; // a kernel with the race
  assert.match(s.skew.objective, /^none: no point had a close\(\) error outside POSIX and no probe ran/);
  assert.match(r.stdout, /chosen by none: no point had a close\(\) error outside POSIX/);
});

test('the auto grid is log-spaced from 100 ns to 100 us, refined around the best point or across the proxy\'s edge', async () => {
  const { searchGrid, refineAround, refineEdge } = await import('../dist/measure/skew.js');
  assert.deepEqual(searchGrid(true), [0, 100, 200, 500, 1000, 2000, 5000, 10_000, 20_000, 50_000, 100_000]);
  const cross = searchGrid(false);
  assert.equal(cross.length, 21);
  assert.deepEqual([cross[0], cross[10], cross[20]], [-100_000, 0, 100_000]);
  assert.deepEqual(refineAround(20_000, searchGrid(true)), [15_000, 17_500, 27_500, 35_000]);
  assert.deepEqual(refineEdge([[1000, 0.004], [2000, 0.98], [5000, 0.99]]), [1250, 1500, 1750]);
  assert.deepEqual(refineEdge([[0, 0], [100, 0]]), []);
});
