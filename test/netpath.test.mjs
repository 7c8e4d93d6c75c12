// --path veth: the RST crosses a veth pair between two namespaces the run
// makes itself, every trial is accounted for, the RSTs are counted where they
// were sent, and nothing the run made outlives it (exit, SIGINT, SIGKILL).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import path from 'node:path';
import { runCli, startCli, NO_STACK, isRoot } from './helpers/spawn.mjs';
import { liveNamespaces, netnsSkip, until } from './helpers/netns.mjs';
import { tempDir } from './helpers/cli.mjs';
import { assertValid } from './helpers/schema.mjs';

const skip = netnsSkip;

/** Holders (`close-stress-netns-<owner>-a|b`) whose owner is `owner`. */
function holdersOf(owner) {
  return readdirSync('/proc').filter((e) => /^[0-9]+$/.test(e)).filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').some((a) => a.startsWith(`close-stress-netns-${owner}-`));
    } catch {
      return false;
    }
  });
}

const hostLinks = () => spawnSync('ip', ['-o', 'link'], { encoding: 'utf8' }).stdout;
const hostNetns = () => spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout;

/** Polls (no timing asserted): a killed holder's namespace is freed as it exits, asynchronously to us. */
/** The run left nothing: its namespaces are in no process, its holders and devices are gone, the host gained nothing. */
async function assertNothingLeft(record, owner, linksBefore, netnsBefore) {
  const ids = [record.listen.id, record.client.id];
  await until(() => !ids.some((id) => liveNamespaces().has(id)), `namespace ${ids.join(' or ')}`);
  assert.deepEqual(holdersOf(owner), [], 'no namespace holder of the run is left');
  assert.doesNotMatch(hostLinks(), new RegExp(`cs${owner}[ab]`), 'no veth end ever appears in the host namespace');
  assert.equal(hostLinks(), linksBefore, "the host's interfaces are as they were");
  assert.equal(hostNetns(), netnsBefore, 'no named namespace (ip netns) was made');
}

const accounted = (s) => s.calls.close.ok + Object.values(s.calls.close.errors).reduce((a, b) => a + b, 0) + s.setupFailed;

// Same-thread, the victim closes after the RST was processed, so the resetting
// namespace sends exactly one RST per resetting close. Cross-thread, a victim
// close that wins the race sends a FIN, which the resetting side (its socket
// gone) answers with one more RST: there OutRsts can only exceed the resets,
// and TCPAbortOnData (tcp_close() with SO_LINGER {1,0}) is the exact count.
for (const [label, args, exactRsts] of [
  ['IPv4, same-thread, RST from the server', ['--family', '4'], true],
  ['IPv6, same-thread, RST from the client', ['--family', '6', '--reset-side', 'client'], true],
  ['IPv4, every probe', ['--probe', 'all'], true],
  ['IPv6, cross-thread with skew, RST from the client', ['--family', '6', '--race', 'cross-thread', '--skew', '200ns', '--reset-side', 'client'], false],
]) {
  test(`a veth run (${label}) accounts for every trial and the RSTs counted in the resetting namespace equal the resetting closes`, { skip }, async (t) => {
    const json = path.join(tempDir(t), 'r.json');
    const linksBefore = hostLinks();
    const netnsBefore = hostNetns();
    const r = runCli(['--path', 'veth', '--cores', '2', '--iterations', '3000', '--json', json, '-q', ...args]);
    assert.equal(r.status, 0, r.stderr);
    const result = JSON.parse(readFileSync(json, 'utf8'));
    assertValid('result', result);
    const np = result.environment.netPath;
    assert.equal(np.kind, 'veth');
    assert.notEqual(np.listen.id, np.client.id, 'listeners and clients are in two namespaces');
    assert.notEqual(np.listen.id, readlinkSync('/proc/self/ns/net'), "neither is the host's");
    assert.equal(result.options.path, 'veth');
    assert.match(r.stdout, /^race: .*; IPv[46] veth \(/m, 'the step header names the path');
    for (const s of result.steps) {
      assert.equal(s.trials, 3000);
      assert.equal(accounted(s), s.trials, `${s.cores}-core step: every trial has an outcome`);
      assert.equal(s.setupFailed, 0, JSON.stringify(s.setupFailures));
      assert.equal(s.kernel.scope, 'netns');
      assert.match(s.kernel.source, new RegExp(`^/proc/${np[np.counters].holderPid}/net/snmp`));
      const resets = s.calls.resetClose.ok;
      // Each trial's handshake, and at least the RST, arrives at each end over the pair.
      assert.ok(s.vethPackets.listen.rxPackets >= s.trials && s.vethPackets.client.rxPackets >= s.trials, `${s.cores}-core step: the trials crossed the pair: ${JSON.stringify(s.vethPackets)}`);
      assert.equal(s.vethPackets.listen.rxPackets, s.vethPackets.client.txPackets, 'what one end sent the other received');
      assert.equal(s.kernel.deltas.TCPAbortOnData, resets, `${s.cores}-core step: every resetting close aborted its connection, in the resetting namespace`);
      if (exactRsts) assert.equal(s.kernel.deltas.OutRsts, resets, `${s.cores}-core step: one RST per resetting close, in the resetting namespace`);
      else assert.ok(s.kernel.deltas.OutRsts >= resets, `${s.cores}-core step: at least one RST per resetting close`);
    }
    await assertNothingLeft(np, result.environment.netPath.listen.device.slice(2, -1), linksBefore, netnsBefore);
  });
}

test('--rps-cpus sets RPS on the victim\'s veth end and the JSON records it as the kernel read it back', { skip }, async (t) => {
  const json = path.join(tempDir(t), 'r.json');
  const r = runCli(['--path', 'veth', '--rps-cpus', '0', '--cores', '1', '--iterations', '500', '--json', json, '-q']);
  assert.equal(r.status, 0, r.stderr);
  const { receive, client } = JSON.parse(readFileSync(json, 'utf8')).environment.netPath;
  // RST from the server (the default): it arrives at the clients' end.
  assert.deepEqual(receive, { side: 'client', device: client.device, rpsMask: '1', rpsCpus: [0] });
  assert.match(r.stdout, /RPS on CPUs 0\)/);
});

test('the saved run names its path in the report table, the HTML environment table and the TAP figures', { skip }, async (t) => {
  const dir = tempDir(t);
  const json = path.join(dir, 'r.json');
  const html = path.join(dir, 'r.html');
  assert.equal(runCli(['--path', 'veth', '--cores', '1', '--iterations', '300', '--json', json, '-q']).status, 0);
  const report = runCli(['report', json, '--html', html]);
  assert.equal(report.status, 0, report.stderr);
  assert.match(report.stdout, /^race: .*; IPv4 veth \(clients 198\.18\.0\.2 in one namespace, listeners 198\.18\.0\.1 in another; RST received on cs[0-9]+b, RPS off\)/m);
  assert.match(readFileSync(html, 'utf8'), /<th scope="row">path<\/th><td>IPv4 veth \(clients 198\.18\.0\.2/);
  assert.match(readFileSync(html, 'utf8'), /--path veth/, 'the options line gives the flag that measures it again');
  const tap = runCli(['report', json, '--tap']);
  assert.match(tap.stdout, /^ {2}path: veth$/m);
});

test('Ctrl-C (SIGINT to the whole process group) during a veth step keeps what was measured and removes both namespaces', { skip }, async (t) => {
  const json = path.join(tempDir(t), 'r.json');
  const linksBefore = hostLinks();
  const netnsBefore = hostNetns();
  // Its own process group, as a shell gives a foreground job: a terminal's Ctrl-C reaches every process in it.
  const { child, done } = startCli(['--path', 'veth', '--cores', '1', '--iterations', '1e12', '--json', json, '-q'], {}, { detached: true });
  t.after(() => { try { process.kill(-child.pid, 'SIGKILL'); } catch {} });
  await until(() => existsSync(`${json}.jsonl`), 'the journal');
  const header = JSON.parse(readFileSync(`${json}.jsonl`, 'utf8').split('\n')[0]);
  assert.equal(holdersOf(child.pid).length, 2, 'the run holds two namespaces');
  await new Promise((resolve) => setTimeout(resolve, 300));
  process.kill(-child.pid, 'SIGINT');
  const r = await done;
  assert.equal(r.status, 130, r.stderr);
  const result = JSON.parse(readFileSync(json, 'utf8'));
  assert.equal(result.status, 'interrupted');
  assert.ok(result.steps[0].trials > 0 && accounted(result.steps[0]) === result.steps[0].trials);
  await assertNothingLeft(header.environment.netPath, child.pid, linksBefore, netnsBefore);
});

test('a SIGKILLed veth run leaves no namespace, and a stale holder of a dead run is removed at the next start', { skip }, async (t) => {
  const dir = tempDir(t);
  const linksBefore = hostLinks();
  const netnsBefore = hostNetns();
  const { child, done } = startCli(['--path', 'veth', '--cores', '1', '--iterations', '1e12', '--journal', path.join(dir, 'j.jsonl'), '-q']);
  t.after(() => child.kill('SIGKILL'));
  await until(() => existsSync(path.join(dir, 'j.jsonl')), 'the journal');
  const header = JSON.parse(readFileSync(path.join(dir, 'j.jsonl'), 'utf8').split('\n')[0]);
  child.kill('SIGKILL');
  await done;
  // Nothing ran our cleanup: the holders go because the kernel closed our end of their stdin.
  await assertNothingLeft(header.environment.netPath, child.pid, linksBefore, netnsBefore);

  // A holder that outlived its run (its stdin held open elsewhere), as a crash between fork and exec could leave.
  const dead = spawnSync('true').pid;
  const stale = spawn('unshare', ['--net', '--', 'sh', '-c', 'echo ready; read _', `close-stress-netns-${dead}-a`], { stdio: ['pipe', 'pipe', 'ignore'] });
  t.after(() => stale.kill('SIGKILL'));
  await new Promise((resolve) => stale.stdout.once('data', resolve));
  const staleNs = readlinkSync(`/proc/${stale.pid}/ns/net`);
  const r = runCli(['--path', 'veth', '--cores', '1', '--iterations', '200', '-q']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`removed the network namespaces left by run ${dead}, which is gone`));
  await until(() => !liveNamespaces().has(staleNs), 'the stale namespace');
});

test('compare refuses a veth run against a loopback run, naming --path', { skip }, async (t) => {
  const dir = tempDir(t);
  const a = path.join(dir, 'a.json');
  const b = path.join(dir, 'b.json');
  assert.equal(runCli(['--cores', '1', '--iterations', '300', '--json', a, '-q']).status, 0);
  assert.equal(runCli(['--path', 'veth', '--cores', '1', '--iterations', '300', '--json', b, '-q']).status, 0);
  const r = runCli(['compare', a, b]);
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /compare: the runs differ in --path \(loopback vs veth\)/);
  assert.doesNotMatch(r.stderr, NO_STACK);
});

test('--path and --rps-cpus refuse bad input in one line', () => {
  for (const [args, message] of [
    [['--path', 'wifi'], /--path takes loopback or veth, not 'wifi'/],
    [['--rps-cpus', '0'], /--rps-cpus needs --path veth/],
    [['--path', 'veth', '--rps-cpus', 'x'], isRoot ? /--rps-cpus takes a CPU list such as 0-3,8, not 'x'/ : /--path veth needs root/],
  ]) {
    const r = runCli([...args, '--cores', '1', '--iterations', '10']);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
});

test('--path veth as an unprivileged user is refused with the reason, not a stack trace', { skip: isRoot && spawnSync('setpriv', ['--help']).status === 0 ? false : 'needs root to drop to another user with setpriv' }, () => {
  const r = spawnSync('setpriv', ['--reuid', '65534', '--regid', '65534', '--clear-groups', process.execPath, path.join(import.meta.dirname, '..', 'bin', 'close-stress.js'), '--path', 'veth', '--cores', '1', '--iterations', '10'], { encoding: 'utf8' });
  assert.equal(r.status, 2, r.stderr);
  assert.equal(r.stderr.trim(), 'close-stress: error: --path veth needs root (it creates network namespaces and a veth pair)');
});

test('--rps-cpus lists become the comma-grouped hex masks sysfs takes, and masks read back become CPU lists', async () => {
  const { cpuMask, maskCpus } = await import('../dist/env/netpath.js');
  assert.equal(cpuMask([0]), '1');
  assert.equal(cpuMask([0, 1, 3]), 'b');
  assert.equal(cpuMask([32]), '1,00000000', 'one 32-bit group per comma, most significant first');
  assert.deepEqual(maskCpus('00000000,0000000b'), [0, 1, 3]);
  assert.deepEqual(maskCpus('0'), [], 'RPS off');
  assert.deepEqual(maskCpus(cpuMask([5, 40, 63])), [5, 40, 63]);
});
