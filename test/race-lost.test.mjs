// Races lost that close() does not report, read from FreeBSD 15's tcps_closed:
// the counters are machine-wide, so the interpretation is tested with
// FreeBSD-shaped synthetic deltas, and a real Linux run shows "unavailable".
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { stepResult } from '../dist/result/result.js';
import { mergeTallies } from '../dist/tally/tally.js';
import { renderTable } from '../dist/report/report.js';
import { compareResults, renderComparison } from '../dist/report/compare.js';
import { renderHtml } from '../dist/html/html.js';
import { runCli, tempDir } from './helpers/cli.mjs';
import { assertValid } from './helpers/schema.mjs';

const FREEBSD_15 = { type: 'FreeBSD', release: '15.0-RELEASE', osreldate: 1500068 };
const FREEBSD_13 = { type: 'FreeBSD', release: '13.5-RELEASE', osreldate: 1305000 };
const FREEBSD_14 = { type: 'FreeBSD', release: '14.3-RELEASE', osreldate: 1403000 };
const hist = (counts) => ({ unit: 'ns', scheme: 'log-linear-16', counts });

/** A step of `closes` victim closes on `lanes` lanes whose tcps_closed rose by 2 per close, 1 per lane, plus `extra`. */
function tally({ closes = 1000, lanes = 2, extra = 0, econnreset = 0, probes = [], setupFailed = 0, kernel } = {}) {
  return {
    cores: lanes, threads: lanes, oversubscribed: false, trials: closes + setupFailed, elapsedNs: 1e9,
    calls: { close: { ok: closes - econnreset, errors: econnreset ? { ECONNRESET: econnreset } : {} }, resetClose: { ok: closes, errors: {} } },
    setupFailures: {}, setupFailed, strangers: 0, victimFd: { released: econnreset, retained: 0, reused: 0 },
    lanes: Array.from({ length: lanes }, (_, i) => ({ cpu: i, cpusSeen: [i], resetCpusSeen: [], pinned: true, trials: closes / lanes })),
    interrupted: false, probes, probeSetupFailures: {},
    latency: { close: { ok: hist([[640, closes - econnreset]]), error: hist(econnreset ? [[2048, econnreset]] : []) } },
    kernel: kernel ?? {
      source: 'sysctl net.inet.tcp.stats (struct tcpstat of FreeBSD 15, kern.osreldate 1500068, 1000 bytes)',
      scope: 'machine', reads: 1,
      deltas: { tcps_closed: 2 * closes + lanes + extra, tcps_sndctrl: 3 * closes },
      rstCounter: { name: 'tcps_sndctrl', meaning: 'control segments sent: SYN, FIN and RST together' },
    },
  };
}

function run(steps, os = FREEBSD_15) {
  return {
    schema: 'close-stress/result', schemaVersion: 1, status: 'completed',
    options: { cores: steps.map((s) => s.cores), iterations: 1000, race: 'same-thread', resetSide: 'server', family: 4, probes: [], skew: { kind: 'none' }, repeat: 1, force: false, quiet: true, logLevel: 'warn' },
    race: { shape: 'same-thread', resetSide: 'server', victim: 'client' },
    environment: { os, cpu: { model: 'qemu', online: 8, allowed: [0, 1, 2, 3, 4, 5, 6, 7], canPin: true }, tool: { name: 'close-stress', version: '0.1.0' } },
    startedAt: '2026-01-01T00:00:00.000Z', finishedAt: '2026-01-01T00:01:00.000Z', steps,
  };
}

test('on FreeBSD 15, tcps_closed beyond 2 per victim close and 1 per lane is reported as races lost, with its share and interval', () => {
  const s = stepResult(tally({ closes: 1000, lanes: 2, extra: 340 }), FREEBSD_15);
  assert.equal(s.raceLost.available, true);
  assert.equal(s.raceLost.counter, 'tcps_closed');
  assert.equal(s.raceLost.expected, 2002);
  assert.equal(s.raceLost.lost, 340);
  assert.equal(s.raceLost.share, 0.34);
  assert.ok(s.raceLost.ci95.low < 0.34 && s.raceLost.ci95.high > 0.34);
  assert.match(s.raceLost.caveat, /machine-wide/);
  // The POSIX verdict stays apart: close() returned 0 every time.
  assert.equal(s.closeVerdict.verdict, 'within POSIX');
});

test('a kernel that only closed what the trials account for shows 0 races lost, not unavailable', () => {
  const s = stepResult(tally({ extra: 0 }), FREEBSD_15);
  assert.equal(s.raceLost.available, true);
  assert.equal(s.raceLost.lost, 0);
});

test('merged runs of a step (repeats, skew points) expect each lane\'s listener once per read', () => {
  const merged = mergeTallies([tally({ closes: 1000, lanes: 2, extra: 10 }), tally({ closes: 1000, lanes: 2, extra: 20 })]);
  assert.equal(merged.kernel.reads, 2);
  const s = stepResult(merged, FREEBSD_15);
  assert.equal(s.raceLost.expected, 2 * 2000 + 2 * 2);
  assert.equal(s.raceLost.lost, 30);
});

test('on FreeBSD 13, where close() reports the lost race as ECONNRESET, the counter is unavailable and says why', () => {
  const s = stepResult(tally({ econnreset: 293 }), FREEBSD_13);
  assert.equal(s.raceLost.available, false);
  assert.match(s.raceLost.reason, /close\(\) reports a lost race itself/);
  assert.equal(s.closeVerdict.verdict, 'outside POSIX');
});

test('no figure when it could not be exact: counters unavailable, the accept probe, setup failures, fewer closes than trials', () => {
  const cases = [
    [tally({ kernel: { source: 'sysctl net.inet.tcp.stats', scope: 'machine', deltas: {}, unavailable: '1000 bytes from a FreeBSD 13 kernel match no known layout' } }), /kernel counters unavailable: 1000 bytes/],
    [tally({ probes: ['accept'] }), /accept probe/],
    [tally({ setupFailed: 5 }), /5 trials' setup failed/],
    [tally({ extra: -3 }), /fewer than the 2002 closes/],
    [tally({ extra: 5000 }), /other traffic/],
  ];
  for (const [t, reason] of cases) {
    const s = stepResult(t, FREEBSD_15);
    assert.equal(s.raceLost.available, false);
    assert.match(s.raceLost.reason, reason);
  }
});

test('the report, HTML and compare carry races lost; the verdict line points at them on FreeBSD 15', () => {
  const base = run([stepResult(tally({ closes: 1000, lanes: 1, extra: 340 }), FREEBSD_15)]);
  const next = run([stepResult(tally({ closes: 1000, lanes: 1, extra: 30 }), FREEBSD_15)]);
  const text = renderTable(base);
  assert.match(text, /kernel: FreeBSD 15\.0-RELEASE \(kern\.osreldate 1500068\); close\(\) when the RST wins the race: 0 even when the race is lost/);
  assert.match(text, /race lost \(kernel counter: tcps_closed beyond the closes the trials account for; machine-wide.*\): 1 cores 340 of 1,000 \(34\.0%/);
  assert.match(text, /verdict: close\(\) stayed within POSIX .* On FreeBSD 15\.0-RELEASE .* returns 0 even when the race is lost: see "race lost \(kernel counter\)" above\./);
  assert.match(renderHtml([base]), /Race lost \(kernel counter\), apart from the POSIX verdict/);
  const cmp = compareResults(base, next);
  assertValid('compare', cmp);
  const row = cmp.cores[0].rows.find((r) => r.outcome === 'race lost (kernel counter)');
  assert.equal(row.base.events, 340);
  assert.equal(row.new.events, 30);
  assert.ok(row.significant);
  assert.match(renderComparison(cmp), /close:race lost \(kernel counter\)/);
});

test('on FreeBSD 14.x, whose point release decides whether close() still reports the race, the verdict says close() may return 0, not that it does', () => {
  const text = renderTable(run([stepResult(tally({ closes: 1000, lanes: 1, extra: 12 }), FREEBSD_14)], FREEBSD_14));
  assert.match(text, /kernel: FreeBSD 14\.3-RELEASE \(kern\.osreldate 1403000\); close\(\) when the RST wins the race: ECONNRESET or 0, depending on the 14\.x point/);
  assert.match(text, /On FreeBSD 14\.3-RELEASE .* may return 0 even when the race is lost \(ECONNRESET or 0, depending on the 14\.x point \(not pinned\)\): see "race lost \(kernel counter\)" above\./);
  assert.doesNotMatch(text, /returns 0 even when the race is lost/);
  assert.match(text, /race lost \(kernel counter.*\): 1 cores 12 of 1,000/);
});

test('a journal carries the raw deltas: its report shows races lost', (t) => {
  const dir = tempDir(t);
  const r = run([]);
  const header = { type: 'run', schema: 'close-stress/journal', schemaVersion: 1, tool: r.environment.tool, options: r.options, race: r.race, environment: r.environment, startedAt: r.startedAt };
  const file = path.join(dir, 'run.jsonl');
  writeFileSync(file, [header, { type: 'step', step: tally({ closes: 1000, lanes: 1, extra: 110 }) }, { type: 'end', status: 'completed', finishedAt: r.finishedAt }]
    .map((l) => JSON.stringify(l)).join('\n') + '\n');
  const out = runCli(['report', file]);
  assert.equal(out.code, 0, out.stderr);
  assert.match(out.stdout, /race lost \(kernel counter: tcps_closed .*\): 1 cores 110 of 1,000 \(11\.0%/);
});

test('a real run on Linux says races lost are unavailable and why, in the table and the JSON', { skip: process.platform !== 'linux' && 'Linux only' }, (t) => {
  const json = path.join(tempDir(t), 'r.json');
  const r = runCli(['--cores', '1', '--iterations', '2000', '--quiet', '--json', json]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /race lost \(kernel counter\): unavailable: Linux has no such counter/);
  const result = JSON.parse(readFileSync(json, 'utf8'));
  assertValid('result', result);
  assert.equal(result.steps[0].raceLost.available, false);
  assert.match(result.steps[0].raceLost.reason, /Linux has no such counter/);
});
