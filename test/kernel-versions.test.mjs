// What close() returns when the RST wins, per OS and kernel version: the one
// table behind the step header, the verdict line, races lost and --help.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeExpectation } from '../dist/common/kernel-versions.js';
import { runCli } from './helpers/cli.mjs';

const freebsd = (release, osreldate) => closeExpectation({ type: 'FreeBSD', release, ...(osreldate && { osreldate }) });

test('FreeBSD before 6.3 answers a lost race with EINVAL; 6.3 (r164516) to 13.x with ECONNRESET', () => {
  assert.match(freebsd('6.2-RELEASE', 602000).closeReturns, /^EINVAL/);
  assert.match(freebsd('6.3-RELEASE', 603000).closeReturns, /^ECONNRESET when the race is lost$/);
  assert.match(freebsd('8.2-RELEASE', 802000).closeReturns, /^ECONNRESET/);
  const e = freebsd('13.5-RELEASE', 1305000);
  assert.equal(e.kernel, 'FreeBSD 13.5-RELEASE (kern.osreldate 1305000)');
  assert.match(e.closeReturns, /^ECONNRESET/);
  assert.equal(e.raceCounter, undefined);
  assert.match(e.noRaceCounter, /close\(\) reports a lost race itself/);
});

test('FreeBSD 14.x may return either: a 2025 stable/14 tree has no check, the point release is not pinned; its lost races are read from tcps_closed', () => {
  for (const e of [freebsd('14.0-RELEASE', 1400097), freebsd('14.3-RELEASE'), freebsd('14.3-STABLE', 1403500)]) {
    assert.match(e.closeReturns, /^ECONNRESET or 0, depending on the 14\.x point \(not pinned\)$/);
    assert.match(e.detail, /opnsense\/src@9906161\) has no INP_DROPPED check .*returns 0/);
    assert.equal(e.raceCounter, 'tcps_closed');
  }
  assert.equal(freebsd('14.3-RELEASE').kernel, 'FreeBSD 14.3-RELEASE');
  // 13.x keeps the check and the errno counts the lost race: no counter there
  assert.equal(freebsd('13.5-STABLE', 1399999).raceCounter, undefined);
});

test('FreeBSD 15.0 returns 0 even when the race is lost, and counts lost races in tcps_closed', () => {
  for (const e of [freebsd('15.0-RELEASE', 1500068), freebsd('15.0-RELEASE'), freebsd('15.1-STABLE')]) {
    assert.equal(e.closeReturns, '0 even when the race is lost');
    assert.equal(e.raceCounter, 'tcps_closed');
  }
});

test('an early 15-CURRENT may still have the check: either answer, and the counter', () => {
  const e = freebsd('15.0-CURRENT', 1500030);
  assert.match(e.closeReturns, /ECONNRESET or 0/);
  assert.match(freebsd('15.0-CURRENT', 1500012).detail, /2d614aa at 1500012 still has it/);
  assert.equal(e.raceCounter, 'tcps_closed');
});

test('Linux returns 0 and has no counter of lost races; macOS may fail with EINVAL; others are not known', () => {
  const linux = closeExpectation({ type: 'Linux', release: '6.18.44' });
  assert.match(linux.closeReturns, /^0, whatever the peer did$/);
  assert.match(linux.noRaceCounter, /^Linux has no such counter/);
  assert.match(closeExpectation({ type: 'Darwin', release: '24.1.0' }).closeReturns, /EINVAL possible .*not measured/);
  assert.match(freebsd('16.0-CURRENT', 1600001).closeReturns, /not known/);
  assert.match(closeExpectation({ type: 'SunOS', release: '5.11' }).closeReturns, /not known/);
});

test('--help says what close() returns per kernel', () => {
  const r = runCli(['--help']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /FreeBSD 6\.3 to 13\.x: ECONNRESET/);
  assert.match(r.stdout, /FreeBSD 14\.x: ECONNRESET or 0/);
  assert.match(r.stdout, /FreeBSD 15\.0 and later: 0; the race is still lost, silently/);
  assert.match(r.stdout, /Linux: always 0/);
});
