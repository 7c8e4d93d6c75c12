// Fake machines for topology and placement tests: sysfs trees written under
// os.tmpdir() (read through CLOSE_STRESS_SYSFS_ROOT) and FreeBSD topology_spec text.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const put = (file, text) => {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, `${text}\n`);
};

const ranges = (cpus) => cpus.join(',');

/**
 * Numbered as x86 Linux usually numbers them: the first thread of every core
 * (package by package), then the second threads in the same order, so CPU c
 * and c + packages*cores are SMT siblings. Package p is NUMA node p when
 * `nodes` equals `packages`; one node otherwise. L1d/L1i/L2 per core, L3 per package.
 */
export function fakeSysfs(root, { packages, cores, threads, nodes = 1 }) {
  const perThread = packages * cores;
  const total = perThread * threads;
  const cpu = (p, c, t) => t * perThread + p * cores + c;
  const base = path.join(root, 'sys/devices/system');
  put(path.join(base, 'cpu/online'), `0-${total - 1}`);
  for (let p = 0; p < packages; p++) {
    const pkgCpus = [];
    for (let t = 0; t < threads; t++) for (let c = 0; c < cores; c++) pkgCpus.push(cpu(p, c, t));
    pkgCpus.sort((a, b) => a - b);
    for (let c = 0; c < cores; c++) {
      const siblings = Array.from({ length: threads }, (_, t) => cpu(p, c, t));
      for (const n of siblings) {
        const dir = path.join(base, `cpu/cpu${n}`);
        put(path.join(dir, 'topology/physical_package_id'), String(p));
        put(path.join(dir, 'topology/core_id'), String(c));
        put(path.join(dir, 'topology/core_cpus_list'), ranges(siblings));
        put(path.join(dir, 'topology/thread_siblings_list'), ranges(siblings));
        const caches = [['Data', 1, siblings], ['Instruction', 1, siblings], ['Unified', 2, siblings], ['Unified', 3, pkgCpus]];
        caches.forEach(([type, level, shared], i) => {
          put(path.join(dir, `cache/index${i}/type`), type);
          put(path.join(dir, `cache/index${i}/level`), String(level));
          put(path.join(dir, `cache/index${i}/shared_cpu_list`), ranges(shared));
        });
      }
    }
    if (nodes === packages) put(path.join(base, `node/node${p}/cpulist`), ranges(pkgCpus));
  }
  if (nodes !== packages) put(path.join(base, 'node/node0/cpulist'), `0-${total - 1}`);
  return root;
}

/**
 * kern.sched.topology_spec as FreeBSD 13's sched_ule.c prints it, for 2
 * packages x 4 cores x 2 threads, CPUs numbered sibling-adjacent (0,1 share a
 * core) as FreeBSD numbers them; NODE flags on the packages when `numa`.
 */
export function freebsdSpec({ numa = true } = {}) {
  const list = (cpus) => cpus.join(', ');
  const core = (a, indent) =>
    `${indent}<group level="3" cache-level="1">\n${indent} <cpu count="2" mask="${(3 << a).toString(16)},0,0,0">${list([a, a + 1])}</cpu>\n` +
    `${indent} <flags><flag name="THREAD">THREAD group</flag><flag name="SMT">SMT group</flag></flags>\n${indent}</group>\n`;
  const pkg = (p) => {
    const cpus = Array.from({ length: 8 }, (_, i) => p * 8 + i);
    return `  <group level="2" cache-level="3">\n   <cpu count="8" mask="${(0xff << (p * 8)).toString(16)},0,0,0">${list(cpus)}</cpu>\n` +
      (numa ? '   <flags><flag name="NODE">NUMA node</flag></flags>\n' : '') +
      `   <children>\n${[0, 2, 4, 6].map((o) => core(p * 8 + o, '    ')).join('')}   </children>\n  </group>\n`;
  };
  const all = Array.from({ length: 16 }, (_, i) => i);
  return `<groups>\n <group level="1" cache-level="0">\n  <cpu count="16" mask="ffff,0,0,0">${list(all)}</cpu>\n  <children>\n${pkg(0)}${pkg(1)}  </children>\n </group>\n</groups>\n\0`;
}
