// macOS's struct tcpstat (net.inet.tcp.stats) by the running kernel's Darwin
// version: synthetic sysctl buffers go through the decoder close-stress uses on
// macOS (native/src/counters.c), compiled here for Linux, since no Mac runs the suite.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dir = mkdtempSync(path.join(os.tmpdir(), 'cs-darwin-tcpstat-'));
const bin = path.join(dir, 'tcpstat-decode');
execFileSync('cc', ['-std=gnu11', '-O2', '-Wall', '-Wextra', '-Werror', `-I${path.join(root, 'native/src')}`, '-o', bin,
  path.join(root, 'test/helpers/tcpstat-decode.c'), path.join(root, 'native/src/counters.c')]);
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

const decode = (darwin, bytes) => JSON.parse(execFileSync(bin, ['darwin', String(darwin), String(bytes)], { encoding: 'utf8' }));

// struct tcpstat's first 66 fields (all u_int32_t) in bsd/netinet/tcp_var.h of
// apple-oss-distributions/xnu at xnu-11417.101.15 (Darwin 24, macOS 15); the
// same order since xnu-4903.221.2 (Darwin 18, macOS 10.14).
const XNU_4903 = ['tcps_connattempt', 'tcps_accepts', 'tcps_connects', 'tcps_drops', 'tcps_conndrops', 'tcps_closed',
  'tcps_segstimed', 'tcps_rttupdated', 'tcps_delack', 'tcps_timeoutdrop', 'tcps_rexmttimeo', 'tcps_persisttimeo',
  'tcps_keeptimeo', 'tcps_keepprobe', 'tcps_keepdrops', 'tcps_sndtotal', 'tcps_sndpack', 'tcps_sndbyte',
  'tcps_sndrexmitpack', 'tcps_sndrexmitbyte', 'tcps_sndacks', 'tcps_sndprobe', 'tcps_sndurg', 'tcps_sndwinup',
  'tcps_sndctrl', 'tcps_rcvtotal', 'tcps_rcvpack', 'tcps_rcvbyte', 'tcps_rcvbadsum', 'tcps_rcvbadoff',
  'tcps_rcvmemdrop', 'tcps_rcvshort', 'tcps_rcvduppack', 'tcps_rcvdupbyte', 'tcps_rcvpartduppack',
  'tcps_rcvpartdupbyte', 'tcps_rcvoopack', 'tcps_rcvoobyte', 'tcps_rcvpackafterwin', 'tcps_rcvbyteafterwin',
  'tcps_rcvafterclose', 'tcps_rcvwinprobe', 'tcps_rcvdupack', 'tcps_rcvacktoomuch', 'tcps_rcvackpack',
  'tcps_rcvackbyte', 'tcps_rcvwinupd', 'tcps_pawsdrop', 'tcps_predack', 'tcps_preddat', 'tcps_pcbcachemiss',
  'tcps_cachedrtt', 'tcps_cachedrttvar', 'tcps_cachedssthresh', 'tcps_usedrtt', 'tcps_usedrttvar',
  'tcps_usedssthresh', 'tcps_persistdrop', 'tcps_badsyn', 'tcps_mturesent', 'tcps_listendrop', 'tcps_synchallenge',
  'tcps_rstchallenge', 'tcps_minmssdrops', 'tcps_sndrexmitbad', 'tcps_badrst'];
// xnu-1228.0.2 (Darwin 9, macOS 10.5) to xnu-4570.71.2 (Darwin 17, macOS 10.13):
// no challenge-ACK counters, so tcps_badrst sits two slots earlier.
const XNU_1228 = XNU_4903.filter((f) => f !== 'tcps_synchallenge' && f !== 'tcps_rstchallenge');

function assertSlots(result, order, label) {
  assert.equal(result.ok, true, `${label}: ${result.why}`);
  const names = Object.keys(result.counters);
  assert.ok(['tcps_sndctrl', 'tcps_closed', 'tcps_drops', 'tcps_badrst'].every((n) => names.includes(n)), `${label}: ${names}`);
  for (const [name, value] of Object.entries(result.counters)) {
    const slot = value - 1000000;
    assert.equal(order[slot], name, `${label}: ${name} was read from slot ${slot}, which is ${order[slot]}`);
  }
}

test('a macOS 10.14-15 kernel (Darwin 18-24) is read with XNU\'s own u_int32_t slots, not FreeBSD\'s', () => {
  for (const darwin of [18, 20, 24]) assertSlots(decode(darwin, 1000), XNU_4903, `Darwin ${darwin}`);
  const r = decode(24, 1000);
  // FreeBSD has tcps_minmssdrops before tcps_closed: its slot 6 here would be tcps_segstimed
  assert.equal(r.counters.tcps_closed, 1000000 + 5);
  assert.equal(r.counters.tcps_sndctrl, 1000000 + 24);
});

test('macOS 10.5-10.13 (Darwin 9-17) read tcps_badrst two slots earlier, before the challenge-ACK counters existed', () => {
  assertSlots(decode(17, 1000), XNU_1228, 'Darwin 17');
  assertSlots(decode(9, 1000), XNU_1228, 'Darwin 9');
  assert.equal(decode(17, 1000).counters.tcps_badrst, 1000000 + 63);
  assert.equal(decode(18, 1000).counters.tcps_badrst, 1000000 + 65);
});

test('a Darwin whose XNU was not read, or a buffer too short for the table, gives no value under a wrong name', () => {
  for (const darwin of [8, 25, 0]) {
    const r = decode(darwin, 1000);
    assert.equal(r.ok, false);
    assert.match(r.why, new RegExp(`no struct tcpstat layout known for Darwin ${darwin} \\(known: 9 to 24`));
  }
  const short = decode(24, 200);
  assert.equal(short.ok, false);
  assert.match(short.why, /^200 bytes from a Darwin 24 kernel are fewer than the 264 its struct tcpstat needs here$/);
  assert.equal(decode(17, 256).ok, true, 'Darwin 17 needs only up to tcps_badrst at slot 63');
});
