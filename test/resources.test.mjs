// Starved resources: descriptors, ephemeral ports. The run adapts or stops
// with a message that names the limit and the fix; it never hangs or crashes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { runCli, NO_STACK, isRoot, BIN, ROOT } from './helpers/spawn.mjs';

const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'close-stress-res-'));

// What the lane budget promises (src/env/limits.ts): each lane holds 8 descriptors,
// 4 stay free for the run itself, the rest were open before any lane started.
const lanesFitting = (limit, open) => Math.max(0, Math.floor((limit - open - 4) / 8));
const BUDGET = /the descriptor limit \(ulimit -n (\d+)\) leaves room for (\d+) lane\(s\) \((\d+) open, 8 per lane\); raise it with ulimit -n (\d+)/;

/** Checks one budget message's figures; returns them. */
function budgetOf(text, limit) {
  const m = BUDGET.exec(text);
  assert.ok(m, `no lane-budget message in: ${text}`);
  const [, named, lanes, open, raise] = m.map(Number);
  assert.equal(named, limit, 'the message names the limit in force');
  assert.ok(open >= 3 && open < limit, `open descriptors ${open}`);
  assert.equal(lanes, lanesFitting(limit, open));
  return { lanes, open, raise };
}

// The lowest descriptor limit Node loads the tool under grows with the tool's
// modules (the ES module loader opens files concurrently), so the limits below
// are found from it, not written in: LOAD is the lowest one a 1-core run survives.
const loads = (n) => runCli(['--cores', '1', '--iterations', '10', '-q'], { shell: `ulimit -n ${n};`, timeout: 30_000 }).status === 0;
const LOAD = (() => {
  for (let n = 24; n <= 96; n += 2) if (loads(n)) return n;
  return undefined;
})();
const noLoad = LOAD === undefined && 'the tool did not load under any descriptor limit up to 96';

test('at the lowest descriptor limit the tool loads under, the run drops the steps whose lanes do not fit, says so, and records it', { skip: noLoad }, () => {
  const dir = tmp();
  try {
    const json = path.join(dir, 'r.json');
    const r = runCli(['--cores', '4', '--iterations', '500', '-q', '--json', json], { shell: `ulimit -n ${LOAD};`, timeout: 30_000 });
    assert.equal(r.signal, null, 'killed: a hang or a crash');
    assert.doesNotMatch(r.stderr, NO_STACK);
    assert.equal(r.status, 0, `a 1-core step fits under ${LOAD} descriptors: ${r.stderr}`);
    const { lanes, raise } = budgetOf(r.stdout, LOAD);
    assert.ok(lanes >= 1 && lanes < 4, `lanes fitting under ${LOAD}: ${lanes}`);
    const ran = [1, 2, 4].filter((c) => c <= lanes);
    const dropped = [1, 2, 4].filter((c) => c > lanes);
    for (const c of dropped) assert.match(r.stdout, new RegExp(`^${c}-core step skipped: the descriptor limit \\(ulimit -n ${LOAD}\\)`, 'm'));
    assert.equal(raise, 64, 'the fix names a limit that fits the 4-core step');
    const result = JSON.parse(readFileSync(json, 'utf8'));
    assert.equal(result.status, 'completed');
    assert.deepEqual(result.steps.map((s) => [s.cores, s.trials]), ran.map((c) => [c, 500]));
    assert.deepEqual(result.skipped.map((s) => s.cores), dropped);
    for (const s of result.skipped) assert.match(s.reason, BUDGET);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('just above that limit a step that does not fit stops the run with one line naming the limit and the fix, and the fix works', { skip: noLoad }, () => {
  for (const n of [LOAD, LOAD + 4]) {
    const r = runCli(['--cores', '4', '--no-sweep', '--iterations', '500', '-q'], { shell: `ulimit -n ${n};`, timeout: 30_000 });
    assert.equal(r.signal, null, `ulimit -n ${n}: killed (hang or crash)`);
    assert.equal(r.status, 1, `ulimit -n ${n}: ${r.stderr}`);
    assert.equal(r.stdout, '');
    const lines = r.stderr.split('\n').filter(Boolean);
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0], /^close-stress: error: the descriptor limit \(ulimit -n \d+\)/);
    const { lanes, open, raise } = budgetOf(lines[0], n);
    assert.ok(lanes < 4);
    assert.ok(lanesFitting(raise, open) >= 4, `ulimit -n ${raise} fits 4 lanes`);
    const fixed = runCli(['--cores', '4', '--no-sweep', '--iterations', '500', '-q'], { shell: `ulimit -n ${raise};`, timeout: 30_000 });
    assert.equal(fixed.status, 0, `with the limit the message names (${raise}): ${fixed.stderr}`);
  }
});

test('below that limit, too low for Node to load the tool, the run stops with one line naming the fix', { skip: noLoad }, () => {
  for (const n of [24, LOAD - 2].filter((x, i, a) => a.indexOf(x) === i && x >= 24)) {
    const r = runCli(['--cores', '2', '--iterations', '500', '-q'], { shell: `ulimit -n ${n};`, timeout: 30_000 });
    assert.equal(r.signal, null, `ulimit -n ${n}: killed (hang or crash)`);
    assert.equal(r.status, 1, `ulimit -n ${n}: ${r.stderr}`);
    assert.equal(r.stderr, 'close-stress: error: too many open files while loading: the descriptor limit is too low; raise it with ulimit -n 1024\n');
  }
});

test('under ulimit -n 16', (t) => {
  const probe = spawnSync('bash', ['-c', `ulimit -n 16; exec '${process.execPath}' -e 0`]);
  if (probe.status !== 0) {
    t.skip(`Node ${process.version} itself dies (${probe.signal ?? probe.status}) under ulimit -n 16 before any JavaScript runs`);
    return;
  }
  const r = runCli(['--cores', '2', '--iterations', '500', '-q'], { shell: 'ulimit -n 16;', timeout: 30_000 });
  assert.equal(r.signal, null);
  assert.match(r.stderr, /ulimit -n/);
});

const CAN_NETNS = isRoot && spawnSync('unshare', ['-n', 'true']).status === 0;

test('when connect() runs out of ephemeral ports the lanes back off, tally EADDRNOTAVAIL, and every trial is accounted for', { skip: !CAN_NETNS && 'needs root and unshare -n (a network namespace of its own)' }, () => {
  const dir = tmp();
  try {
    const json = path.join(dir, 'r.json');
    // Four ephemeral ports: the two lanes' listeners take two; a hog binds the
    // other two until 2.5 s after the run's journal appears (the run has started,
    // however slowly a loaded machine started it), so connect() fails until it lets go.
    const hog = `const net=require('net'),fs=require('fs');const s=[];` +
      `let n=0;for(const p of [40002,40003]){const x=net.createServer();x.listen(p,'127.0.0.1',()=>{if(++n===2)console.log('ready')});s.push(x)}` +
      `const w=setInterval(()=>{if(fs.existsSync('${json}.jsonl')){clearInterval(w);setTimeout(()=>process.exit(0),2500)}},10);` +
      `setTimeout(()=>process.exit(0),30000)`;
    const script = [
      'set -e',
      'ip link set lo up',
      'sysctl -qw net.ipv4.ip_local_port_range="40000 40003"',
      `'${process.execPath}' -e "${hog}" > ${dir}/hog.out &`,
      `for i in $(seq 50); do grep -q ready ${dir}/hog.out 2>/dev/null && break; sleep 0.05; done`,
      `'${process.execPath}' '${BIN}' --cores 2 --no-sweep --iterations 20000 -q --log-level silent --json '${json}'`,
    ].join('\n');
    const r = spawnSync('unshare', ['-n', 'bash', '-c', script], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    const result = JSON.parse(readFileSync(json, 'utf8'));
    const step = result.steps[0];
    assert.equal(result.status, 'completed');
    assert.ok((step.setupFailures.connect?.EADDRNOTAVAIL ?? 0) > 0, JSON.stringify(step.setupFailures));
    const closes = step.calls.close.ok + Object.values(step.calls.close.errors).reduce((a, b) => a + b, 0);
    assert.equal(step.trials, 20000);
    assert.equal(closes + step.setupFailed, step.trials, 'a trial went missing');
    // Without back-off the failures would have eaten every trial in milliseconds.
    assert.ok(closes > 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('when no connect() can ever succeed the step is given up after a few seconds with the setup errors named, not crawled through', { skip: !CAN_NETNS && 'needs root and unshare -n (a network namespace of its own)' }, () => {
  // Two ephemeral ports, both taken by the two lanes' listeners.
  const script = [
    'ip link set lo up',
    'sysctl -qw net.ipv4.ip_local_port_range="40000 40001"',
    `exec '${process.execPath}' '${BIN}' --cores 2 --no-sweep --iterations 1e7 -q --log-level silent`,
  ].join('\n');
  const t = Date.now();
  const r = spawnSync('unshare', ['-n', 'bash', '-c', script], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.signal, null, 'killed: it hung');
  assert.ok(Date.now() - t < 30_000);
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /^close-stress: failed: 2-core step: every trial's setup failed \(connect EADDRNOTAVAIL x\d+\)$/m);
  assert.match(r.stdout, /setup failures by stage: connect:EADDRNOTAVAIL/);
});
