import { spawn } from 'node:child_process';
import { RunError } from '../common/errors.js';
import { cpuMask } from './netpath.js';

/**
 * --netns: the run in a network namespace of its own, with RPS (receive
 * packet steering) on its loopback, so loopback packets, the RST included,
 * are processed from another CPU's backlog: a Linux stand-in for FreeBSD,
 * which queues loopback input to its netisr thread. The host's lo is never
 * touched: unshare -n gives the run its own lo, and -m a private mount
 * namespace so that a fresh sysfs there shows that lo, not the host's. Both
 * end with the process: nothing to tear down.
 */

/** Set in the re-executed run, so it does not unshare again. */
export const INSIDE_ENV = 'CLOSE_STRESS_IN_NETNS';

export const insideNetns = (): boolean => process.env[INSIDE_ENV] !== undefined;

/** The shell script that sets the namespace up, then becomes the run. */
export function setupScript(mask: string): string {
  return [
    'set -e',
    'mount -t sysfs sysfs /sys',
    'ip link set lo up',
    `echo ${mask} > /sys/class/net/lo/queues/rx-0/rps_cpus`,
    'exec "$@"',
  ].join('\n');
}

/** Runs this same command line inside the namespace; resolves with its exit status. */
export function runInNetns(argv: string[], cpus: number[]): Promise<number> {
  if (process.platform !== 'linux') throw new RunError('--netns needs Linux (network namespaces and RPS)');
  if (process.getuid?.() !== 0) throw new RunError('--netns needs root: it makes a network namespace (unshare -n) and sets RPS on its lo');
  const child = spawn('unshare', ['-n', '-m', '--propagation', 'private', 'sh', '-c', setupScript(cpuMask(cpus)), 'close-stress', process.execPath, ...argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, [INSIDE_ENV]: cpuMask(cpus) },
  });
  // The run inside stops and saves on a signal; pass ours on.
  const forward = (sig: NodeJS.Signals) => () => child.kill(sig);
  const handlers = { SIGINT: forward('SIGINT'), SIGTERM: forward('SIGTERM') };
  process.on('SIGINT', handlers.SIGINT).on('SIGTERM', handlers.SIGTERM);
  return new Promise((resolve, reject) => {
    child.on('error', (err) => reject(new RunError(`--netns: cannot run unshare (${err.message})`)));
    child.on('exit', (code, signal) => {
      process.off('SIGINT', handlers.SIGINT).off('SIGTERM', handlers.SIGTERM);
      resolve(code ?? (signal === 'SIGINT' ? 130 : 143));
    });
  });
}
