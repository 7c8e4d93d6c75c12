// Output files: refused before any trial when they cannot be written, never
// silently replaced, and a full disk while saving is reported after the table.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { runCli, NO_STACK, isRoot } from './helpers/spawn.mjs';

const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'close-stress-out-'));
const TINY = ['--cores', '1', '--iterations', '200', '-q'];

function refusedBeforeRunning(r, pattern) {
  assert.equal(r.status, 2, r.stderr);
  assert.equal(r.stdout, '', 'a trial ran');
  const lines = r.stderr.split('\n').filter(Boolean);
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0], pattern);
  assert.doesNotMatch(r.stderr, NO_STACK);
}

test('an existing --json result is not overwritten without --force, and is with it', () => {
  const dir = tmp();
  try {
    const json = path.join(dir, 'r.json');
    writeFileSync(json, 'earlier result');
    refusedBeforeRunning(runCli([...TINY, '--json', json]), /--json .* already exists; pass --force/);
    assert.equal(readFileSync(json, 'utf8'), 'earlier result');
    const r = runCli([...TINY, '--json', json, '--force']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(JSON.parse(readFileSync(json, 'utf8')).status, 'completed');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--json and --log-file into a missing directory, an empty name or a directory are refused before any trial', () => {
  const dir = tmp();
  try {
    for (const flag of ['--json', '--log-file']) {
      refusedBeforeRunning(runCli([...TINY, flag, path.join(dir, 'missing', 'x')]), new RegExp(`${flag} .*does not exist`));
      refusedBeforeRunning(runCli([...TINY, flag, '']), new RegExp(`${flag} takes a file name`));
      refusedBeforeRunning(runCli([...TINY, flag, dir]), new RegExp(`${flag} .* is a directory`));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

function mountTmpfs(dir, opts) {
  return spawnSync('mount', ['-t', 'tmpfs', '-o', opts, 'tmpfs', dir]).status === 0;
}
const CAN_MOUNT = isRoot && (() => {
  const d = tmp();
  const ok = mountTmpfs(d, 'size=64k');
  if (ok) spawnSync('umount', [d]);
  rmSync(d, { recursive: true, force: true });
  return ok;
})();
const NO_MOUNT = !CAN_MOUNT && 'needs root and mount -t tmpfs';

test('--json and --log-file on a read-only file system are refused before any trial (even for root)', { skip: NO_MOUNT }, () => {
  const dir = tmp();
  assert.ok(mountTmpfs(dir, 'ro,size=64k'));
  try {
    for (const flag of ['--json', '--log-file']) {
      refusedBeforeRunning(runCli([...TINY, flag, path.join(dir, 'x')]), new RegExp(`${flag} .*cannot write in .*EROFS`));
    }
  } finally {
    spawnSync('umount', [dir]);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a full disk while saving is reported on one line, exit 1, with the table still printed and no temp file left', { skip: NO_MOUNT }, () => {
  const dir = tmp();
  assert.ok(mountTmpfs(dir, 'size=64k'));
  try {
    const out = path.join(dir, 'out');
    mkdirSync(out);
    // Fill the file system to the last block.
    spawnSync('dd', ['if=/dev/zero', `of=${path.join(dir, 'fill')}`, 'bs=4k']);
    for (const [flag, pattern] of [['--json', /^close-stress: could not save .*ENOSPC/], ['--log-file', /^close-stress: could not write the log .*ENOSPC/]]) {
      const r = runCli([...TINY, flag, path.join(out, `r-${flag.slice(2)}`)]);
      assert.equal(r.status, 1, `${flag}: ${r.stderr}`);
      assert.match(r.stdout, /^verdict: /m, 'the table was not printed');
      const lines = r.stderr.split('\n').filter(Boolean);
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0], pattern);
      assert.doesNotMatch(r.stderr, NO_STACK);
    }
    assert.deepEqual(readdirSync(out).filter((f) => f.endsWith('.tmp')), []);
  } finally {
    spawnSync('umount', [dir]);
    rmSync(dir, { recursive: true, force: true });
  }
});
