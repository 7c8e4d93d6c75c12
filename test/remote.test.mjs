// Two hosts, on one machine: `serve` in one network namespace and the
// controller (`--peer`) in another, joined by a veth pair the test makes
// itself. The merged result holds both sides and accounts for every trial, a
// wrong token is refused and counted, a serve killed mid-step fails that step
// and keeps the ones before, and nothing the test made outlives it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bin, tempDir } from './helpers/cli.mjs';
import { liveNamespaces, netnsSkip, until } from './helpers/netns.mjs';
import { isRoot, NO_STACK } from './helpers/spawn.mjs';
import { assertValid } from './helpers/schema.mjs';

const skip = netnsSkip;

const SERVE_ADDR = '198.18.2.1';
const CONTROLLER_ADDR = '198.18.2.2';

/** serve and controller processes of the test in hand. */
const started = new Set();

/** A namespace held by `unshare --net ... read`: it goes when the holder does. */
async function holdNamespace() {
  const child = spawn('unshare', ['--net', '--', 'sh', '-c', 'echo ready; read _'], { stdio: ['pipe', 'pipe', 'inherit'] });
  await new Promise((resolve, reject) => { child.stdout.once('data', resolve); child.once('exit', reject); });
  return { child, pid: child.pid, id: readlinkSync(`/proc/${child.pid}/ns/net`) };
}

/** Two namespaces joined by a veth pair (both ends born inside them); removes them all when the test ends and checks they are gone. */
async function twoHosts(t) {
  const linksBefore = execFileSync('ip', ['-o', 'link'], { encoding: 'utf8' });
  const serve = await holdNamespace();
  const ctl = await holdNamespace();
  const tag = `csr${process.pid % 100000}`;
  t.after(async () => {
    // A failed or timed-out test must leave no serve or controller behind: they would keep the namespaces (and this process) alive.
    for (const c of started) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    started.clear();
    for (const h of [serve, ctl]) h.child.kill('SIGKILL');
    await until(() => ![serve.id, ctl.id].some((id) => liveNamespaces().has(id)), 'both namespaces are gone');
    assert.equal(execFileSync('ip', ['-o', 'link'], { encoding: 'utf8' }), linksBefore, "the host's interfaces are as they were");
  });
  execFileSync('ip', ['link', 'add', `${tag}s`, 'netns', String(serve.pid), 'type', 'veth', 'peer', 'name', `${tag}c`, 'netns', String(ctl.pid)]);
  for (const [h, dev, addr] of [[serve, `${tag}s`, SERVE_ADDR], [ctl, `${tag}c`, CONTROLLER_ADDR]]) {
    execFileSync('nsenter', [`--net=/proc/${h.pid}/ns/net`, 'ip', '-b', '-'], { input: `link set lo up\nlink set ${dev} up\naddr add ${addr}/30 dev ${dev}\n` });
  }
  return { serve, ctl };
}

/** `close-stress serve` in the serve namespace; resolves once it printed its address and token. */
async function startServe(t, ns, extra = []) {
  const child = spawn('nsenter', [`--net=/proc/${ns.pid}/ns/net`, process.execPath, bin, 'serve', '--listen', `${SERVE_ADDR}:0`, ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => { stdout += d; });
  child.stderr.on('data', (d) => { stderr += d; });
  const done = new Promise((resolve) => child.on('close', (status, signal) => resolve({ status, signal, stdout, stderr })));
  started.add(child);
  await until(() => /^token: /m.test(stdout) || child.exitCode !== null, 'serve prints its token');
  const peer = /listening on (\S+)/.exec(stdout)?.[1];
  const token = /^token: (\S+)/m.exec(stdout)?.[1];
  assert.ok(peer && token, `serve printed its address and token:\n${stdout}${stderr}`);
  return { child, done, peer, token, output: () => ({ stdout, stderr }) };
}

/** The controller in its namespace, to its end. */
function controller(t, ns, args, opts = {}) {
  const child = spawn('nsenter', [`--net=/proc/${ns.pid}/ns/net`, process.execPath, bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...opts.env } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => { stdout += d; });
  child.stderr.on('data', (d) => { stderr += d; });
  started.add(child);
  return { child, done: new Promise((resolve) => child.on('close', (status) => resolve({ status, stdout, stderr }))) };
}

const total = (o) => o.ok + Object.values(o.errors).reduce((a, b) => a + b, 0);

test('serve and the controller in two namespaces over veth: the merged JSON holds both sides, every trial is accounted for, the victim times its close from the peer\'s byte, and serve exits 0 after the goodbye', { skip }, async (t) => {
  const { serve: sns, ctl } = await twoHosts(t);
  const dir = tempDir(t);
  const serve = await startServe(t, sns);
  const json = path.join(dir, 'r.json');
  const run = controller(t, ctl, ['--peer', serve.peer, '--token', serve.token, '--cores', '2', '--no-sweep', '--iterations', '300', '--skew', '2us', '-q', '--json', json]);
  const r = await run.done;
  assert.equal(r.status, 0, r.stderr);
  const s = await serve.done;
  assert.equal(s.status, 0, `serve exits 0 after the controller's goodbye:\n${s.stderr}`);
  const result = JSON.parse(readFileSync(json, 'utf8'));
  assertValid('result', result);
  assert.equal(result.options.path, 'remote');
  assert.equal(result.options.peer, serve.peer);
  assert.doesNotMatch(readFileSync(json, 'utf8'), new RegExp(serve.token), 'the token is never recorded');
  assert.equal(result.environment.remote.serveRole, 'resetter');
  assert.equal(result.race.shape, 'cross-thread');
  const [step] = result.steps;
  const { controller: mine, serve: theirs } = step.sides;
  assert.equal(step.trials, 300);
  assert.equal(total(step.calls.close) + step.setupFailed, step.trials, 'every trial is a victim close result or a setup failure');
  assert.equal(mine.trials, step.trials, "the trials are the victim side's, the controller's here");
  // serve's own log line names what it ran; the merged resetting closes are exactly its.
  const logged = Number(/step 1: ([0-9]+) trials as the resetter/.exec(s.stderr)?.[1]);
  assert.equal(theirs.trials, logged, 'serve\'s tally is what serve logged');
  assert.equal(total(step.calls.resetClose) + theirs.setupFailed, theirs.trials, "every resetting close is serve's");
  assert.equal(total(step.calls.resetClose), step.trials - step.setupFailed, 'each trial that was set up got its resetting close');
  // RSTs are counted in serve's namespace, where they are sent: only this run's connections.
  assert.deepEqual(step.kernel, theirs.kernel, "the step's kernel check is the resetting side's");
  assert.ok(step.kernel.deltas.OutRsts >= step.calls.resetClose.ok, `OutRsts ${step.kernel.deltas.OutRsts} in serve's namespace cover ${step.calls.resetClose.ok} resetting closes`);
  assert.ok(mine.kernel.deltas.ActiveOpens >= step.trials - step.setupFailed, "the controller's namespace counts its own connects");
  // One clock: each victim close starts at least the asked skew after the go byte arrived.
  assert.equal(step.achievedSkew.samples, total(step.calls.close), 'one achieved-skew sample per victim close');
  assert.ok(step.achievedSkew.p10Ns >= 2000, `achieved skew p10 ${step.achievedSkew.p10Ns} ns >= the asked 2us`);
  assert.equal(step.skew.mode, 'fixed');
  // report and the HTML report read it unchanged, naming the path.
  const html = path.join(dir, 'r.html');
  const rep = spawnSync(process.execPath, [bin, 'report', json, '--html', html], { encoding: 'utf8' });
  assert.equal(rep.status, 0, rep.stderr);
  assert.match(readFileSync(html, 'utf8'), /IPv4 remote host \(serve at/);
  assert.match(rep.stdout, new RegExp(`IPv4 remote host \\(serve at ${serve.peer.replaceAll('.', '\\.')}`));
});

test('serve --cpus pins its lanes on its own host: lane i on the i-th CPU, recorded and named in the header; a CPU it may not use is refused in one line', { skip }, async (t) => {
  const { serve: sns, ctl } = await twoHosts(t);
  const cpu = os.availableParallelism() > 1 ? 1 : 0;
  const serve = await startServe(t, sns, ['--cpus', String(cpu)]);
  const json = path.join(tempDir(t), 'r.json');
  const r = await controller(t, ctl, ['--peer', serve.peer, '--token', serve.token, '--cores', '2', '--no-sweep', '--iterations', '200', '--json', json]).done;
  assert.equal(r.status, 0, r.stderr);
  const result = JSON.parse(readFileSync(json, 'utf8'));
  assertValid('result', result);
  assert.deepEqual(result.environment.remote.cpus, [cpu]);
  assert.match(r.stderr + r.stdout, new RegExp(`its lanes pinned to CPUs ${cpu}\\)`));
  for (const lane of result.steps[0].lanes) assert.deepEqual(lane.resetCpusSeen, [cpu], "each of serve's resetting closes ran on the CPU --cpus named");
  await serve.done;
  const bad = spawnSync(process.execPath, [bin, 'serve', '--listen', '127.0.0.1:0', '--cpus', '1000'], { encoding: 'utf8' });
  assert.equal(bad.status, 2, bad.stderr);
  assert.match(bad.stderr, /--cpus/);
  assert.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr);
  assert.doesNotMatch(bad.stderr, NO_STACK);
});

test('with --reset-side client serve is the victim: its closes, probes and skew are the step\'s, the resetting closes and the kernel check the controller\'s', { skip }, async (t) => {
  const { serve: sns, ctl } = await twoHosts(t);
  const dir = tempDir(t);
  const serve = await startServe(t, sns);
  const json = path.join(dir, 'r.json');
  const r = await controller(t, ctl, ['--peer', serve.peer, '--token', serve.token, '--reset-side', 'client', '--probe', 'shutdown', '--cores', '1', '--iterations', '200', '-q', '--json', json]).done;
  assert.equal(r.status, 0, r.stderr);
  const s = await serve.done;
  assert.equal(s.status, 0, s.stderr);
  const result = JSON.parse(readFileSync(json, 'utf8'));
  assertValid('result', result);
  assert.equal(result.environment.remote.serveRole, 'victim');
  const [step] = result.steps;
  const { controller: mine, serve: theirs } = step.sides;
  assert.equal(Number(/step 1: ([0-9]+) trials as the victim/.exec(s.stderr)?.[1]), theirs.trials, "serve's tally is what serve logged");
  assert.equal(step.trials, theirs.trials, "the trials are the victim side's, serve's here");
  assert.equal(total(step.calls.close) + step.setupFailed, step.trials, 'every trial is a victim close result or a setup failure');
  assert.equal(total(step.calls.shutdown), total(step.calls.close), 'the probe ran on serve before every victim close');
  assert.equal(total(step.calls.resetClose) + mine.setupFailed, mine.trials, "every resetting close is the controller's");
  assert.deepEqual(step.kernel, mine.kernel, "the kernel check is the resetting side's: the controller's namespace");
  assert.ok(step.kernel.deltas.OutRsts >= step.calls.resetClose.ok);
  assert.equal(step.achievedSkew.samples, total(step.calls.close));
});

test('serve refuses a wrong token, logs and counts it, and still serves the controller with the right one (a skew sweep, each side\'s counts added over its points)', { skip }, async (t) => {
  const { serve: sns, ctl } = await twoHosts(t);
  const serve = await startServe(t, sns);
  const wrong = await controller(t, ctl, ['--peer', serve.peer, '--token', 'f'.repeat(32), '--cores', '1', '--iterations', '20', '-q']).done;
  assert.equal(wrong.status, 1);
  assert.match(wrong.stderr, /serve refused this controller: wrong token/);
  assert.doesNotMatch(wrong.stderr, NO_STACK);
  await until(() => /refused \S+: wrong token \(1 refused so far\)/.test(serve.output().stderr), 'serve logs the refusal and its count');
  // The right token still works, here with a skew sweep: three points, each its own step on serve.
  const json = path.join(tempDir(t), 'r.json');
  const right = await controller(t, ctl, ['--peer', serve.peer, '--cores', '1', '--iterations', '100', '--skew', '-1us:1us:1us', '-q', '--json', json], { env: { CLOSE_STRESS_TOKEN: serve.token } }).done;
  assert.equal(right.status, 0, right.stderr);
  const s = await serve.done;
  assert.match(s.stderr, /3 steps served, 1 connections refused/);
  const [step] = JSON.parse(readFileSync(json, 'utf8')).steps;
  assert.deepEqual(step.skew.points.map((p) => p.askedNs), [-1000, 0, 1000]);
  assert.equal(step.trials, 300);
  assert.equal(step.sides.controller.trials, 300, "each side's own count adds up over the sweep's points");
  assert.equal(step.sides.serve.trials, total(step.calls.resetClose) + step.sides.serve.setupFailed);
});

test('killing serve mid-step fails that step, keeps the finished ones in the JSON and the journal, and the controller exits 1', { skip }, async (t) => {
  const { serve: sns, ctl } = await twoHosts(t);
  const dir = tempDir(t);
  const serve = await startServe(t, sns);
  const json = path.join(dir, 'r.json');
  const run = controller(t, ctl, ['--peer', serve.peer, '--token', serve.token, '--cores', '1,2', '--duration', '3s', '-q', '--json', json]);
  const journal = `${json}.jsonl`;
  // The first step is in the journal once it finished; the second has begun by then or soon after.
  await until(() => existsSync(journal) && readFileSync(journal, 'utf8').includes('"type":"step"'), 'the first step is journaled', 30_000);
  await new Promise((r) => setTimeout(r, 300));
  serve.child.kill('SIGKILL');
  const r = await run.done;
  assert.equal(r.status, 1, r.stderr);
  assert.doesNotMatch(r.stderr, NO_STACK);
  const result = JSON.parse(readFileSync(json, 'utf8'));
  assert.equal(result.status, 'failed');
  assert.match(result.error, /2-core step failed: .*(went away|gone|no result)/);
  assert.deepEqual(result.steps.map((s) => s.cores), [1], 'the finished step is kept');
  assert.ok(result.steps[0].trials > 0);
});

test('serve stops by itself when the controller goes away mid-step (exit 1, saying so)', { skip }, async (t) => {
  const { serve: sns, ctl } = await twoHosts(t);
  const serve = await startServe(t, sns);
  const run = controller(t, ctl, ['--peer', serve.peer, '--token', serve.token, '--cores', '1', '--duration', '30s', '-q']);
  await until(() => /controller \S+ authenticated/.test(serve.output().stderr), 'serve accepts the controller');
  await new Promise((r) => setTimeout(r, 500));
  run.child.kill('SIGKILL');
  const s = await serve.done;
  assert.equal(s.status, 1);
  assert.match(s.stderr, /the controller went away/);
});

test('serve stops a step at its --step-timeout, listens only on the --listen address meanwhile, and the controller stops with it and keeps the counts', { skip, timeout: 60_000 }, async (t) => {
  const { serve: sns, ctl } = await twoHosts(t);
  const dir = tempDir(t);
  const serve = await startServe(t, sns, ['--step-timeout', '2s']);
  const json = path.join(dir, 'r.json');
  // Far more trials than 2 s can run: only serve's bound can end this step.
  const run = controller(t, ctl, ['--peer', serve.peer, '--token', serve.token, '--cores', '1', '--iterations', '1e8', '-q', '--json', json]);
  await until(() => /controller \S+ authenticated/.test(serve.output().stderr), 'serve accepts the controller');
  await new Promise((r) => setTimeout(r, 500));
  const listening = execFileSync('nsenter', [`--net=/proc/${sns.pid}/ns/net`, 'ss', '-Hltn'], { encoding: 'utf8' }).trim().split('\n').map((l) => l.trim().split(/\s+/)[3]);
  assert.ok(listening.length >= 2, `serve's control listener and its lane's: ${listening}`);
  for (const local of listening) assert.match(local, /^198\.18\.2\.1:[0-9]+$/, 'every listener is on the --listen address');
  const r = await run.done;
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /stopped early by serve's --step-timeout/);
  const [step] = JSON.parse(readFileSync(json, 'utf8')).steps;
  assert.match(step.sides.serve.stoppedBy, /--step-timeout \(2000 ms\)/);
  assert.ok(step.trials > 0 && step.trials < 1e8);
  assert.equal(total(step.calls.close) + step.setupFailed, step.trials, 'every trial is a victim close result or a setup failure');
  assert.equal((await serve.done).status, 0);
});

test('serve runs only orders within their bounds: lanes, trials, skew, wait, role and probes are checked', async () => {
  const { checkOrder } = await import('../dist/serve.js');
  const good = { type: 'step', id: 1, lanes: 2, trials: 100, skewNs: -500, probes: [], role: 'resetter', waitMs: 5000 };
  assert.equal(checkOrder(good, 4), undefined);
  assert.equal(checkOrder({ ...good, role: 'victim', probes: ['shutdown', 'send'] }, 4), undefined);
  for (const [change, why] of [
    [{ lanes: 0 }, /lanes/], [{ lanes: 1025 }, /lanes/], [{ lanes: 1.5 }, /lanes/],
    [{ trials: 0 }, /trials/], [{ trials: 2 ** 53 }, /trials/], [{ trials: '100' }, /trials/],
    [{ skewNs: 1e6 + 1 }, /skewNs/], [{ waitMs: 0 }, /waitMs/], [{ waitMs: 60_001 }, /waitMs/],
    [{ role: 'shell' }, /role/], [{ role: 'victim', probes: ['accept'] }, /probes/], [{ role: 'victim', probes: 'shutdown' }, /probes/],
    [{ probes: ['shutdown'] }, /victim side only/], [{ id: -1 }, /id/],
  ]) {
    assert.match(checkOrder({ ...good, ...change }, 4) ?? 'accepted', why, JSON.stringify(change));
  }
});

test('--peer refuses in one line what cannot run across two hosts, and records the path as remote without the token', async () => {
  const { parseArgs } = await import('../dist/cli.js');
  const parse = (...args) => parseArgs(['node', 'close-stress', ...args], 2);
  const ok = parse('--peer', '198.18.2.1:7000', '--token', 'abc');
  assert.equal(ok.path, 'remote');
  assert.equal(ok.peer, '198.18.2.1:7000');
  assert.equal(ok.race, 'cross-thread', 'two hosts: the resetter is a thread of the other host');
  assert.equal(JSON.stringify(ok).includes('abc'), false, 'the token is not in the options the result records');
  assert.equal(parse('--peer', '[2001:2::1]:7000', '--family', '6', '--token', 'abc').peer, '[2001:2::1]:7000');
  for (const [args, why] of [
    [['--peer', 'serve-host:7000', '--token', 'a'], /--peer takes a numeric address and port/],
    [['--peer', '198.18.2.1', '--token', 'a'], /--peer takes a numeric address and port/],
    [['--peer', '198.18.2.1:0', '--token', 'a'], /--peer takes a numeric address and port/],
    [['--peer', '2001:2::1:7000', '--family', '6', '--token', 'a'], /--peer takes a numeric address and port/],
    [['--peer', '198.18.2.1:7000'], /--peer needs the token serve printed/],
    [['--token', 'a'], /--token needs --peer/],
    [['--peer', '198.18.2.1:7000', '--token', 'a', '--path', 'veth'], /--path cannot be used with --peer/],
    [['--peer', '198.18.2.1:7000', '--token', 'a', '--race', 'same-thread'], /--race same-thread cannot be run with --peer/],
    [['--peer', '198.18.2.1:7000', '--token', 'a', '--resetter', 'next'], /--resetter cannot be used with --peer/],
    [['--peer', '198.18.2.1:7000', '--token', 'a', '--probe', 'accept'], /--probe accept cannot be used with --peer/],
    [['--peer', '198.18.2.1:7000', '--token', 'a', '--family', '6'], /is IPv4: give --family 4/],
  ]) {
    const env = process.env.CLOSE_STRESS_TOKEN;
    delete process.env.CLOSE_STRESS_TOKEN;
    try {
      assert.throws(() => parse(...args), (err) => err.name === 'UsageError' && why.test(err.message) && !err.message.includes('\n'), args.join(' '));
    } finally {
      if (env !== undefined) process.env.CLOSE_STRESS_TOKEN = env;
    }
  }
});
