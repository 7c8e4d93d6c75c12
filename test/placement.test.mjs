// --placement and --resetter on fake machines: which CPUs each placement
// gives a step's lanes, and the victim/resetter pairs each --resetter makes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { readFileSync, writeFileSync } from 'node:fs';
import { placeLanes, placementOrder } from '../dist/env/placement.js';
import { buildPlan } from '../dist/plan/plan.js';
import { withScaling, stepResult } from '../dist/result/result.js';
import { parseTopologySpec, readLinuxTopology } from '../dist/env/topology.js';
import { runCli, tempDir } from './helpers/cli.mjs';
import { fakeSysfs, freebsdSpec } from './helpers/fake-topology.mjs';

const range = (n) => Array.from({ length: n }, (_, i) => i);
function machine(t, shape) {
  const topo = readLinuxTopology(fakeSysfs(tempDir(t), shape));
  return { topo, allowed: range(topo.cpus) };
}
const big = (t) => machine(t, { packages: 2, cores: 8, threads: 2, nodes: 2 });
const small = (t) => machine(t, { packages: 1, cores: 4, threads: 1 });
const victims = (lanes) => lanes.map((l) => l.cpu);
const where = (topo, cpu) => ({
  pkg: topo.groups.packages.findIndex((g) => g.includes(cpu)),
  node: topo.groups.nodes.findIndex((g) => g.includes(cpu)),
  llc: topo.groups.llcs.findIndex((g) => g.includes(cpu)),
  core: topo.groups.cores.findIndex((g) => g.includes(cpu)),
});

test('linear (the default) keeps lane i on the i-th allowed CPU, whatever the shape', (t) => {
  const { topo, allowed } = big(t);
  assert.deepEqual(victims(placeLanes(4, 'linear', undefined, topo, allowed)), [0, 1, 2, 3]);
  assert.deepEqual(victims(placeLanes(3, 'linear', undefined, topo, [5, 7, 9])), [5, 7, 9]);
});

test('spread alternates packages (and NUMA nodes) and uses every physical core before any SMT sibling', (t) => {
  const { topo, allowed } = big(t);
  const four = victims(placeLanes(4, 'spread', undefined, topo, allowed));
  assert.deepEqual(four, [0, 8, 1, 9]);
  assert.deepEqual(four.map((c) => where(topo, c).pkg), [0, 1, 0, 1]);
  const sixteen = victims(placeLanes(16, 'spread', undefined, topo, allowed));
  assert.equal(new Set(sixteen.map((c) => where(topo, c).core)).size, 16, '16 lanes: 16 different physical cores');
  const seventeen = victims(placeLanes(17, 'spread', undefined, topo, allowed));
  assert.equal(seventeen[16], 16, 'the 17th lane is the first sibling thread (CPU 16, core of CPU 0)');
});

test('pack fills one package (its cores, then their siblings) before the next; smt-first takes both threads of a core first', (t) => {
  const { topo, allowed } = big(t);
  const pack8 = victims(placeLanes(8, 'pack', undefined, topo, allowed));
  assert.deepEqual(pack8, [0, 1, 2, 3, 4, 5, 6, 7]);
  const pack16 = victims(placeLanes(16, 'pack', undefined, topo, allowed));
  assert.ok(pack16.every((c) => where(topo, c).pkg === 0), '16 lanes all on package 0');
  assert.deepEqual(victims(placeLanes(4, 'smt-first', undefined, topo, allowed)), [0, 16, 1, 17]);
});

test('placements choose among the allowed CPUs only (a cpuset or taskset limits them)', (t) => {
  const { topo } = big(t);
  const allowed = [2, 3, 10, 11, 18, 26];
  const order = placementOrder('spread', topo, allowed);
  assert.deepEqual([...order].sort((a, b) => a - b), [...allowed].sort((a, b) => a - b));
  assert.deepEqual(order.slice(0, 4), [2, 10, 3, 11]);
});

test('--resetter sibling pairs each victim with its own core\'s other thread; llc, other-package and other-node as named', (t) => {
  const { topo, allowed } = big(t);
  const sib = placeLanes(4, 'spread', 'sibling', topo, allowed);
  assert.deepEqual(sib.map((l) => [l.cpu, l.resetCpu]), [[0, 16], [8, 24], [1, 17], [9, 25]]);
  for (const l of placeLanes(4, 'spread', 'llc', topo, allowed)) {
    assert.equal(where(topo, l.resetCpu).llc, where(topo, l.cpu).llc, `lane ${l.cpu}: same L3`);
    assert.notEqual(where(topo, l.resetCpu).core, where(topo, l.cpu).core, `lane ${l.cpu}: another core`);
  }
  const llc = placeLanes(4, 'pack', 'llc', topo, allowed);
  assert.equal(new Set(llc.map((l) => l.resetCpu)).size, 4, 'resetters spread over the candidates instead of piling on one CPU');
  for (const l of placeLanes(4, 'pack', 'other-package', topo, allowed)) assert.notEqual(where(topo, l.resetCpu).pkg, where(topo, l.cpu).pkg);
  for (const l of placeLanes(4, 'pack', 'other-node', topo, allowed)) assert.notEqual(where(topo, l.resetCpu).node, where(topo, l.cpu).node);
  assert.deepEqual(placeLanes(3, 'linear', 'next', topo, [0, 1, 2]).map((l) => l.resetCpu), [1, 2, 0], 'next: the next lane\'s CPU, as before');
});

test('a resetter the machine cannot give is refused naming the option and the shape', (t) => {
  const { topo, allowed } = small(t);
  assert.throws(() => placeLanes(2, 'linear', 'sibling', topo, allowed), /^UsageError: --resetter sibling: CPU 0 has no allowed SMT sibling \(1 package x 4 cores x 1 thread/);
  assert.throws(() => placeLanes(2, 'linear', 'other-package', topo, allowed), /--resetter other-package: CPU 0 has no allowed CPU in another package/);
  const llc = placeLanes(2, 'linear', 'llc', topo, allowed);
  assert.deepEqual(llc.map((l) => [l.cpu, l.resetCpu]), [[0, 2], [1, 3]], 'llc on 4 cores: another core of the one L3, unused ones first');
});

test('placement works the same on a FreeBSD topology_spec (siblings numbered adjacently there)', () => {
  const topo = parseTopologySpec(freebsdSpec(), 2);
  const allowed = range(16);
  assert.deepEqual(victims(placeLanes(4, 'spread', undefined, topo, allowed)), [0, 8, 2, 10]);
  assert.deepEqual(placeLanes(2, 'spread', 'sibling', topo, allowed).map((l) => [l.cpu, l.resetCpu]), [[0, 1], [8, 9]]);
  assert.deepEqual(victims(placeLanes(4, 'smt-first', undefined, topo, allowed)), [0, 1, 2, 3]);
});

const options = (extra) => ({ cores: [1, 2], iterations: 10, race: 'same-thread', resetSide: 'server', family: 4, force: false, quiet: true, logLevel: 'silent', ...extra });

test('a placement sweep is one plan: every core count once per placement, each step naming its placement', (t) => {
  const { topo, allowed } = big(t);
  const plan = buildPlan(options({ placements: ['linear', 'spread'], race: 'cross-thread', resetters: ['sibling'] }), allowed, true, undefined, topo);
  assert.deepEqual(plan.steps.map((s) => `${s.cores} ${s.placement}`), ['1 linear, resetter sibling', '2 linear, resetter sibling', '1 spread, resetter sibling', '2 spread, resetter sibling']);
  assert.deepEqual(plan.steps[3].lanes, [{ cpu: 0, resetCpu: 16 }, { cpu: 8, resetCpu: 24 }]);
  const both = buildPlan(options({ cores: [2], placements: ['spread'], race: 'cross-thread', resetters: ['sibling', 'other-package'] }), allowed, true, undefined, topo);
  assert.deepEqual(both.steps.map((s) => s.placement), ['spread, resetter sibling', 'spread, resetter other-package']);
  assert.deepEqual(both.steps[1].lanes.map((l) => [l.cpu, l.resetCpu]), [[0, 9], [8, 1]], 'other-package: each resetter on the other package, on a CPU no victim uses');
  assert.equal(plan.maxLanes, 2);
  assert.throws(() => buildPlan(options({ placements: ['spread'] }), [0, 1], false), /--placement and --resetter need pinning/);
});

test('each placement of a sweep scales against its own 1-core step', () => {
  const step = (cores, placement, trials) => ({
    ...stepResult({ cores, threads: cores, oversubscribed: false, trials, elapsedNs: 1e9, calls: { close: { ok: trials, errors: {} }, resetClose: { ok: trials, errors: {} } }, setupFailures: {}, setupFailed: 0, strangers: 0, victimFd: { released: 0, retained: 0, reused: 0 }, lanes: [], interrupted: false, probes: [], probeSetupFailures: {}, latency: { close: { ok: { unit: 'ns', scheme: 'log-linear-16', counts: [] }, error: { unit: 'ns', scheme: 'log-linear-16', counts: [] } } } }),
    placement,
  });
  const scaled = withScaling([step(1, 'linear', 100), step(2, 'linear', 200), step(1, 'spread', 50), step(2, 'spread', 100)]);
  assert.deepEqual(scaled.map((s) => s.scaling.efficiency), [1, 1, 1, 1]);
  assert.deepEqual(scaled.map((s) => s.placement), ['linear', 'linear', 'spread', 'spread']);
});

test('the CLI runs a placement sweep from one flag, names each step\'s placement in the table and the JSON, and refuses bad values', (t) => {
  const dir = tempDir(t);
  const json = path.join(dir, 'r.json');
  const r = runCli(['--cores', '2', '--no-sweep', '--iterations', '300', '-q', '--placement', 'linear,spread', '--race', 'cross-thread', '--resetter', 'llc', '--json', json]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /cores +placement +threads/);
  assert.match(r.stdout, /^ +2\* +linear, resetter llc +4 /m);
  assert.match(r.stdout, /^ +2\* +spread, resetter llc +4 /m);
  assert.deepEqual(r.result.steps.map((s) => s.placement), ['linear, resetter llc', 'spread, resetter llc']);
  assert.deepEqual(r.result.options.placements, ['linear', 'spread']);
  const bad = runCli(['--placement', 'diagonal', '--iterations', '10']);
  assert.equal(bad.code, 2);
  assert.equal(bad.stderr, "close-stress: error: --placement takes linear or spread or pack or smt-first, not 'diagonal'\n");
  const same = runCli(['--resetter', 'sibling', '--iterations', '10']);
  assert.equal(same.code, 2);
  assert.match(same.stderr, /^close-stress: error: --resetter needs --race cross-thread/);
  const twice = runCli(['--placement', 'spread,spread', '--iterations', '10']);
  assert.match(twice.stderr, /--placement lists a value twice/);
  const resetters = runCli(['--cores', '1', '--iterations', '200', '-q', '--race', 'cross-thread', '--resetter', 'next,llc', '--json', path.join(dir, 'rs.json')]);
  assert.equal(resetters.code, 0, resetters.stderr);
  assert.deepEqual(resetters.result.steps.map((s) => s.placement), ['linear', 'linear, resetter llc']);
});

test('compare refuses runs placed differently, naming --placement', (t) => {
  const dir = tempDir(t);
  const a = path.join(dir, 'a.json');
  const b = path.join(dir, 'b.json');
  assert.equal(runCli(['--cores', '1', '--iterations', '200', '-q', '--json', a]).code, 0);
  assert.equal(runCli(['--cores', '1', '--iterations', '200', '-q', '--placement', 'spread', '--json', b]).code, 0);
  const r = runCli(['compare', a, b]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^close-stress: error: compare: the runs differ in --placement \(linear vs spread\)/);
  // A result written before placements were recorded reads as linear.
  const old = JSON.parse(readFileSync(a, 'utf8'));
  delete old.options.placements;
  for (const s of old.steps) delete s.placement;
  const c = path.join(dir, 'old.json');
  writeFileSync(c, JSON.stringify(old));
  assert.equal(runCli(['compare', c, a]).code, 0);
});

test('--tap gives every placement of a sweep its own test point, named by its placement', () => {
  const r = runCli(['--cores', '1', '--iterations', '200', '-q', '--placement', 'linear,spread', '--tap']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^1\.\.2$/m);
  assert.match(r.stdout, /^ok 1 - 1 core: close\(\) within POSIX/m);
  assert.match(r.stdout, /^ok 2 - 1 core \(spread\): close\(\) within POSIX/m);
  assert.match(r.stdout, /^ {2}placement: spread$/m);
});
