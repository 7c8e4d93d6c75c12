// Shared by the spawn tests: run the real CLI as a user would.
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BIN = path.join(ROOT, 'bin', 'close-stress.js');

/** Runs the CLI to its end; `shell` wraps it (e.g. 'ulimit -n 32;'). */
export function runCli(args, { env = {}, shell, timeout = 60_000 } = {}) {
  const quoted = args.map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ');
  const r = shell
    ? spawnSync('bash', ['-c', `${shell} exec node '${BIN}' ${quoted}`], { cwd: ROOT, encoding: 'utf8', timeout, env: { ...process.env, ...env } })
    : spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, encoding: 'utf8', timeout, env: { ...process.env, ...env } });
  return { status: r.status, signal: r.signal, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** Starts the CLI in the background; resolves the exit with its output. */
export function startCli(args, env = {}, options = {}) {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...process.env, ...env }, ...options });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const done = new Promise((resolve) => child.on('close', (status, signal) => resolve({ status, signal, stdout, stderr })));
  return { child, done };
}

export const NO_STACK = /^\s+at |node:internal|Error: .*\n\s+at /m;
export const isRoot = process.getuid?.() === 0;
