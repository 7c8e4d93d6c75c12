// compare is honest under drift: with repeats, a difference counts only beyond the repeats' own spread.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { stepResult } from '../dist/result/result.js';
import { quasiBinomialTest } from '../dist/common/stats.js';
import { runCli, tempDir } from './helpers/cli.mjs';
import { assertValid } from './helpers/schema.mjs';

const close = (actual, expected, rel, what) =>
  assert.ok(Math.abs(actual - expected) <= rel * Math.abs(expected), `${what}: ${actual} is not ${expected} (within ${rel})`);

// Reference values from R 4.2.2 (Debian r-base-core, installed here with apt-get):
//   m <- glm(cbind(k, n - k) ~ g, family = quasibinomial, control = glm.control(epsilon = 1e-15, maxit = 100))
//   anova(m, test = "F")$"Pr(>F)"[2]; summary(m)$dispersion
// (the tight epsilon: at R's default 1e-8 its fitted rates, and so the dispersion, stop ~2e-5 short of exact).
const R = [
  { what: 'drift, mean moved less than the drift', a: [[100, 1e5], [500, 1e5], [200, 1e5], [400, 1e5], [300, 1e5]], b: [[560, 1e5], [120, 1e5], [440, 1e5], [220, 1e5], [360, 1e5]], disp: 86.650443711107471, p: 0.71344604207314255 },
  { what: 'drift, same mean', a: [[100, 1e5], [500, 1e5], [200, 1e5], [400, 1e5], [300, 1e5]], b: [[500, 1e5], [100, 1e5], [400, 1e5], [200, 1e5], [340, 1e5]], disp: 83.022930031636591, p: 0.93840050071728354 },
  { what: 'a real shift beyond the drift', a: [[250, 1e5], [330, 1e5], [300, 1e5], [280, 1e5], [340, 1e5]], b: [[600, 1e5], [520, 1e5], [650, 1e5], [580, 1e5], [610, 1e5]], disp: 4.1854176328080266, p: 4.7350209932522115e-06 },
  { what: 'unequal repeats and trials', a: [[12, 2e5], [30, 3e5], [7, 1e5]], b: [[40, 2e5], [55, 2e5], [61, 3e5], [38, 2e5]], disp: 1.3738339647950917, p: 0.0024304717453174198 },
  { what: 'a doubling, three repeats each', a: [[3000, 1e6], [3100, 1e6], [2950, 1e6]], b: [[6000, 1e6], [6200, 1e6], [5900, 1e6]], disp: 2.9152154609013659, p: 5.3108189616178543e-06 },
];
for (const { what, a, b, disp, p } of R) {
  test(`quasi-binomial test over repeats (${what}) gives R's glm/anova F p = ${p}, dispersion ${disp.toFixed(2)}`, () => {
    const q = quasiBinomialTest(a, b);
    close(q.dispersion, disp, 1e-9, 'dispersion');
    close(q.pValue, p, 1e-7, 'p');
    assert.equal(q.df, a.length + b.length - 2);
  });
}

test('repeats that agree more closely than binomial counts do give no more confidence than binomial (dispersion floored at 1)', () => {
  // Dispersion well below 1: R would divide by it; this test never does.
  const a = [[300, 1e5], [300, 1e5], [301, 1e5]];
  const b = [[340, 1e5], [341, 1e5], [340, 1e5]];
  const q = quasiBinomialTest(a, b);
  assert.ok(q.dispersion < 0.01);
  // With dispersion 1, F is the binomial deviance of the group difference. R 4.2.2:
  //   dev <- anova(glm(cbind(k, n - k) ~ g, family = binomial))$Deviance[2]   # 7.5211479478211309
  //   pf(dev, 1, 4, lower.tail = FALSE)                                        # 0.051773692248895373
  close(q.pValue, 0.051773692248895373, 1e-7, 'p with dispersion 1');
  assert.deepEqual(quasiBinomialTest([[0, 10], [0, 10]], [[0, 10], [0, 10]]), { pValue: 1, dispersion: 1, df: 2 });
});

/** A saved run of one 4-core step with per-repeat counts: ECONNRESET `k` of 1e5 per repeat, shutdown ENOTCONN `probe` per repeat. */
function repeatedRun(k, probe = k, startedAt = '2026-01-01T00:00:00.000Z') {
  const n = 100_000;
  const calls = (e, pe) => ({
    close: { ok: n - e, errors: e ? { ECONNRESET: e } : {} },
    resetClose: { ok: n, errors: {} },
    shutdown: { ok: n - pe, errors: pe ? { ENOTCONN: pe } : {} },
  });
  const per = k.map((e, i) => calls(e, probe[i]));
  const sum = (f) => per.reduce((a, c) => a + f(c), 0);
  const total = calls(sum((c) => c.close.errors.ECONNRESET ?? 0), sum((c) => c.shutdown.errors.ENOTCONN ?? 0));
  for (const c of ['close', 'resetClose', 'shutdown']) total[c].ok = sum((x) => x[c].ok);
  const tally = {
    cores: 4, threads: 4, oversubscribed: false, trials: n * k.length, elapsedNs: 10e9, calls: total,
    setupFailures: {}, setupFailed: 0, strangers: 0, victimFd: { released: 0, retained: 0, reused: 0 },
    lanes: [], interrupted: false, probes: ['shutdown'], probeSetupFailures: {},
    latency: { close: { ok: { unit: 'ns', scheme: 'log-linear-16', counts: [] }, error: { unit: 'ns', scheme: 'log-linear-16', counts: [] } } },
    repeats: { trialsPerSec: k.map(() => 10_000), calls: per },
  };
  return {
    schema: 'close-stress/result', schemaVersion: 1, status: 'completed',
    options: { cores: [4], iterations: n, race: 'same-thread', resetSide: 'server', family: 4, probes: ['shutdown'], skew: { kind: 'none' }, repeat: k.length, force: false, quiet: true, logLevel: 'warn' },
    race: { shape: 'same-thread', resetSide: 'server', victim: 'client' },
    environment: { os: { type: 'FreeBSD', release: '14.1' }, tool: { name: 'close-stress', version: '0.1.0' }, hostname: 'h' },
    startedAt, finishedAt: startedAt, steps: [stepResult(tally)],
  };
}

function compare(t, base, next) {
  const dir = tempDir(t);
  const files = [base, next].map((r, i) => {
    const f = path.join(dir, `${i}.json`);
    writeFileSync(f, JSON.stringify(r));
    return f;
  });
  const out = path.join(dir, 'cmp.json');
  const r = runCli(['compare', ...files, '--json', out]);
  assert.equal(r.code, 0, r.stderr);
  const cmp = JSON.parse(readFileSync(out, 'utf8'));
  assertValid('compare', cmp);
  return { stdout: r.stdout, cmp };
}

test('per-repeat rates that drift while the mean barely moves are not called significant, close and probe rows alike', (t) => {
  const drift = [100, 500, 200, 400, 300];
  const later = [560, 120, 440, 220, 360];
  const { stdout, cmp } = compare(t, repeatedRun(drift), repeatedRun(later, later, '2026-01-02T00:00:00.000Z'));
  const [c] = cmp.cores;
  for (const row of c.rows) {
    assert.equal(row.test, 'quasi-binomial', `${row.call}:${row.outcome}`);
    assert.equal(row.significant, false, `${row.call}:${row.outcome} is within the drift`);
  }
  const main = c.rows.find((r) => r.call === 'close' && r.outcome === 'outside POSIX');
  assert.ok(main.fisherPValue < 0.001, 'Fisher alone, blind to the drift, would have called it');
  const probe = c.rows.find((r) => r.call === 'shutdown' && r.outcome === 'ENOTCONN');
  assert.ok(probe.dispersion > 10);
  assert.equal(c.judgement, 'no significant change');
  assert.match(stdout, /within the run-to-run drift of the repeats/);
  assert.match(stdout, /quasi-binomial F test over the repeats/);
  assert.doesNotMatch(stdout, /drift is not accounted for/);
});

test('a real shift beyond the drift is significant, close and probe rows alike', (t) => {
  const { cmp } = compare(t, repeatedRun([250, 330, 300, 280, 340]), repeatedRun([600, 520, 650, 580, 610], [600, 520, 650, 580, 610], '2026-01-02T00:00:00.000Z'));
  const [c] = cmp.cores;
  const main = c.rows.find((r) => r.call === 'close' && r.outcome === 'outside POSIX');
  const probe = c.rows.find((r) => r.call === 'shutdown' && r.outcome === 'ENOTCONN');
  for (const row of [main, probe]) {
    assert.equal(row.test, 'quasi-binomial');
    assert.equal(row.significant, true);
    close(row.pValue, 4.7350209932522115e-06, 1e-7, 'p as R computes it');
  }
  assert.equal(c.judgement, 'WORSE');
});

test('without repeats compare says run-to-run drift is not accounted for and recommends --repeat', (t) => {
  const one = (k, at) => {
    const r = repeatedRun([k], [k], at);
    delete r.steps[0].repeats;
    delete r.steps[0].throughput;
    return r;
  };
  const { stdout, cmp } = compare(t, one(300), one(400, '2026-01-02T00:00:00.000Z'));
  assert.ok(cmp.cores[0].rows.every((r) => r.test === 'fisher'));
  assert.match(stdout, /warning: run-to-run drift is not accounted for at 4 cores: .*--repeat 5/);
});

test('a --repeat run keeps each repeat\'s counts in the result, and they add up to the step\'s', (t) => {
  const json = path.join(tempDir(t), 'r.json');
  const r = runCli(['--cores', '1', '--iterations', '400', '--repeat', '3', '--probe', 'shutdown', '--json', json, '-q']);
  assert.equal(r.code, 0, r.stderr);
  assertValid('result', r.result);
  const [s] = r.result.steps;
  assert.equal(s.repeats.calls.length, 3);
  for (const call of ['close', 'resetClose', 'shutdown']) {
    assert.equal(s.repeats.calls.reduce((a, c) => a + c[call].ok, 0), s.calls[call].ok, `${call} ok`);
  }
  assert.equal(s.repeats.calls.reduce((a, c) => a + c.close.ok + Object.values(c.close.errors).reduce((x, y) => x + y, 0), 0), 1200);
});
