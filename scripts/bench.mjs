#!/usr/bin/env node
// `npm run bench`: close-stress against a hand-written C loop doing the same
// trials (scripts/reference/trial-ref.c), then peak memory against iterations.
//
// The two programs run alternately, round after round, so that load from
// anything else on the machine lands on both. The claim is the ratio
// close-stress trials/s / reference trials/s (median over rounds); absolute
// rates depend on the machine.
//
//   node scripts/bench.mjs [--rounds 5] [--iterations 1e5] [--cores 1,2]
//     [--races same-thread,cross-thread] [--memory 1e5,1e6 | --no-memory] [--json out.json]
//     [--lanes 16,64,256 | --no-lanes] [--lane-iterations 2e4]
//     [--lane-baseline other/checkout/bin/close-stress.js] [--lane-rounds 1]
//     [--close-stress other/checkout/bin/close-stress.js] [--no-sensitivity]
//     [--veth]   (Linux, root: trials/s over --path veth vs loopback, alternating rounds)
//     [--remote] (Linux, root: trials/s of serve/--peer in two namespaces joined by veth vs loopback cross-thread)
//
// Then, as root on Linux, hits per second per setting under the FreeBSD proxy
// (scripts/sensitivity.mjs), as ratios to the naive same-thread figure.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildDouble, sensitivity, unavailable } from './sensitivity.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
let cli = path.join(root, 'bin', 'close-stress.js');
const MiB = 1024 * 1024;

function parseArgs(argv) {
  const args = {
    rounds: 5,
    iterations: 1e5,
    cores: null,
    races: ['same-thread', 'cross-thread'],
    memory: [1e5, 1e6],
    lanes: [16, 64, 256],
    laneIterations: 2e4,
    laneBaseline: null,
    laneRounds: 1,
    json: null,
    sensitivity: true,
    veth: false,
    remote: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--rounds') args.rounds = Number(next());
    else if (a === '--iterations') args.iterations = Number(next());
    else if (a === '--cores') args.cores = next().split(',').map(Number);
    else if (a === '--races') args.races = next().split(',');
    else if (a === '--memory') args.memory = next().split(',').map(Number);
    else if (a === '--no-memory') args.memory = [];
    else if (a === '--lanes') args.lanes = next().split(',').map(Number);
    else if (a === '--no-lanes') args.lanes = [];
    else if (a === '--lane-iterations') args.laneIterations = Number(next());
    else if (a === '--lane-baseline') args.laneBaseline = path.resolve(next()); // the lane-cost section's "before" build
    else if (a === '--lane-rounds') args.laneRounds = Number(next());
    else if (a === '--json') args.json = next();
    else if (a === '--no-sensitivity') args.sensitivity = false;
    else if (a === '--veth') args.veth = true;
    else if (a === '--remote') args.remote = true;
    else if (a === '--close-stress') cli = path.resolve(next()); // another build's bin/close-stress.js
    else throw new Error(`unknown argument ${a}`);
  }
  if (!(args.rounds >= 1) || !(args.iterations >= 1)) throw new Error('--rounds and --iterations take positive numbers');
  return args;
}

/** Compiles the reference at bench time (never a committed binary). */
export function buildReference(dir) {
  const out = path.join(dir, 'trial-ref');
  const cc = process.env.CC || 'cc';
  execFileSync(cc, ['-O2', '-pthread', '-o', out, path.join(root, 'scripts', 'reference', 'trial-ref.c')], { stdio: 'inherit' });
  return out;
}

/** What each thread of a stuck process is doing, for the report, before it is killed. */
function threadStates(pid) {
  try {
    const dir = `/proc/${pid}/task`;
    return readdirSync(dir)
      .map((tid) => {
        const read = (f) => { try { return readFileSync(`${dir}/${tid}/${f}`, 'utf8').trim(); } catch { return '?'; } };
        const state = read('stat').replace(/^.*\) /, '').split(' ')[0];
        return `${tid} ${read('comm')} ${state} ${read('wchan')}`;
      })
      .join('; ');
  } catch {
    return 'no /proc';
  }
}

// A run slower than this is reported as stuck (with its threads' states), not waited for.
const runTimeoutMs = (iterations) => 60_000 + iterations / 5;

function execute(cmd, argv, timeoutMs) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let stuck = '';
    const timer = timeoutMs && setTimeout(() => {
      stuck = threadStates(child.pid);
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      const wallNs = Number(process.hrtime.bigint() - t0);
      const what = `${path.basename(cmd)} ${argv.map((a) => path.basename(a)).join(' ')}`;
      if (stuck) reject(new Error(`${what} took over ${timeoutMs / 1000} s; threads (tid comm state wchan): ${stuck}`));
      else if (code !== 0) reject(new Error(`${what} ${signal ? `killed by ${signal}` : `exited ${code}`}: ${stderr.trim().split('\n').pop()}`));
      else resolve({ stdout, wallNs });
    });
  });
}

/** One reference run: its own JSON line. */
export async function runReference(bin, cores, iterations, race) {
  const { stdout, wallNs } = await execute(bin, [String(cores), String(iterations), race, 'server', '4'], runTimeoutMs(iterations));
  const r = JSON.parse(stdout.trim().split('\n').pop());
  return { trialsPerSec: r.trialsPerSec, trials: r.trials, wallTrialsPerSec: (r.trials * 1e9) / wallNs };
}

/** One close-stress run of a single step; rate from its JSON, plus the process's wall time. */
async function runCloseStress(tmp, cores, iterations, race, extra = []) {
  const json = path.join(tmp, 'result.json');
  const argv = [cli, '--cores', String(cores), '--no-sweep', '--iterations', String(iterations), '--race', race, '-q', '--json', json, '--force', ...extra];
  const { wallNs } = await execute(process.execPath, argv, runTimeoutMs(iterations));
  const step = JSON.parse(readFileSync(json, 'utf8')).steps[0];
  return {
    trialsPerSec: step.trialsPerSec,
    trials: step.trials,
    wallTrialsPerSec: (step.trials * 1e9) / wallNs,
    wallMs: wallNs / 1e6,
    startup: step.startup,
  };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const spread = (xs) => ({ min: Math.min(...xs), median: median(xs), max: Math.max(...xs) });
const fmtInt = (n) => Math.round(n).toLocaleString('en-US');
const fmtRatio = (s) => `${s.min.toFixed(3)} / ${s.median.toFixed(3)} / ${s.max.toFixed(3)}`;

function table(headers, rows) {
  const widths = headers.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
  const line = (cells) => cells.map((x, c) => x.padStart(widths[c])).join('  ');
  return [line(headers), ...rows.map(line)].join('\n');
}

async function ratios(args, bin, tmp, failures) {
  const points = [];
  for (const race of args.races) {
    for (const cores of args.cores) {
      const rounds = [];
      for (let r = 0; r < args.rounds; r++) {
        // Alternate who goes first, so a slow phase of the machine does not always hit the same side.
        let ref;
        let cs;
        try {
          if (r % 2 === 0) {
            ref = await runReference(bin, cores, args.iterations, race);
            cs = await runCloseStress(tmp, cores, args.iterations, race);
          } else {
            cs = await runCloseStress(tmp, cores, args.iterations, race);
            ref = await runReference(bin, cores, args.iterations, race);
          }
        } catch (err) {
          // Kept in the report: a stuck or killed run is a finding, not noise to drop silently.
          failures.push(`${race} ${cores}c round ${r + 1}: ${err.message}`);
          process.stderr.write(`  ${race} ${cores}c round ${r + 1}: FAILED ${err.message}\n`);
          continue;
        }
        rounds.push({ ref, cs, ratio: cs.trialsPerSec / ref.trialsPerSec, wallRatio: cs.wallTrialsPerSec / ref.wallTrialsPerSec });
        process.stderr.write(`  ${race} ${cores}c round ${r + 1}: ref ${fmtInt(ref.trialsPerSec)}/s, close-stress ${fmtInt(cs.trialsPerSec)}/s, ratio ${(cs.trialsPerSec / ref.trialsPerSec).toFixed(3)}\n`);
      }
      if (rounds.length === 0) continue;
      points.push({
        race,
        cores,
        ratio: spread(rounds.map((x) => x.ratio)),
        wallRatio: spread(rounds.map((x) => x.wallRatio)),
        referenceTrialsPerSec: spread(rounds.map((x) => x.ref.trialsPerSec)),
        closeStressTrialsPerSec: spread(rounds.map((x) => x.cs.trialsPerSec)),
        closeStressWallMs: spread(rounds.map((x) => x.cs.wallMs)),
        poolStartMs: spread(rounds.map((x) => x.cs.startup?.poolStartMs ?? NaN)),
        sinceProcessStartMs: spread(rounds.map((x) => x.cs.startup?.sinceProcessStartMs ?? NaN)),
        rounds,
      });
    }
  }
  return points;
}

/** Peak RSS of the whole close-stress process (worker threads included): GNU time's %M, else polled VmHWM. */
async function peakRss(tmp, cores, iterations) {
  const argv = [cli, '--cores', String(cores), '--no-sweep', '--iterations', String(iterations), '-q'];
  return (await measured(tmp, argv, runTimeoutMs(iterations) * 2)).peakRssBytes;
}

/** Runs close-stress with `argv`; its peak RSS (whole process) and wall time. */
async function measured(tmp, argv, timeoutMs) {
  if (existsSync('/usr/bin/time') && os.platform() === 'linux') {
    const out = path.join(tmp, 'time.txt');
    const { wallNs } = await execute('/usr/bin/time', ['-f', '%M', '-o', out, process.execPath, ...argv], timeoutMs);
    return { peakRssBytes: Number(readFileSync(out, 'utf8').trim().split('\n').pop()) * 1024, wallNs };
  }
  const t0 = process.hrtime.bigint();
  const child = spawn(process.execPath, argv, { stdio: 'ignore' });
  let hwm = 0;
  const poll = setInterval(() => {
    try {
      const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
      if (m) hwm = Math.max(hwm, Number(m[1]) * 1024);
    } catch {
      /* exited */
    }
  }, 20);
  await new Promise((resolve) => child.on('close', resolve));
  clearInterval(poll);
  return { peakRssBytes: hwm, wallNs: Number(process.hrtime.bigint() - t0) };
}

/** One --no-sweep step of `lanes` lanes run by the close-stress at `program`: its cost and rate. */
async function laneRun(program, tmp, lanes, iterations) {
  const json = path.join(tmp, 'lanes.json');
  const argv = [program, '--cores', String(lanes), '--no-sweep', '--iterations', String(iterations), '-q', '--json', json, '--force'];
  const { peakRssBytes, wallNs } = await measured(tmp, argv, runTimeoutMs(iterations) * 4);
  const step = JSON.parse(readFileSync(json, 'utf8')).steps[0];
  if (!step) throw new Error(`--cores ${lanes}: no step ran (descriptor limit? see ulimit -n)`);
  return {
    lanes,
    peakRssBytes,
    wallMs: wallNs / 1e6,
    poolStartMs: step.startup?.poolStartMs ?? NaN,
    firstTrialMs: step.startup?.sinceProcessStartMs ?? NaN,
    trialsPerSec: step.trialsPerSec,
  };
}

const FIELDS = ['peakRssBytes', 'wallMs', 'poolStartMs', 'firstTrialMs', 'trialsPerSec'];
const medianRow = (runs) => ({ lanes: runs[0].lanes, ...Object.fromEntries(FIELDS.map((k) => [k, median(runs.map((r) => r[k]))])) });

/**
 * What a lane costs: one --no-sweep step at each lane count (oversubscribed
 * on a small machine, which is the point: lanes, not CPUs), its peak RSS,
 * wall time and start-up (pool start: the step handed to the pool until the
 * first lane passes the start gate; first trial: from process start), each per
 * lane and as a ratio to the first count's. With --lane-baseline, the same
 * steps by that other build too, alternating which goes first, medians over
 * --lane-rounds: rows { lanes, now, before }.
 */
async function laneCost(args, tmp) {
  const rows = [];
  for (const lanes of args.lanes) {
    const now = [];
    const before = [];
    for (let r = 0; r < args.laneRounds; r++) {
      const order = args.laneBaseline && r % 2 === 1 ? [[args.laneBaseline, before], [cli, now]] : [[cli, now], ...(args.laneBaseline ? [[args.laneBaseline, before]] : [])];
      for (const [program, into] of order) into.push(await laneRun(program, tmp, lanes, args.laneIterations));
    }
    const row = { ...medianRow(now), ...(before.length > 0 && { before: medianRow(before) }) };
    rows.push(row);
    const say = (x) => `${(x.peakRssBytes / MiB).toFixed(0)} MiB, wall ${x.wallMs.toFixed(0)} ms, pool start ${x.poolStartMs.toFixed(0)} ms, ${fmtInt(x.trialsPerSec / lanes)} trials/s per lane`;
    process.stderr.write(`  ${lanes} lanes: ${say(row)}${row.before ? `; baseline ${say(row.before)}` : ''}\n`);
  }
  return rows;
}

export function laneCostLines(rows, iterations, baseline) {
  if (rows.length === 0) return [];
  const [first] = rows;
  const per = (r, k) => r[k] / r.lanes;
  const ratio = (r, k) => (per(r, k) / per(first, k)).toFixed(2);
  const out = [
    '',
    `lane cost: close-stress --cores N --no-sweep --iterations ${fmtInt(iterations)} (a lane is a pinned native thread, 64 to a worker; ratios are per-lane figures over the ${first.lanes}-lane run's)`,
    table(
      ['lanes', 'peak RSS MiB', 'RSS/lane MiB', 'ratio', 'wall ms', 'pool start ms', 'start/lane ms', 'ratio', 'first trial ms', 'trials/s per lane'],
      rows.map((r) => [
        String(r.lanes),
        (r.peakRssBytes / MiB).toFixed(0),
        (per(r, 'peakRssBytes') / MiB).toFixed(2),
        ratio(r, 'peakRssBytes'),
        r.wallMs.toFixed(0),
        r.poolStartMs.toFixed(0),
        per(r, 'poolStartMs').toFixed(2),
        ratio(r, 'poolStartMs'),
        r.firstTrialMs.toFixed(0),
        fmtInt(per(r, 'trialsPerSec')),
      ]),
    ),
  ];
  const compared = rows.filter((r) => r.before);
  if (compared.length === 0) return out;
  const vs = (r, k) => (r[k] / r.before[k]).toFixed(2);
  out.push(
    '',
    `lane cost against ${baseline ?? 'the baseline build'}: this build / baseline, same steps, alternating (first trial: process start to the first lane through the start gate)`,
    table(
      ['lanes', 'peak RSS MiB', 'ratio', 'first trial ms', 'ratio', 'wall ms', 'ratio', 'trials/s per lane', 'ratio'],
      compared.map((r) => [
        String(r.lanes),
        `${(r.before.peakRssBytes / MiB).toFixed(0)} -> ${(r.peakRssBytes / MiB).toFixed(0)}`,
        vs(r, 'peakRssBytes'),
        `${r.before.firstTrialMs.toFixed(0)} -> ${r.firstTrialMs.toFixed(0)}`,
        vs(r, 'firstTrialMs'),
        `${r.before.wallMs.toFixed(0)} -> ${r.wallMs.toFixed(0)}`,
        vs(r, 'wallMs'),
        `${fmtInt(per(r.before, 'trialsPerSec'))} -> ${fmtInt(per(r, 'trialsPerSec'))}`,
        vs(r, 'trialsPerSec'),
      ]),
    ),
  );
  return out;
}

/**
 * --veth: the same step over a veth pair between two namespaces and over
 * loopback, alternating; the claim is the ratio veth / loopback trials/s
 * (median over rounds), what the real driver path costs per trial.
 */
async function vethRatios(args, tmp) {
  if (!args.veth) return [];
  const points = [];
  for (const race of args.races) {
    for (const cores of args.cores) {
      const ratios = [];
      const rates = { loopback: [], veth: [] };
      for (let round = 0; round < args.rounds; round++) {
        const lo = await runCloseStress(tmp, cores, args.iterations, race);
        const ve = await runCloseStress(tmp, cores, args.iterations, race, ['--path', 'veth']);
        rates.loopback.push(lo.trialsPerSec);
        rates.veth.push(ve.trialsPerSec);
        ratios.push(ve.trialsPerSec / lo.trialsPerSec);
      }
      const point = { race, cores, loopbackTrialsPerSec: median(rates.loopback), vethTrialsPerSec: median(rates.veth), ratio: { min: Math.min(...ratios), median: median(ratios), max: Math.max(...ratios) } };
      points.push(point);
      process.stderr.write(`  veth ${race} ${cores}c: ratio ${point.ratio.median.toFixed(3)}\n`);
    }
  }
  return points;
}

export function vethLines(points, iterations) {
  if (points.length === 0) return [];
  return [
    '',
    `veth vs loopback: close-stress --path veth / --path loopback trials/s, ${fmtInt(iterations)} trials per run, alternating rounds`,
    table(
      ['race', 'cores', 'loopback/s (med)', 'veth/s (med)', 'ratio min/med/max'],
      points.map((p) => [p.race, String(p.cores), fmtInt(p.loopbackTrialsPerSec), fmtInt(p.vethTrialsPerSec), fmtRatio(p.ratio)]),
    ),
  ];
}

/**
 * --remote: `close-stress serve` in one network namespace and the controller
 * (--peer) in another, joined by a veth pair made here, against the same step
 * over loopback (cross-thread: a two-host trial is two threads), alternating;
 * the claim is remote / loopback trials/s, what the per-trial round trip of
 * the two-host mode costs on one machine.
 */
async function remoteRatios(args, tmp) {
  if (!args.remote) return [];
  const hold = () => spawn('unshare', ['--net', 'sleep', '3600'], { stdio: 'ignore' });
  const a = hold();
  const b = hold();
  const inNs = (pid, ...argv) => ['nsenter', `--net=/proc/${pid}/ns/net`, ...argv];
  try {
    await new Promise((r) => setTimeout(r, 300));
    execFileSync('ip', ['link', 'add', 'csbench0', 'netns', String(a.pid), 'type', 'veth', 'peer', 'name', 'csbench1', 'netns', String(b.pid)]);
    execFileSync(inNs(a.pid)[0], [...inNs(a.pid).slice(1), 'ip', '-b', '-'], { input: 'link set lo up\nlink set csbench0 up\naddr add 198.18.5.1/30 dev csbench0\n' });
    execFileSync(inNs(b.pid)[0], [...inNs(b.pid).slice(1), 'ip', '-b', '-'], { input: 'link set lo up\nlink set csbench1 up\naddr add 198.18.5.2/30 dev csbench1\n' });
    const points = [];
    for (const cores of args.cores) {
      const rates = { loopback: [], remote: [] };
      const ratios = [];
      for (let round = 0; round < args.rounds; round++) {
        const lo = await runCloseStress(tmp, cores, args.iterations, 'cross-thread');
        const serve = spawn('nsenter', [`--net=/proc/${a.pid}/ns/net`, process.execPath, cli, 'serve', '--listen', '198.18.5.1:0'], { stdio: ['ignore', 'pipe', 'ignore'] });
        let out = '';
        serve.stdout.on('data', (d) => { out += d; });
        for (let i = 0; i < 200 && !/^token: /m.test(out); i++) await new Promise((r) => setTimeout(r, 50));
        const peer = /listening on (\S+)/.exec(out)?.[1];
        const token = /^token: (\S+)/m.exec(out)?.[1];
        if (!peer || !token) { serve.kill('SIGKILL'); throw new Error('--remote: serve did not start'); }
        const json = path.join(tmp, 'remote.json');
        await execute('nsenter', [`--net=/proc/${b.pid}/ns/net`, process.execPath, cli, '--peer', peer, '--token', token, '--cores', String(cores), '--no-sweep', '--iterations', String(args.iterations), '-q', '--json', json, '--force'], runTimeoutMs(args.iterations) * 2);
        const re = JSON.parse(readFileSync(json, 'utf8')).steps[0];
        rates.loopback.push(lo.trialsPerSec);
        rates.remote.push(re.trialsPerSec);
        ratios.push(re.trialsPerSec / lo.trialsPerSec);
      }
      const point = { cores, loopbackTrialsPerSec: median(rates.loopback), remoteTrialsPerSec: median(rates.remote), ratio: spread(ratios) };
      points.push(point);
      process.stderr.write(`  remote ${cores}c: ratio ${point.ratio.median.toFixed(3)}\n`);
    }
    return points;
  } finally {
    a.kill('SIGKILL');
    b.kill('SIGKILL');
  }
}

export function remoteLines(points, iterations) {
  if (points.length === 0) return [];
  return [
    '',
    `two hosts on one machine: serve and --peer in two namespaces joined by veth / loopback cross-thread trials/s, ${fmtInt(iterations)} trials per run, alternating rounds`,
    table(
      ['cores', 'loopback/s (med)', 'remote/s (med)', 'ratio min/med/max'],
      points.map((p) => [String(p.cores), fmtInt(p.loopbackTrialsPerSec), fmtInt(p.remoteTrialsPerSec), fmtRatio(p.ratio)]),
    ),
  ];
}

async function memory(args, tmp, cores) {
  const rows = [];
  for (const n of args.memory) {
    const bytes = await peakRss(tmp, cores, n);
    rows.push({ iterations: n, peakRssBytes: bytes });
    process.stderr.write(`  memory ${n.toExponential(0)} iterations: ${(bytes / MiB).toFixed(1)} MiB\n`);
  }
  return rows;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const cpus = os.availableParallelism();
  args.cores ??= [...new Set([1, ...Array.from({ length: cpus }, (_, i) => i + 1)])];
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'close-stress-bench-'));
  try {
    const bin = buildReference(tmp);
    const load = () => os.loadavg().map((x) => x.toFixed(2)).join(' ');
    const loadBefore = load();
    process.stderr.write(`bench: ${args.rounds} rounds x ${fmtInt(args.iterations)} trials, cores ${args.cores.join(',')}, ${args.races.join(' and ')}; load ${loadBefore}\n`);
    const failures = [];
    const points = await ratios(args, bin, tmp, failures);
    const mem = await memory(args, tmp, cpus);
    const lanes = await laneCost(args, tmp);
    const veth = await vethRatios(args, tmp);
    const remote = await remoteRatios(args, tmp);
    const loadAfter = load();

    const out = [
      `close-stress vs reference C loop (scripts/reference/trial-ref.c) on ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${cpus} CPUs, ${os.type()} ${os.release()}`,
      `close-stress: ${cli}`,
      `${args.rounds} alternating rounds of ${fmtInt(args.iterations)} trials per point; load average ${loadBefore} before, ${loadAfter} after`,
      'ratio = close-stress trials/s (its JSON: start gate to end) / reference trials/s; wall ratio uses each process\'s whole wall time',
      '',
      table(
        ['race', 'cores', 'reference/s (med)', 'close-stress/s (med)', 'ratio min/med/max', 'wall ratio min/med/max', 'pool start ms (med)', 'first trial ms (med)'],
        points.map((p) => [
          p.race,
          String(p.cores),
          fmtInt(p.referenceTrialsPerSec.median),
          fmtInt(p.closeStressTrialsPerSec.median),
          fmtRatio(p.ratio),
          fmtRatio(p.wallRatio),
          p.poolStartMs.median.toFixed(1),
          p.sinceProcessStartMs.median.toFixed(1),
        ]),
      ),
    ];
    const GOAL = 0.95;
    const missed = points.filter((p) => p.ratio.median < GOAL);
    out.push('', missed.length === 0
      ? `goal met: median ratio >= ${GOAL} at every point.`
      : `goal (median ratio >= ${GOAL}) missed at: ${missed.map((p) => `${p.race} ${p.cores}c (${p.ratio.median.toFixed(3)})`).join(', ')}; compare the spread with the load average before calling it a regression.`);
    if (failures.length > 0) out.push('', `${failures.length} failed round(s), left out of the figures above:`, ...failures.map((f) => `  ${f}`));
    if (mem.length > 0) {
      out.push('', `peak RSS of close-stress --cores ${cpus} --no-sweep (whole process, worker threads included):`);
      for (const m of mem) out.push(`  ${fmtInt(m.iterations).padStart(12)} iterations: ${(m.peakRssBytes / MiB).toFixed(1)} MiB`);
      if (mem.length > 1) {
        const d = mem[mem.length - 1].peakRssBytes - mem[0].peakRssBytes;
        out.push(`  difference ${fmtInt(mem[mem.length - 1].iterations)} - ${fmtInt(mem[0].iterations)}: ${(d / MiB).toFixed(1)} MiB (goal < 10 MiB)`);
      }
    }
    out.push(...laneCostLines(lanes, args.laneIterations, args.laneBaseline));
    let sens;
    if (args.sensitivity) {
      const why = unavailable();
      if (why) out.push('', `sensitivity section skipped: ${why}`);
      else {
        const iterations = Math.min(args.iterations, 5000);
        sens = sensitivity({ cli, double: buildDouble(root, tmp), tmp, cores: 1, iterations, rounds: args.rounds });
        out.push('', `sensitivity (EMULATION: --netns proxy + test/helpers/freebsd-close-double.c), 1-core step, ${fmtInt(iterations)} trials, ${args.rounds} rounds:`,
          'hits/s = victim close() errors outside POSIX per second; ratio = median over rounds of hits/s / the baseline\'s in the same round',
          table(['setting', 'hits/s (med)', 'ratio (med)'], sens.map((r) => [r.setting, fmtInt(r.medianHitsPerSec), Number.isFinite(r.ratio) ? r.ratio.toFixed(2) : 'n/a'])));
      }
    }
    out.push(...vethLines(veth, args.iterations));
    out.push(...remoteLines(remote, args.iterations));
    process.stdout.write(out.join('\n') + '\n');
    if (args.json) {
      const machine = { cpu: os.cpus()[0]?.model, cpus, os: `${os.type()} ${os.release()}`, node: process.version };
      writeFileSync(args.json, JSON.stringify({ machine, args, loadBefore, loadAfter, points, failures, memory: mem, lanes, veth, remote, sensitivity: sens }, null, 2) + '\n');
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err) => {
    process.stderr.write(`bench: ${err.message}\n`);
    process.exit(1);
  });
}
