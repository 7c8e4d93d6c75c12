// A verdict never contradicts the line above it: closes that stayed within
// POSIX prove nothing when the kernel counted no RST to race them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { stepResult } from '../dist/result/result.js';
import { renderTable, verdictLine } from '../dist/report/report.js';
import { renderHtml } from '../dist/html/html.js';
import { bin, buildShim, tempDir } from './helpers/cli.mjs';
import { assertValid } from './helpers/schema.mjs';

const LINUX = { type: 'Linux', release: '6.18.44' };
const hist = (counts) => ({ unit: 'ns', scheme: 'log-linear-16', counts });

function tally({ cores = 1, closes = 1000, rsts = closes, econnreset = 0, kernel } = {}) {
  return {
    cores, threads: cores, oversubscribed: false, trials: closes, elapsedNs: 1e9,
    calls: { close: { ok: closes - econnreset, errors: econnreset ? { ECONNRESET: econnreset } : {} }, resetClose: { ok: closes, errors: {} } },
    setupFailures: {}, setupFailed: 0, strangers: 0, victimFd: { released: econnreset, retained: 0, reused: 0 },
    lanes: [], interrupted: false, probes: [], probeSetupFailures: {},
    latency: { close: { ok: hist([[640, closes - econnreset]]), error: hist(econnreset ? [[2048, econnreset]] : []) } },
    kernel: kernel ?? {
      source: '/proc/net/snmp Tcp + /proc/net/netstat TcpExt', scope: 'machine', reads: 1,
      deltas: { OutRsts: rsts }, rstCounter: { name: 'OutRsts', meaning: 'segments sent with the RST flag' },
    },
  };
}

function run(steps) {
  return {
    schema: 'close-stress/result', schemaVersion: 1, status: 'completed',
    options: { cores: steps.map((s) => s.cores), iterations: 1000, race: 'same-thread', resetSide: 'server', family: 4, probes: [], skew: { kind: 'none' }, repeat: 1, force: false, quiet: true, logLevel: 'warn' },
    race: { shape: 'same-thread', resetSide: 'server', victim: 'client' },
    environment: { os: LINUX, cpu: { model: 'x', online: 2, allowed: [0, 1], canPin: true }, tool: { name: 'close-stress', version: '0.1.0' } },
    startedAt: '2026-01-01T00:00:00.000Z', finishedAt: '2026-01-01T00:01:00.000Z', steps,
  };
}

test('a step whose RST counter shows no RST reads "unverified" with the reason, not a plain verdict', () => {
  const s = stepResult(tally({ rsts: 0 }), LINUX);
  assert.equal(s.closeVerdict.verdict, 'unverified');
  assert.match(s.closeVerdict.reason, /the kernel counted 0\.00 OutRsts per resetting close: the RST injection did not happen/);
  const r = run([s]);
  const line = verdictLine(r);
  assert.match(line, /^verdict: unverified: 1-core step: the kernel counted 0\.00 OutRsts per resetting close/);
  assert.doesNotMatch(renderTable(r), /stayed within POSIX/);
  assert.match(renderHtml([r]), /class="verdict bad">unverified: 1-core step/);
});

test('a step counted with RSTs gets the plain verdict', () => {
  const s = stepResult(tally({ rsts: 1000 }), LINUX);
  assert.deepEqual(s.closeVerdict, { verdict: 'within POSIX' });
  assert.match(verdictLine(run([s])), /^verdict: close\(\) stayed within POSIX \(EBADF, EINTR, EIO, EINPROGRESS\) in all 1,000 victim closes\.$/);
});

test('counters that are unavailable (or would be mislabelled) leave the verdict unverified, naming why', () => {
  const kernel = { source: 'sysctl net.inet.tcp.stats', scope: 'machine', deltas: {}, unavailable: '1000 bytes from a FreeBSD 13 kernel (kern.osreldate 1305000) match no known layout (904 bytes)' };
  const s = stepResult(tally({ kernel }), LINUX);
  assert.equal(s.closeVerdict.verdict, 'unverified');
  assert.match(s.closeVerdict.reason, /kernel counters unavailable \(1000 bytes from a FreeBSD 13 kernel .*\), so the RSTs are not proven/);
  assert.match(renderTable(run([s])), /kernel counters unavailable: 1000 bytes from a FreeBSD 13 kernel/);
});

test('with verified and unverified steps, the verdict covers only the verified ones and names the rest', () => {
  const r = run([stepResult(tally({ cores: 1 }), LINUX), stepResult(tally({ cores: 2, rsts: 10 }), LINUX)]);
  assert.match(verdictLine(r), /^verdict: close\(\) stayed within POSIX in all 1,000 victim closes of the 1-core steps; unverified: 2-core step: the kernel counted 0\.01 OutRsts/);
});

test('an errno outside POSIX is a verdict by itself, RSTs counted or not', () => {
  const s = stepResult(tally({ rsts: 0, econnreset: 7 }), LINUX);
  assert.equal(s.closeVerdict.verdict, 'outside POSIX');
  assert.match(verdictLine(run([s])), /^verdict: close\(\) returned errors POSIX does not allow \(ECONNRESET\) in 7 of 1,000/);
});

// A network namespace of the test's own has its own TCP counters: nothing else
// on the machine can add RSTs to them.
const ownNetns = process.platform === 'linux' && spawnSync('unshare', ['-n', 'sh', '-c', 'ip link set lo up']).status === 0;
const inNetns = (args, env = {}) => spawnSync('unshare', ['-n', 'sh', '-c', 'ip link set lo up && exec "$@"', 'sh', process.execPath, bin, ...args],
  { encoding: 'utf8', env: { ...process.env, ...env } });

test('a real run in a private namespace, where the RSTs are counted, gives the plain verdict', { skip: !ownNetns && 'needs unshare -n and ip (root, iproute2)' }, (t) => {
  const json = path.join(tempDir(t), 'r.json');
  const r = inNetns(['--cores', '1', '--iterations', '2000', '--quiet', '--json', json]);
  assert.equal(r.status, 0, r.stderr);
  const result = JSON.parse(readFileSync(json, 'utf8'));
  assertValid('result', result);
  assert.equal(result.steps[0].kernel.deltas.OutRsts, 2000);
  assert.deepEqual(result.steps[0].closeVerdict, { verdict: 'within POSIX' });
  assert.match(r.stdout, /\nverdict: close\(\) stayed within POSIX \(EBADF, EINTR, EIO, EINPROGRESS\) in all 2,000 victim closes\.\n/);
});

test('a real run whose RSTs never went out (SO_LINGER dropped by a shim) reads unverified', { skip: !ownNetns && 'needs unshare -n and ip (root, iproute2)' }, (t) => {
  const json = path.join(tempDir(t), 'r.json');
  const r = inNetns(['--cores', '1', '--iterations', '2000', '--quiet', '--json', json], { LD_PRELOAD: buildShim(), CLOSE_SHIM_NO_LINGER: '1' });
  assert.equal(r.status, 0, r.stderr);
  const [s] = JSON.parse(readFileSync(json, 'utf8')).steps;
  assert.equal(s.kernel.deltas.OutRsts, 0);
  assert.equal(s.closeVerdict.verdict, 'unverified');
  assert.match(r.stdout, /\nverdict: unverified: 1-core step: the kernel counted 0\.00 OutRsts per resetting close: the RST injection did not happen/);
  assert.doesNotMatch(r.stdout, /stayed within POSIX/);
});

test('a close-stress-core journal, which records only the deltas, gets the RST check and the plain verdict', (t) => {
  const core = path.resolve(path.dirname(bin), '..', 'native', 'build', 'Release', 'close-stress-core');
  const journal = path.join(tempDir(t), 'core.jsonl');
  const c = spawnSync(core, ['--cores', '1', '--iterations', '2000', '--journal', journal], { encoding: 'utf8' });
  assert.equal(c.status, 0, c.stderr);
  const r = spawnSync(process.execPath, [bin, 'report', journal], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /OutRsts per resetting close: 1 cores/);
  assert.match(r.stdout, /\nverdict: close\(\) stayed within POSIX .* in all 2,000 victim closes\.\n/);
});

test('on FreeBSD a missing RST shows in tcps_drops, not hidden by the SYNs tcps_sndctrl also counts', () => {
  const kernel = { source: 'sysctl net.inet.tcp.stats (struct tcpstat of FreeBSD 15, kern.osreldate 1500068, 1000 bytes)', scope: 'machine', reads: 1,
    deltas: { tcps_drops: 0, tcps_sndctrl: 3000, tcps_closed: 2001 } };
  const s = stepResult(tally({ kernel }), { type: 'FreeBSD', release: '15.0-RELEASE', osreldate: 1500068 });
  assert.equal(s.closeVerdict.verdict, 'unverified');
  assert.match(s.closeVerdict.reason, /0\.00 tcps_drops per resetting close: the RST injection did not happen/);
  const sent = stepResult(tally({ kernel: { ...kernel, deltas: { ...kernel.deltas, tcps_drops: 2000 } } }), { type: 'FreeBSD', release: '15.0-RELEASE' });
  assert.equal(sent.closeVerdict.verdict, 'within POSIX');
});

test('bisect skips (125), never calls good, a commit whose kernel counted no RST for the resets; unreadable counters stay good and say so', async () => {
  const { judge, BISECT_EXIT } = await import('../dist/report/bisect.js');
  const rule = { failOn: [{ call: 'close', errno: 'ECONNRESET' }], above: 0 };
  const noRst = judge(run([stepResult(tally({ rsts: 0 }), LINUX)]), rule);
  assert.equal(noRst.exitCode, BISECT_EXIT.skip);
  assert.match(noRst.reason, /^could not measure: 1 core: the kernel counted 0\.00 OutRsts per resetting close: the RST injection did not happen$/);
  assert.equal(judge(run([stepResult(tally({ rsts: 1000 }), LINUX)]), rule).exitCode, BISECT_EXIT.good);
  const kernel = { source: 'sysctl net.inet.tcp.stats', scope: 'machine', deltas: {}, unavailable: 'no known layout' };
  const unreadable = judge(run([stepResult(tally({ kernel }), LINUX)]), rule);
  assert.equal(unreadable.exitCode, BISECT_EXIT.good);
  assert.match(unreadable.reason, /\(RSTs not proven: kernel counters unavailable \(no known layout\), so the RSTs are not proven\)$/);
  // An ECONNRESET is evidence by itself: bad even without an RST counted.
  assert.equal(judge(run([stepResult(tally({ rsts: 0, econnreset: 3 }), LINUX)]), rule).exitCode, BISECT_EXIT.bad);
});
