// The bench's sensitivity section: hits per second per setting, under the
// Linux proxy of FreeBSD's timing (--netns: RPS on a private lo) with the
// test-only double of FreeBSD's close() decision (test/helpers/freebsd-close-double.c).
// EMULATION: the figures rank the tool's settings on such a race; they are
// not FreeBSD's. Each figure is a ratio to the naive same-thread, one lane
// per core figure, measured in alternating rounds so load lands on all.
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';

export const SETTINGS = [
  { name: 'same-thread, 1 lane/core (baseline)', args: [] },
  { name: 'same-thread, 2 lanes/core', args: ['--lanes-per-core', '2'] },
  { name: 'same-thread, 4 lanes/core', args: ['--lanes-per-core', '4'] },
  { name: 'same-thread, skew 500ns', args: ['--skew', '500ns'] },
  { name: 'same-thread, skew auto', args: ['--skew', 'auto'] },
  { name: 'cross-thread, skew 0', args: ['--race', 'cross-thread'] },
  { name: 'cross-thread, skew auto', args: ['--race', 'cross-thread', '--skew', 'auto'] },
];

/** Why the section cannot run here, or undefined when it can. */
export function unavailable() {
  if (process.platform !== 'linux') return 'needs Linux (network namespaces, RPS)';
  if (process.getuid?.() !== 0) return 'needs root (--netns)';
  if (spawnSync('unshare', ['-n', '-m', 'true']).status !== 0) return 'unshare -n -m failed';
  return undefined;
}

export function buildDouble(root, dir) {
  const out = path.join(dir, 'freebsd-close-double.so');
  execFileSync(process.env.CC || 'cc', ['-shared', '-fPIC', '-O2', '-Wall', '-o', out, path.join(root, 'test', 'helpers', 'freebsd-close-double.c'), '-ldl']);
  return out;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** rounds x settings runs of one step; returns per setting the hits/s of each round and the median ratio to the baseline. */
export function sensitivity({ cli, double, tmp, cores, iterations, rounds }) {
  const json = path.join(tmp, 'sensitivity.json');
  const perSetting = SETTINGS.map(() => []);
  for (let r = 0; r < rounds; r++) {
    SETTINGS.forEach((s, i) => {
      const argv = [cli, '--cores', String(cores), '--no-sweep', '--iterations', String(iterations), '--netns', '-q', '--json', json, '--force', ...s.args];
      const run = spawnSync(process.execPath, argv, { env: { ...process.env, LD_PRELOAD: double }, encoding: 'utf8', timeout: 300_000 });
      if (run.status !== 0) throw new Error(`${s.name}: exit ${run.status}: ${(run.stderr || '').split('\n')[0]}`);
      const step = JSON.parse(readFileSync(json, 'utf8')).steps[0];
      perSetting[i].push(step.hits.perSec);
    });
  }
  const base = perSetting[0];
  return SETTINGS.map((s, i) => ({
    setting: s.name,
    args: s.args.join(' ') || '(defaults)',
    hitsPerSec: perSetting[i],
    medianHitsPerSec: median(perSetting[i]),
    ratio: median(perSetting[i].map((h, r) => (base[r] > 0 ? h / base[r] : NaN))),
  }));
}
