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

test('under ulimit -n 32 the run drops the steps whose lanes do not fit, says so, and records it', () => {
  const dir = tmp();
  try {
    const json = path.join(dir, 'r.json');
    const r = runCli(['--cores', '4', '--iterations', '500', '-q', '--json', json], { shell: 'ulimit -n 32;', timeout: 30_000 });
    assert.equal(r.signal, null, 'killed: a hang or a crash');
    assert.doesNotMatch(r.stderr, NO_STACK);
    if (r.status === 0) {
      assert.match(r.stdout, /4-core step skipped: the descriptor limit \(ulimit -n 32\).*raise it with ulimit -n \d+/);
      const result = JSON.parse(readFileSync(json, 'utf8'));
      assert.ok(result.skipped.some((s) => s.cores === 4));
      assert.ok(result.steps.length >= 1);
    } else {
      // Node started with more descriptors open than here: no lane fits at all.
      assert.equal(r.status, 1);
      assert.match(r.stderr, /^close-stress: error: .*ulimit -n/);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('under ulimit -n 28 and 24 the run stops with one line naming the limit and the fix', () => {
  for (const n of [28, 24, 20]) {
    const r = runCli(['--cores', '2', '--iterations', '500', '-q'], { shell: `ulimit -n ${n};`, timeout: 30_000 });
    assert.equal(r.signal, null, `ulimit -n ${n}: killed (hang or crash)`);
    if (r.status === 0) continue; // fitted after all (a leaner Node): fine
    assert.equal(r.status, 1, `ulimit -n ${n}: ${r.stderr}`);
    const lines = r.stderr.split('\n').filter(Boolean);
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0], /descriptor limit.*ulimit -n/);
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
