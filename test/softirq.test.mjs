// Where the RST was processed: per-CPU receive work per step, parsed from the
// kernel's own counters, and on this machine moved by RPS in a private netns.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { mergeNetRx, netRxDelta, netRxShare, parseNetisr, parseSoftirqs, parseSoftnetStat } from '../dist/env/softirq.js';
import { bin, tempDir } from './helpers/cli.mjs';
import { assertValid } from './helpers/schema.mjs';

const SOFTIRQS = `                    CPU0       CPU1       CPU2
          HI:          0          0          0
       TIMER:      10334       9684         12
      NET_TX:          6          4          0
      NET_RX:    1058323     193483         77
       BLOCK:          0      35684          0
`;

test('/proc/softirqs: the NET_RX row read per CPU column', () => {
  assert.deepEqual(parseSoftirqs(SOFTIRQS), [1058323, 193483, 77]);
  assert.equal(parseSoftirqs('CPU0\nTIMER: 1\n'), undefined);
});

test('/proc/net/softnet_stat: packets processed per CPU, by the CPU column where the kernel prints one', () => {
  const line = (processed, cpu) => [processed, ...Array(11).fill('00000000'), cpu, '00000000', '00000000'].join(' ');
  assert.deepEqual(parseSoftnetStat(`${line('0000000a', '00000000')}\n${line('00000100', '00000002')}\n`), [10, 0, 256]);
  assert.deepEqual(parseSoftnetStat('0000000a 00000000\n00000003 00000000\n'), [10, 3], 'older kernels: lines in CPU order');
});

test('FreeBSD net.isr.work: IP and IPv6 packets handled, summed by the CPU of each workstream; other protocols and bad versions left out', () => {
  const ws = Buffer.alloc(2 * 64);
  [[0, 0], [1, 3]].forEach(([wsid, cpu], i) => {
    ws.writeUInt32LE(64, i * 64);
    ws.writeUInt32LE(wsid, i * 64 + 8);
    ws.writeUInt32LE(cpu, i * 64 + 12);
  });
  const entries = [[0, 1, 10n], [0, 4, 99n], [1, 6, 5n], [1, 1, 7n]]; // [wsid, proto, handled]: 4 is NETISR_ARP
  const work = Buffer.alloc(entries.length * 128);
  entries.forEach(([wsid, proto, handled], i) => {
    work.writeUInt32LE(128, i * 128);
    work.writeUInt32LE(wsid, i * 128 + 4);
    work.writeUInt32LE(proto, i * 128 + 8);
    work.writeBigUInt64LE(handled, i * 128 + 64);
  });
  assert.deepEqual(parseNetisr(ws, work), [10, 0, 0, 12]);
  work.writeUInt32LE(120, 0);
  assert.equal(parseNetisr(ws, work), undefined, 'a struct of another size is another ABI: not guessed at');
});

test('shares split a step\'s work into the victims\' CPUs, the resetters\' other CPUs and elsewhere; repeats add up per CPU', () => {
  const rx = netRxDelta({ source: 's', unit: 'u', perCpu: [100, 50, 10] }, { source: 's', unit: 'u', perCpu: [160, 80, 20] });
  assert.deepEqual(rx.perCpu, [60, 30, 10]);
  const share = netRxShare({ netRx: rx, lanes: [{ cpu: 0, resetCpu: 1 }, { cpu: 1, resetCpu: 0 }] });
  assert.deepEqual(share, { total: 100, victims: 0.9, resetters: 0, elsewhere: 0.1 });
  const cross = netRxShare({ netRx: rx, lanes: [{ cpu: 0, resetCpu: 1 }] });
  assert.deepEqual(cross, { total: 100, victims: 0.6, resetters: 0.3, elsewhere: 0.1 });
  mergeNetRx(rx, { ...rx, perCpu: [1, 1, 1, 1] });
  assert.deepEqual(rx.perCpu, [61, 31, 11, 1]);
  assert.equal(netRxShare({ netRx: { ...rx, perCpu: [0, 0] }, lanes: [] }), undefined);
});

function netnsWhy() {
  if (process.platform !== 'linux') return 'needs Linux (/proc/softirqs, RPS)';
  if (process.getuid?.() !== 0) return 'needs root for a private network namespace';
  const cpus = spawnSync('nproc', { encoding: 'utf8' });
  if (Number(cpus.stdout) < 2) return 'needs two CPUs: one for the lane, one to steer receive work to';
  const probe = spawnSync('unshare', ['-n', '-m', 'sh', '-c', 'ip link set lo up && mount -t sysfs sysfs /sys && test -w /sys/class/net/lo/queues/rx-0/rps_cpus'], { encoding: 'utf8' });
  if (probe.status !== 0) return `cannot steer lo's RPS in a private netns: ${probe.stderr.trim() || `exit ${probe.status}`}`;
  return false;
}

/**
 * One 1-core step in a fresh netns (lo up, its own sysfs so that rps_cpus is
 * the new lo's, never the host's), the lane pinned to `laneCpu` by taskset.
 */
function runInNetns(t, laneCpu, rpsMask) {
  const json = path.join(tempDir(t), 'r.json');
  const script = `ip link set lo up && mount -t sysfs sysfs /sys && echo ${rpsMask} > /sys/class/net/lo/queues/rx-0/rps_cpus && ` +
    `exec taskset -c ${laneCpu} "$0" "$@"`;
  const r = spawnSync('unshare', ['-n', '-m', 'sh', '-c', script, process.execPath, bin, '--cores', '1', '--no-sweep', '--iterations', '30000', '-q', '--json', json], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, r.stderr);
  return { stdout: r.stdout, result: JSON.parse(readFileSync(json, 'utf8')) };
}

test('over plain loopback a step\'s receive work lands mostly on its lane\'s CPU, and RPS steering lo to the other CPU moves the packets there', { skip: netnsWhy() }, (t) => {
  // The lane runs on CPU 1: other runs on this host pin their first lane to CPU 0,
  // and /proc/softirqs and softnet_stat are machine-wide even inside a netns.
  const plain = runInNetns(t, 1, 0);
  const steered = runInNetns(t, 1, 1); // rps_cpus mask 1 = CPU 0
  for (const r of [plain, steered]) {
    assertValid('result', r.result);
    assert.deepEqual(r.result.steps[0].lanes.map((l) => l.cpu), [1]);
  }
  const share = (r, counts) => netRxShare(r.result.steps[0], counts).victims;
  t.diagnostic(`lane's CPU share: plain packets ${share(plain, 'processedPerCpu').toFixed(3)} runs ${share(plain, 'perCpu').toFixed(3)}; ` +
    `RPS to CPU 0: packets ${share(steered, 'processedPerCpu').toFixed(3)} runs ${share(steered, 'perCpu').toFixed(3)}`);
  assert.ok(share(plain, 'processedPerCpu') > 0.5, `plain loopback: ${share(plain, 'processedPerCpu')} of packets on the lane's CPU`);
  assert.ok(share(plain, 'perCpu') > 0.5, `plain loopback: ${share(plain, 'perCpu')} of NET_RX runs on the lane's CPU`);
  assert.ok(share(steered, 'processedPerCpu') < 0.25, `RPS to CPU 0: ${share(steered, 'processedPerCpu')} of packets still on the lane's CPU`);
  assert.ok(share(steered, 'perCpu') < share(plain, 'perCpu'), 'NET_RX runs move too (the sender keeps the runs that hand packets over)');
  assert.match(plain.stdout, /^receive work per step, machine-wide/m);
  assert.match(steered.stdout, /1 cores \(victims on 1\): NET_RX runs \d+\.\d% on the victims' CPUs, \d+\.\d% elsewhere, of [\d,]+; packets \d+\.\d% on the victims' CPUs/);
});

test('every step records its receive work per CPU in the JSON (schema-valid), and the HTML report shows its share on the victims\' CPUs', { skip: process.platform !== 'linux' && 'per-CPU receive counters are read on Linux and FreeBSD; this test reads Linux\'s' }, (t) => {
  const dir = tempDir(t);
  const json = path.join(dir, 'r.json');
  const html = path.join(dir, 'r.html');
  const r = spawnSync(process.execPath, [bin, '--cores', '1', '--iterations', '500', '-q', '--json', json], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const result = JSON.parse(readFileSync(json, 'utf8'));
  assertValid('result', result);
  const rx = result.steps[0].netRx;
  assert.equal(rx.source, '/proc/softirqs NET_RX');
  assert.equal(rx.scope, 'machine');
  assert.ok(rx.perCpu.length >= 1 && rx.perCpu.reduce((a, b) => a + b, 0) > 0, 'a step over loopback runs NET_RX somewhere');
  assert.ok(Array.isArray(rx.processedPerCpu));
  const rep = spawnSync(process.execPath, [bin, 'report', json, '--html', html], { encoding: 'utf8' });
  assert.equal(rep.status, 0, rep.stderr);
  const page = readFileSync(html, 'utf8');
  assert.match(page, /RX work on victims(&#39;|')? CPUs/);
  assert.match(page, /packets \d+% of [\d,]+; \/proc\/softirqs NET_RX \d+% of [\d,]+ \(machine-wide\)/);
});
