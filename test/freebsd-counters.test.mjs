// FreeBSD's struct tcpstat by the running kernel's version: synthetic sysctl
// buffers of each release's layout go through the decoder close-stress and
// close-stress-core use (native/src/counters.c), compiled here for Linux.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dir = mkdtempSync(path.join(os.tmpdir(), 'cs-tcpstat-'));
const bin = path.join(dir, 'tcpstat-decode');
execFileSync('cc', ['-std=gnu11', '-O2', '-Wall', '-Wextra', '-Werror', `-I${path.join(root, 'native/src')}`, '-o', bin,
  path.join(root, 'test/helpers/tcpstat-decode.c'), path.join(root, 'native/src/counters.c')]);
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

function decode(osreldate, bytes) {
  return JSON.parse(execFileSync(bin, [String(osreldate), String(bytes)], { encoding: 'utf8' }));
}

// struct tcpstat's first 64 fields in FreeBSD 13 (sys/netinet/tcp_var.h of
// 13.5, __FreeBSD_version 1305000); the decoder reads none beyond them.
const FREEBSD_13 = ['tcps_connattempt', 'tcps_accepts', 'tcps_connects', 'tcps_drops', 'tcps_conndrops',
  'tcps_minmssdrops', 'tcps_closed', 'tcps_segstimed', 'tcps_rttupdated', 'tcps_delack', 'tcps_timeoutdrop',
  'tcps_rexmttimeo', 'tcps_persisttimeo', 'tcps_keeptimeo', 'tcps_keepprobe', 'tcps_keepdrops', 'tcps_sndtotal',
  'tcps_sndpack', 'tcps_sndbyte', 'tcps_sndrexmitpack', 'tcps_sndrexmitbyte', 'tcps_sndrexmitbad', 'tcps_sndacks',
  'tcps_sndprobe', 'tcps_sndurg', 'tcps_sndwinup', 'tcps_sndctrl', 'tcps_rcvtotal', 'tcps_rcvpack', 'tcps_rcvbyte',
  'tcps_rcvbadsum', 'tcps_rcvbadoff', 'tcps_rcvreassfull', 'tcps_rcvshort', 'tcps_rcvduppack', 'tcps_rcvdupbyte',
  'tcps_rcvpartduppack', 'tcps_rcvpartdupbyte', 'tcps_rcvoopack', 'tcps_rcvoobyte', 'tcps_rcvpackafterwin',
  'tcps_rcvbyteafterwin', 'tcps_rcvafterclose', 'tcps_rcvwinprobe', 'tcps_rcvdupack', 'tcps_rcvacktoomuch',
  'tcps_rcvackpack', 'tcps_rcvackbyte', 'tcps_rcvwinupd', 'tcps_pawsdrop', 'tcps_predack', 'tcps_preddat',
  'tcps_pcbcachemiss', 'tcps_cachedrtt', 'tcps_cachedrttvar', 'tcps_cachedssthresh', 'tcps_usedrtt',
  'tcps_usedrttvar', 'tcps_usedssthresh', 'tcps_persistdrop', 'tcps_badsyn', 'tcps_mturesent', 'tcps_listendrop',
  'tcps_badrst'];
// 14.0 and 15 insert tcps_progdrops after tcps_keepdrops; the rest keeps its order
// (read in sys/netinet/tcp_var.h of fel1x-developer/freebsd-src@2d614aa and
// kenrap/freebsd-src@f30bcb1, 15-CURRENT at __FreeBSD_version 1500012 and 1500030;
// no stable/14 copy was read).
const FREEBSD_14 = [...FREEBSD_13.slice(0, 16), 'tcps_progdrops', ...FREEBSD_13.slice(16)];

function assertSlots(result, order, label) {
  assert.equal(result.ok, true, `${label}: ${result.why}`);
  const names = Object.keys(result.counters);
  assert.ok(names.includes('tcps_sndctrl') && names.includes('tcps_closed'), `${label}: ${names}`);
  for (const [name, value] of Object.entries(result.counters)) {
    const slot = value - 1000000;
    assert.equal(order[slot], name, `${label}: ${name} was read from slot ${slot}, which is ${order[slot]}`);
  }
}

test('the 13 name order this test checks against is the 13.5 sysroot header\'s own (when the sysroot is present)', (t) => {
  const header = path.join(process.env.FREEBSD_SYSROOT ?? '/opt/freebsd13-sysroot', 'usr/include/netinet/tcp_var.h');
  if (!existsSync(header)) return t.skip(`no FreeBSD 13 sysroot header at ${header}`);
  const body = readFileSync(header, 'utf8').match(/struct\s+tcpstat\s*\{([\s\S]*?)\n\};/)[1].replace(/\/\*[\s\S]*?\*\//g, '');
  const fields = [...body.matchAll(/uint64_t\s+(tcps_\w+)\s*;/g)].map((m) => m[1]);
  assert.deepEqual(fields.slice(0, FREEBSD_13.length), FREEBSD_13);
});

test('a FreeBSD 13 kernel (904 bytes) is read with 13\'s slots', () => {
  assertSlots(decode(1305000, 904), FREEBSD_13, '13.5');
  assertSlots(decode(1300139, 904), FREEBSD_13, '13.0');
});

test('a FreeBSD 14 kernel (984 bytes) is read with 14\'s slots: every field from tcps_sndtotal on one later', () => {
  const r = decode(1402000, 984);
  assertSlots(r, FREEBSD_14, '14.2');
  assert.equal(r.counters.tcps_sndctrl, 1000000 + 27);
});

test('a FreeBSD 15.0 kernel (1000 bytes, kern.osreldate 1500068) and an early 15-CURRENT (984) are read with 14\'s slots', () => {
  assertSlots(decode(1500068, 1000), FREEBSD_14, '15.0');
  assertSlots(decode(1500030, 984), FREEBSD_14, '15-CURRENT');
});

test('the length a 15.0 kernel returns, claimed by a 13 version, gives no counter and says why', () => {
  const r = decode(1305000, 1000);
  assert.equal(r.ok, false);
  assert.match(r.why, /1000 bytes from a FreeBSD 13 kernel \(kern.osreldate 1305000\) match no known layout \(904 bytes\)/);
});

test('a length that matches no layout of its version gives no counter', () => {
  for (const [osrel, bytes] of [[1402000, 1000], [1500068, 904], [1305000, 984], [1500068, 992]]) {
    const r = decode(osrel, bytes);
    assert.equal(r.ok, false, `${osrel}/${bytes}`);
    assert.match(r.why, new RegExp(`${bytes} bytes .* match no known layout`));
  }
});

test('an unknown FreeBSD version gives no counter, naming the version', () => {
  for (const osrel of [1600000, 1205000, 0]) {
    const r = decode(osrel, 1000);
    assert.equal(r.ok, false);
    assert.match(r.why, new RegExp(`no struct tcpstat layout known for FreeBSD ${Math.floor(osrel / 100000)} \\(kern.osreldate ${osrel}; known: 13, 14, 15\\)`));
  }
});

test('counters the kernel would not give (a read that failed) leave the step without deltas, saying why, also when merged', async () => {
  const { kernelCheck, mergeKernelChecks } = await import('../dist/env/kernel.js');
  const read = { source: 'sysctl net.inet.tcp.stats (struct tcpstat of FreeBSD 15, kern.osreldate 1500068, 1000 bytes)', counters: { tcps_closed: 10, tcps_sndctrl: 5 }, meanings: { tcps_sndctrl: 'control segments' } };
  // tcps_drops, when read, is the RST check: tcps_sndctrl's SYNs would hide a missing RST.
  const both = kernelCheck({ ...read, counters: { tcps_drops: 0, tcps_sndctrl: 0 } }, { ...read, counters: { tcps_drops: 0, tcps_sndctrl: 3000 } });
  assert.equal(both.rstCounter.name, 'tcps_drops');
  const gone = { unavailable: 'sysctl net.inet.tcp.stats: 1000 bytes from a FreeBSD 13 kernel (kern.osreldate 1305000) match no known layout (904 bytes)' };
  const k = kernelCheck(gone, gone);
  assert.deepEqual(k.deltas, {});
  assert.match(k.unavailable, /match no known layout/);
  assert.equal(k.rstCounter, undefined);
  const ok = kernelCheck(read, { ...read, counters: { tcps_closed: 30, tcps_sndctrl: 9 } });
  assert.deepEqual(ok.deltas, { tcps_closed: 20, tcps_sndctrl: 4 });
  assert.equal(ok.rstCounter.name, 'tcps_sndctrl');
  assert.match(mergeKernelChecks(ok, k).unavailable, /match no known layout/);
  assert.match(mergeKernelChecks(k, ok).unavailable, /match no known layout/);
  assert.deepEqual(mergeKernelChecks(ok, ok).deltas, { tcps_closed: 40, tcps_sndctrl: 8 });
});
