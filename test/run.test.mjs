// Real runs on this kernel's loopback, as a user types them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { bin, runCli, sum, tempDir } from './helpers/cli.mjs';
import { assertValid } from './helpers/schema.mjs';

for (const race of ['same-thread', 'cross-thread']) {
  test(`${race}: every trial is a victim close() outcome or a setup failure, and the JSON carries the run`, (t) => {
    const json = path.join(tempDir(t), 'r.json');
    const r = runCli(['--cores', '2', '--iterations', '5000', '--race', race, '--json', json]);
    assert.equal(r.code, 0, r.stderr);
    const res = r.result;
    assertValid('result', res);
    assert.equal(res.schema, 'close-stress/result');
    assert.equal(res.schemaVersion, 1);
    assert.equal(res.status, 'completed');
    assert.equal(res.race.shape, race);
    assert.deepEqual(res.options.cores, [1, 2]);
    assert.equal(res.options.iterations, 5000);
    const env = res.environment;
    for (const field of [env.os.type, env.os.release, env.os.version, env.cpu.model, env.node, env.tool.version]) {
      assert.equal(typeof field, 'string');
      assert.ok(field.length > 0);
    }
    assert.ok(env.cpu.allowed.length >= 1);
    assert.ok(Date.parse(res.startedAt) <= Date.parse(res.finishedAt));
    for (const s of res.steps) {
      assert.equal(s.trials, 5000);
      assert.equal(s.calls.close.ok + sum(s.calls.close.errors) + s.setupFailed, s.trials);
      assert.ok(s.trialsPerSec > 0);
      assert.equal(s.lanes.length, s.cores);
      for (const lane of s.lanes) {
        assert.ok(lane.cpusSeen.length >= 1, 'the CPU each worker ran on is recorded');
        if (lane.pinned) assert.deepEqual(lane.cpusSeen, [lane.cpu]);
        if (race === 'cross-thread') assert.ok(lane.resetCpusSeen.length >= 1);
      }
      assert.equal(typeof s.posix.close.ci95.high, 'number');
    }
    assert.match(r.stdout, new RegExp(`race: ${race}`));
    assert.match(r.stdout, /verdict:/);
  });
}

test('a step asking for more cores than the process may use runs oversubscribed and says so everywhere', (t) => {
  const json = path.join(tempDir(t), 'r.json');
  const r = runCli(['--cores', '3', '--no-sweep', '--iterations', '2000', '--json', json]);
  assert.equal(r.code, 0, r.stderr);
  const [s] = r.result.steps;
  const cpus = r.result.environment.cpu.allowed.length;
  assert.equal(s.oversubscribed, 3 > cpus);
  if (s.oversubscribed) {
    assert.match(r.stdout, /\n\s+3\*/);
    assert.match(r.stdout, /oversubscribed/);
  }
  assert.deepEqual(r.result.steps.map((x) => x.cores), [3]);
});

test('a --cores list runs exactly those core counts, in order', (t) => {
  const json = path.join(tempDir(t), 'r.json');
  const r = runCli(['--cores', '2,1,3', '--iterations', '1000', '--json', json]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.result.steps.map((s) => s.cores), [2, 1, 3]);
});

test('stdout is the table and only the table; no progress bars when stderr is not a terminal', () => {
  const r = runCli(['--cores', '1', '--iterations', '1000']);
  assert.equal(r.code, 0);
  // The whole of stdout, section by section: header, step table, the notes below it (each of a
  // known kind), latency table, verdict. Every line must be one of these.
  const out = r.stdout.split('\n');
  assert.equal(out.pop(), '', 'stdout ends with a newline');
  const header = [
    /^close-stress \S+ on .+$/,
    /^race: same-thread; RST sent by the server, victim close\(\) on the client; IPv4 loopback; 1,000 trials per step$/,
    /^CPUs allowed: .+$/,
    /^topology: .+$/,
    /^kernel: .+; close\(\) when the RST wins the race: .+$/,
    /^$/,
    /^cores +threads +trials +trials\/s +efficiency +close OK +setup fail +outside POSIX \[95% CI\] +hits\/s \[95% CI\] +first hit +CPUs seen$/,
    /^ +1 +1 +1,000 +[\d,]+ +100% +[\d,]+ +[\d,]+ +[\d,]+ \([^)]+\) +\S.* +\S+ +\S+$/,
    /^$/,
  ];
  header.forEach((re, i) => assert.match(out[i] ?? '', re, `stdout line ${i + 1}`));
  const latencyAt = out.indexOf('victim close() latency (bucket upper bounds):');
  assert.ok(latencyAt > header.length, r.stdout);
  const notes = [
    /^$/,
    /^machine load \(1-minute average, before -> after each step\): 1 cores \d+\.\d\d -> \d+\.\d\d$/,
    /^kernel \(.+\): OutRsts per resetting close: 1 cores \d+\.\d\d$/,
    /^race lost \(kernel counter\): unavailable: .+$/,
    /^receive work per step, machine-wide .+:$/,
    /^ {2}1 cores \(victims on \d+\): NET_RX runs .+$/,
    /^hits\/s: victim close\(\) errors outside POSIX per second of step time .+$/,
  ];
  for (const [i, line] of out.slice(header.length, latencyAt).entries()) {
    assert.ok(notes.some((re) => re.test(line)), `stdout line ${header.length + i + 1} is no known note: ${line}`);
  }
  const latencyRows = out.filter((l) => /^ +1 +(returned 0|failed) /.test(l)).length;
  assert.ok(latencyRows === 1 || latencyRows === 2, 'one latency row per close() outcome');
  const tail = [
    /^victim close\(\) latency \(bucket upper bounds\):$/,
    /^cores +close\(\) +count +p50 +p90 +p99 +p99\.9 +max$/,
    ...Array(latencyRows).fill(/^ +1 +(returned 0|failed) +[\d,]+( +[\d.]+[nmu]?s){5}$/),
    /^$/,
    /^verdict: .+\.$/,
  ];
  assert.equal(out.length - latencyAt, tail.length, r.stdout);
  tail.forEach((re, i) => assert.match(out[latencyAt + i], re, `stdout line ${latencyAt + i + 1}`));
  assert.equal(r.stderr, '', 'nothing on stderr: no progress bars, no log lines at the default level');
});

test('--log-file gets structured events: start, each step, end', (t) => {
  const log = path.join(tempDir(t), 'run.log');
  const r = runCli(['--cores', '2', '--iterations', '1000', '--log-file', log]);
  assert.equal(r.code, 0, r.stderr);
  const events = readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l).event);
  assert.deepEqual(events, ['start', 'step', 'step', 'end']);
});

test('an existing --json file is kept unless --force is given', (t) => {
  const json = path.join(tempDir(t), 'r.json');
  writeFileSync(json, 'earlier result');
  const refused = runCli(['--cores', '1', '--iterations', '100', '--json', json]);
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /already exists; pass --force/);
  assert.equal(readFileSync(json, 'utf8'), 'earlier result');
  const forced = runCli(['--cores', '1', '--iterations', '100', '--json', json, '--force']);
  assert.equal(forced.code, 0, forced.stderr);
  assert.equal(forced.result.status, 'completed');
});

const badFlags = [
  [['--iterations', '0'], /--iterations/],
  [['--iterations', '-5'], /--iterations/],
  [['--iterations', '1.5'], /--iterations/],
  [['--iterations', '1e20'], /--iterations takes a positive integer below 2\^53/],
  [['--iterations', 'lots'], /--iterations/],
  [['--cores', '0'], /--cores/],
  [['--cores', '2,2'], /--cores lists a core count twice/],
  [['--cores', '99999'], /--cores takes at most 1024/],
  [['--race', 'sideways'], /--race takes same-thread or cross-thread/],
  [['--reset-side', 'both'], /--reset-side takes server or client/],
  [['--family', '5'], /--family takes 4 or 6/],
  [['--log-level', 'loud'], /--log-level/],
  [['--bogus'], /unknown option '--bogus'/],
  [['--json', '/nonexistent-dir/r.json'], /--json \/nonexistent-dir\/r.json: directory \/nonexistent-dir does not exist/],
  [['extra-arg'], /unexpected argument 'extra-arg'|unknown command 'extra-arg'/],
];
for (const [args, message] of badFlags) {
  test(`usage error: close-stress ${args.join(' ')} exits 2 with one line`, () => {
    const r = runCli(args);
    assert.equal(r.code, 2);
    assert.equal(r.stdout, '');
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0], /^close-stress: /);
    assert.match(lines[0], message);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  });
}

test('--help documents every option and exits 0', () => {
  const r = runCli(['--help']);
  assert.equal(r.code, 0);
  for (const flag of ['--cores', '--no-sweep', '--iterations', '--race', '--reset-side', '--family', '--json', '--force', '--quiet', '--log-file', '--log-level']) {
    assert.match(r.stdout, new RegExp(flag));
  }
});

test('a tree whose build step never ran says how to build, in one line', (t) => {
  const dir = tempDir(t);
  mkdirSync(path.join(dir, 'bin'));
  copyFileSync(bin, path.join(dir, 'bin', 'close-stress.js'));
  const r = spawnSync(process.execPath, [path.join(dir, 'bin', 'close-stress.js')], { encoding: 'utf8' });
  assert.equal(r.status, 1);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0], /npm install|npm run build/);
});

test('report and compare refuse a malformed or foreign file in one line, exit 2', (t) => {
  const dir = tempDir(t);
  const files = {
    'not-object.json': '[1]',
    'no-steps.json': JSON.stringify({ schema: 'close-stress/result', options: { cores: [1] }, race: {}, environment: {} }),
    'bad-step.json': JSON.stringify({ schema: 'close-stress/result', options: { cores: [1] }, race: {}, environment: {}, steps: [{ cores: 1 }] }),
    'bad-journal.jsonl': '{"type":"run","schema":"close-stress/journal"}\n{"type":"step","step":{"cores":1}}\n',
  };
  for (const [name, text] of Object.entries(files)) {
    const file = path.join(dir, name);
    writeFileSync(file, text);
    const r = runCli(['report', file]);
    assert.equal(r.code, 2, `${name}: ${r.stderr}`);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`^close-stress: error: ${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: not a`));
  }
});

test('run flags before a subcommand are refused, not silently dropped', (t) => {
  const json = path.join(tempDir(t), 'r.json');
  assert.equal(runCli(['--cores', '1', '--iterations', '100', '--json', json]).code, 0);
  const r = runCli(['--json', path.join(path.dirname(json), 'other.json'), 'report', json]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^close-stress: error: --json is a run option; 'report' does not take it\n$/);
});

const hasTaskset = spawnSync('taskset', ['-c', '0,1', 'true']).status === 0;
test('on Linux with two allowed CPUs every lane is pinned to the CPU the plan gave it', { skip: (process.platform !== 'linux' && 'pinning is checked where the OS can pin: Linux') || (!hasTaskset && 'needs taskset and CPUs 0 and 1') }, (t) => {
  const json = path.join(tempDir(t), 'r.json');
  // taskset makes the allowed set exactly {0, 1}: the plan then gives lane i CPU i
  // and its resetter the other one.
  const r = spawnSync('taskset', ['-c', '0,1', process.execPath, bin, '--cores', '2', '--no-sweep', '--iterations', '2000',
    '--race', 'cross-thread', '--json', json, '-q'], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, r.stderr);
  const res = JSON.parse(readFileSync(json, 'utf8'));
  assert.deepEqual(res.environment.cpu.allowed, [0, 1]);
  assert.equal(res.environment.cpu.canPin, true);
  const [s] = res.steps;
  assert.deepEqual(s.lanes.map((l) => [l.cpu, l.resetCpu, l.pinned]), [[0, 1, true], [1, 0, true]]);
  for (const lane of s.lanes) {
    assert.deepEqual(lane.cpusSeen, [lane.cpu], 'the victim thread ran only where it was pinned');
    assert.deepEqual(lane.resetCpusSeen, [lane.resetCpu], 'the resetter thread ran only where it was pinned');
  }
});
