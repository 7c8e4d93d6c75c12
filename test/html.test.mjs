import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderHtml, histogramPercentiles, bucketUpperBound } from '../dist/html/html.js';
import { stepResult } from '../dist/result/result.js';
import { compareResults } from '../dist/report/compare.js';

const ROOT = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const CHROMIUM = '/usr/bin/chromium';
const HOSTILE = '<script>window.__pwned = 1</script>"\'&';

/** A histogram in the contract's log-linear-16 format from raw durations. */
function histogram(values) {
  const buckets = new Map();
  for (const v of values) {
    let lower = v;
    if (v >= 16) {
      const k = Math.floor(Math.log2(v));
      const width = 2 ** (k - 4);
      lower = 2 ** k + Math.floor((v - 2 ** k) / width) * width;
    }
    buckets.set(lower, (buckets.get(lower) ?? 0) + 1);
  }
  return { unit: 'ns', scheme: 'log-linear-16', counts: [...buckets].sort((a, b) => a[0] - b[0]) };
}

/** Log-normal durations with a rare slow path, from a fixed seed. */
function durations(n, base) {
  let seed = 42;
  const uniform = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) + 1) / (2 ** 31 + 1);
  return Array.from({ length: n }, (_, i) => {
    const normal = Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
    return Math.round(base * Math.exp(0.45 * normal) * (i % 701 === 0 ? 25 : 1));
  });
}

/** A run with ECONNRESET from close(), latency histograms and a skew curve. */
function syntheticResult(real, scale = 1) {
  const steps = [1, 2, 4].map((cores) => {
    const trials = 200_000;
    const econnreset = cores === 1 ? 0 : Math.round(40 * cores * scale);
    const tally = {
      cores,
      threads: cores,
      oversubscribed: cores > 2,
      trials,
      elapsedNs: (trials / (20_000 * Math.min(cores, 2) * 0.9)) * 1e9,
      calls: {
        close: { ok: trials - econnreset - 3, errors: { ...(econnreset && { ECONNRESET: econnreset }), EINTR: 3 } },
        resetClose: { ok: trials, errors: {} },
      },
      setupFailures: {},
      setupFailed: 0,
      strangers: 0,
      victimFd: { released: econnreset, retained: 0, reused: 0 },
      lanes: [],
      interrupted: false,
    };
    const step = stepResult(tally);
    step.latency = {
      close: {
        ok: histogram(durations(5000, 900 * cores * scale)),
        error: histogram(durations(400, 2500 * cores * scale)),
      },
    };
    step.skew = {
      points: [-2000, -1000, -500, 0, 500, 1000, 2000].map((askedNs) => {
        const peak = Math.round(800 * Math.exp(-((askedNs / 700) ** 2)) * cores * scale);
        return {
          askedNs,
          achievedMedianNs: askedNs + 37,
          calls: {
            close: { ok: 10_000 - peak, errors: peak ? { ECONNRESET: peak } : {} },
            shutdown: { ok: 10_000 - Math.round(peak / 2), errors: peak ? { ENOTCONN: Math.round(peak / 2) } : {} },
          },
        };
      }),
    };
    return step;
  });
  return {
    ...structuredClone(real),
    status: 'interrupted',
    options: { ...real.options, cores: [1, 2, 4], iterations: 200_000 },
    environment: { ...real.environment, cpu: { ...real.environment.cpu, model: `Synthetic ${HOSTILE}` } },
    steps,
  };
}

function realResult() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'close-stress-html-'));
  const file = path.join(dir, 'real.json');
  execFileSync(process.execPath, [path.join(ROOT, 'bin/close-stress.js'), '--cores', '2', '--iterations', '2000', '--json', file, '--quiet'], {
    stdio: 'ignore',
    timeout: 60_000,
  });
  return { dir, result: JSON.parse(readFileSync(file, 'utf8')) };
}

test('percentiles are the upper bound of the bucket holding the rank', () => {
  assert.equal(bucketUpperBound(5), 6);
  assert.equal(bucketUpperBound(16), 17);
  assert.equal(bucketUpperBound(1024), 1088);
  const h = { unit: 'ns', scheme: 'log-linear-16', counts: [[10, 50], [1024, 40], [1088, 9], [65536, 1]] };
  assert.deepEqual(histogramPercentiles(h), {
    count: 100,
    values: { p50: 11, p90: 1088, p99: 1152, 'p99.9': 69632, max: 69632 },
  });
  assert.equal(histogramPercentiles({ unit: 'ns', scheme: 'log-linear-16', counts: [] }), null);
  assert.equal(histogramPercentiles({ unit: 'ns', scheme: 'other', counts: [[1, 1]] }), null);
});

test('the HTML report escapes every string from the result and references nothing outside itself', (t) => {
  const { dir, result } = realResult();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const html = renderHtml([syntheticResult(result)], { title: `t ${HOSTILE}` });
  assert.ok(!html.includes('<script'), 'no script element, not even from the input');
  assert.ok(html.includes('&lt;script&gt;window.__pwned = 1&lt;/script&gt;&quot;&#39;&amp;'));
  assert.doesNotMatch(html, /\b(src|href)=|url\((?!#)|@import|https?:/i);
  assert.throws(() => renderHtml([]), /at least one result/);
  const failed = renderHtml([{ ...result, status: 'failed', error: 'socket: EMFILE', steps: [] }]);
  assert.match(failed, /No step was measured/);
  assert.match(failed, /failed: socket: EMFILE/);
});

test('the HTML report renders its charts in a real browser without touching the network', async (t) => {
  if (!existsSync(CHROMIUM)) {
    t.skip(`${CHROMIUM} is not installed (apt-get install -y chromium); the browser check needs Debian's chromium`);
    return;
  }
  const { chromium } = await import('playwright-core');
  const { dir, result: real } = realResult();
  const keepShots = process.env.CLOSE_STRESS_SCREENSHOTS === '1';
  if (!keepShots) t.after(() => rmSync(dir, { recursive: true, force: true }));
  const synthetic = syntheticResult(real);
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  t.after(() => browser.close());

  const cases = [
    { name: 'real', results: [real] },
    { name: 'synthetic', results: [synthetic] },
    { name: 'compare', results: [real, synthetic] },
    { name: 'compare-synthetic', results: [syntheticResult(real, 0.7), synthetic] },
    { name: 'three-runs', results: [syntheticResult(real, 0.7), synthetic, syntheticResult(real, 1.3)] },
  ];
  for (const { name, results } of cases) {
    const file = path.join(dir, `${name}.html`);
    const comparisons = results.slice(1).map((r) => compareResults(results[0], r));
    writeFileSync(file, renderHtml(results, { comparisons }));
    const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
    const requests = [];
    await context.route('**/*', (route) => {
      if (route.request().url() === `file://${file}`) return route.continue();
      requests.push(route.request().url());
      return route.abort();
    });
    const page = await context.newPage();
    page.on('request', (r) => {
      if (r.url() !== `file://${file}`) requests.push(r.url());
    });
    await page.goto(`file://${file}`);

    const steps = results.flatMap((r) => r.steps);
    // One latency chart per call and outcome that has durations; five percentiles per step in each.
    const histograms = steps.flatMap((s) =>
      Object.entries(s.latency ?? {}).flatMap(([call, outcomes]) =>
        Object.entries(outcomes).filter(([, h]) => h.counts.length > 0).map(([outcome]) => `${call} ${outcome}`),
      ),
    );
    const skewPoints = steps.flatMap((s) => s.skew?.points ?? []);
    const expected = {
      rate: { charts: 1, marks: '.mark', count: steps.filter((s) => s.posix.close.attempts > 0).length },
      throughput: { charts: 1, marks: '.bar', count: steps.length },
      latency: { charts: new Set(histograms).size, marks: '.point', count: histograms.length * 5 },
      skew: {
        charts: new Set(steps.filter((s) => s.skew).map((s) => s.cores)).size,
        marks: '.point',
        count: skewPoints.reduce((a, p) => a + Object.keys(p.calls).length, 0),
      },
    };
    for (const [kind, want] of Object.entries(expected)) {
      const charts = page.locator(`svg[data-chart="${kind}"]`);
      assert.equal(await charts.count(), want.charts, `${name}: ${kind} charts`);
      let marks = 0;
      for (let i = 0; i < want.charts; i++) {
        const chart = charts.nth(i);
        assert.ok(await chart.isVisible(), `${name}: ${kind} chart ${i} visible`);
        assert.equal(await chart.getAttribute('role'), 'img');
        assert.ok((await chart.getAttribute('aria-label')).length > 10);
        const box = await chart.boundingBox();
        assert.ok(box.width > 100 && box.height > 100, `${name}: ${kind} chart ${i} is ${box.width}x${box.height}`);
        marks += await chart.locator(want.marks).count();
      }
      assert.equal(marks, want.count, `${name}: ${kind} ${want.marks}`);
    }
    if (results.includes(synthetic)) {
      assert.equal(await page.evaluate(() => window.__pwned), undefined);
      assert.ok((await page.textContent('body')).includes(HOSTILE));
      assert.ok((await page.locator('svg[data-chart="rate"] .mark.zero').count()) >= 1, 'the zero-event bound is drawn');
    }
    assert.equal(await page.locator('section.comparison').count(), comparisons.length, `${name}: one comparison section per run against the base`);
    for (let i = 0; i < comparisons.length; i++) assert.ok(await page.locator('section.comparison').nth(i).locator('p.verdict').first().isVisible());
    assert.deepEqual(requests, [], `${name}: the report made network requests`);
    // Screenshots are for a person to look at, not checked: kept only when asked for (about a fifth of this test's time).
    if (keepShots) {
      const shot = path.join(dir, `${name}.png`);
      await page.screenshot({ path: shot, fullPage: true });
      t.diagnostic(`screenshot: ${shot}`);
    }
    await context.close();
  }
});

test('the HTML options row reads as the flags that measure the run again, not raw JSON', () => {
  const run = (options) => ({
    schema: 'close-stress/result', schemaVersion: 1, status: 'completed',
    options: { cores: [1, 2], iterations: 5000, race: 'cross-thread', resetSide: 'server', family: 4, probes: [], skew: { kind: 'none' }, repeat: 1, force: false, quiet: true, logLevel: 'warn', ...options },
    race: { shape: 'cross-thread', resetSide: 'server', victim: 'client' },
    environment: { os: { type: 'Linux', release: '6.1', arch: 'x64', version: '#1' }, cpu: { model: 'x', online: 2, allowed: [0, 1], canPin: true }, tool: { name: 'close-stress', version: '0.1.0' }, node: 'v20', hostname: 'h' },
    startedAt: 'a', finishedAt: 'b', steps: [],
  });
  const row = (html) => html.match(/<th scope="row">options<\/th>(.*?)<\/tr>/)[1];
  const plain = row(renderHtml([run({})]));
  assert.equal(plain, '<td>--cores 1,2 --iterations 5000 --race cross-thread --reset-side server --family 4</td>');
  const rich = row(renderHtml([run({ probes: ['shutdown', 'send'], skew: { kind: 'sweep', fromNs: -2000, toNs: 2000, stepNs: 250 }, repeat: 3 })]));
  assert.match(rich, /--probe shutdown,send --skew -2us:2us:250ns --repeat 3/);
  for (const html of [plain, rich]) assert.doesNotMatch(html, /\{|&quot;|probes=|skew=/);
});
