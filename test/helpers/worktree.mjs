// What the working tree looks like to git: every changed or untracked path
// (ignored ones, such as dist/ and native/build/, excluded) with a hash of its
// content, so that a test rewriting an already-modified file is seen too.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { root } from './cli.mjs';

export function treeState() {
  const r = spawnSync('git', ['status', '--porcelain=v1', '-z', '--untracked-files=all'], { cwd: root, encoding: 'utf8' });
  if (r.status !== 0) return undefined;
  const state = {};
  for (const entry of r.stdout.split('\0').filter(Boolean)) {
    const file = entry.slice(3);
    const full = path.join(root, file);
    const st = statSync(full, { throwIfNoEntry: false });
    state[file] = `${entry.slice(0, 2)} ${st?.isFile() ? createHash('sha256').update(readFileSync(full)).digest('hex') : 'gone'}`;
  }
  return state;
}

/** Where the first test file leaves the tree's state for the last one; one per test runner process. */
export const snapshotFile = path.join(tmpdir(), `close-stress-tree-${createHash('sha256').update(root).digest('hex').slice(0, 12)}.json`);

/** Why the check cannot run here, or false. */
export function cannotCheck() {
  return spawnSync('git', ['rev-parse', '--is-inside-work-tree'], { cwd: root }).status === 0
    ? false
    : `${root} is not a git working tree (an unpacked tarball): nothing to compare`;
}

/**
 * The other test files the runner still has running: with --test-concurrency
 * above 1 the last file may start while the one before it still writes.
 */
export function otherFilesRunning() {
  const ppid = process.ppid;
  const tasks = `/proc/${ppid}/task`;
  const children = existsSync(tasks)
    ? readdirSync(tasks).flatMap((t) => readFileSync(path.join(tasks, t, 'children'), 'utf8').split(' ').filter(Boolean))
    : spawnSync('pgrep', ['-P', String(ppid)], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
  return children.map(Number).filter((pid) => pid !== process.pid);
}
