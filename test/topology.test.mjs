// The machine's shape as each OS tells it, read from fake trees: what the run
// header, the JSON environment and placement rely on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describeTopology, parseCpuList, parseTopologySpec, readLinuxTopology, readTopology, SYSFS_ROOT_ENV } from '../dist/env/topology.js';
import { runCli, tempDir } from './helpers/cli.mjs';
import { fakeSysfs, freebsdSpec } from './helpers/fake-topology.mjs';
import { assertValid } from './helpers/schema.mjs';

test('Linux cpulists read as the kernel writes them (ranges and singles)', () => {
  assert.deepEqual(parseCpuList('0-3,8,10-11\n'), [0, 1, 2, 3, 8, 10, 11]);
  assert.throws(() => parseCpuList('0-x'), /not a CPU list/);
});

test('a 2-package x 8-core x 2-thread Linux machine with 2 NUMA nodes reads as such: siblings, caches and nodes per CPU', (t) => {
  const root = fakeSysfs(tempDir(t), { packages: 2, cores: 8, threads: 2, nodes: 2 });
  const topo = readLinuxTopology(root);
  assert.equal(describeTopology(topo), '2 packages x 8 cores x 2 threads, 2 NUMA nodes, 2 L3 caches (linux sysfs)');
  assert.deepEqual([topo.packages, topo.cores, topo.cpus, topo.numaNodes, topo.llcs, topo.llcLevel], [2, 16, 32, 2, 2, 3]);
  assert.deepEqual(topo.groups.cores[0], [0, 16], 'CPU 0 and CPU 16 are one core\'s two threads');
  assert.deepEqual(topo.groups.packages[1], [8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31]);
  assert.deepEqual(topo.groups.nodes, topo.groups.packages);
  assert.deepEqual(topo.groups.llcs, topo.groups.packages, 'the L3 is per package; the L1 and L2 are not the last level');
  assert.deepEqual(topo.notes, []);
});

test('a 1-package x 4-core machine without SMT and without NUMA reads as one node of 4 single-thread cores', (t) => {
  const root = fakeSysfs(tempDir(t), { packages: 1, cores: 4, threads: 1 });
  const topo = readLinuxTopology(root);
  assert.equal(describeTopology(topo), '1 package x 4 cores x 1 thread, 1 NUMA node, 1 L3 cache (linux sysfs)');
  assert.deepEqual(topo.groups.cores, [[0], [1], [2], [3]]);
});

test('FreeBSD kern.sched.topology_spec: THREAD/SMT groups are cores, cache-level 3 groups are the LLCs, NODE groups the NUMA domains', () => {
  const topo = parseTopologySpec(freebsdSpec(), 2);
  assert.equal(describeTopology(topo), '2 packages x 4 cores x 2 threads, 2 NUMA nodes, 2 L3 caches (freebsd kern.sched.topology_spec)');
  assert.deepEqual(topo.groups.cores.slice(0, 2), [[0, 1], [2, 3]]);
  assert.deepEqual(topo.groups.nodes, [[0, 1, 2, 3, 4, 5, 6, 7], [8, 9, 10, 11, 12, 13, 14, 15]]);
  assert.match(topo.notes.join(' '), /packages inferred/);
});

test('FreeBSD without NODE groups keeps vm.ndomains as the node count and says the CPU-to-domain map is unknown', () => {
  const topo = parseTopologySpec(freebsdSpec({ numa: false }), 2);
  assert.equal(topo.numaNodes, 2);
  assert.match(topo.notes.join(' '), /vm\.ndomains is 2 but topology_spec names no NODE groups/);
});

test('a topology that cannot be read is named as unknown with the reason, never a crash', (t) => {
  const root = tempDir(t);
  mkdirSync(path.join(root, 'sys/devices/system/cpu'), { recursive: true });
  writeFileSync(path.join(root, 'sys/devices/system/cpu/online'), 'garbage\n');
  const before = process.env[SYSFS_ROOT_ENV];
  process.env[SYSFS_ROOT_ENV] = root;
  try {
    const topo = readTopology('linux', [0, 1]);
    assert.equal(topo.source, 'unknown');
    assert.match(topo.notes[0], /not read \(not a CPU list: 'garbage'\)/);
    assert.equal(topo.cpus, 2);
  } finally {
    if (before === undefined) delete process.env[SYSFS_ROOT_ENV];
    else process.env[SYSFS_ROOT_ENV] = before;
  }
  assert.throws(() => parseTopologySpec('<nothing/>'), /has no <group>/);
});

test('a run records the topology in the JSON environment (schema-valid) and names it in the header line', (t) => {
  const dir = tempDir(t);
  const root = fakeSysfs(path.join(dir, 'sysfs'), { packages: 2, cores: 8, threads: 2, nodes: 2 });
  const json = path.join(dir, 'r.json');
  const r = runCli(['--cores', '1', '--iterations', '200', '-q', '--json', json], { env: { [SYSFS_ROOT_ENV]: root } });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^topology: 2 packages x 8 cores x 2 threads, 2 NUMA nodes, 2 L3 caches \(linux sysfs\)$/m);
  assertValid('result', r.result);
  assert.equal(r.result.environment.topology.cores, 16);
  assert.deepEqual(r.result.environment.topology.groups.cores[0], [0, 16]);
});
