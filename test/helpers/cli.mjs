// Helpers the tests share: run the real CLI as a user would, build the shim.
import { spawnSync, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const bin = path.join(root, 'bin', 'close-stress.js');

export function tempDir(t) {
  const dir = mkdtempSync(path.join(tmpdir(), 'close-stress-test-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Saves `value` as DIR/NAME in JSON, as a run saves its result; returns the path. */
export function saveJson(dir, name, value) {
  const file = path.join(dir, name);
  writeFileSync(file, JSON.stringify(value));
  return file;
}

/** Runs `close-stress ARGS` to completion; returns exit code, output and the parsed --json result if any. */
export function runCli(args, { env = {}, timeout = 120_000 } = {}) {
  const r = spawnSync(process.execPath, [bin, ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout,
  });
  const jsonAt = args.indexOf('--json');
  const file = jsonAt >= 0 ? args[jsonAt + 1] : undefined;
  let result;
  try {
    result = file && existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : undefined;
  } catch {
    result = undefined; // not ours: a file the test put there
  }
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr, result };
}

/** Builds test/helpers/close-shim.c once per source version; returns the .so path. */
export function buildShim() {
  const src = path.join(root, 'test', 'helpers', 'close-shim.c');
  const hash = createHash('sha256').update(readFileSync(src)).digest('hex').slice(0, 12);
  const out = path.join(tmpdir(), `close-stress-shim-${hash}.so`);
  if (!existsSync(out)) {
    const tmp = `${out}.${process.pid}`;
    execFileSync('cc', ['-shared', '-fPIC', '-O2', '-Wall', '-o', tmp, src, '-ldl']);
    execFileSync('mv', [tmp, out]);
  }
  return out;
}

export const sum = (counts) => Object.values(counts ?? {}).reduce((a, b) => a + b, 0);
