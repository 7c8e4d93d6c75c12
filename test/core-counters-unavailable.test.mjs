// close-stress-core copied onto a kernel whose TCP counters it cannot read
// (a FreeBSD whose struct tcpstat no layout knows; here Linux with
// /proc/net hidden) keeps the reason in its journal, and the verdict names it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { root, runCli, tempDir } from './helpers/cli.mjs';

const core = path.join(root, 'native', 'build', 'Release', 'close-stress-core');
// A tmpfs over this shell's /proc/PID/net, kept by exec: the core's own /proc/net is empty.
const hide = 'mount -t tmpfs none /proc/$$/net && exec "$@"';
const canHide = process.platform === 'linux' && spawnSync('unshare', ['-m', 'sh', '-c', hide, 'sh', 'true']).status === 0;

test('a close-stress-core step whose kernel counters cannot be read is unverified with the reason, not "no counters recorded"', { skip: !canHide && 'needs unshare -m (root) to hide /proc/net' }, (t) => {
  const journal = path.join(tempDir(t), 'core.jsonl');
  const r = spawnSync('unshare', ['-m', 'sh', '-c', hide, 'sh', core, '--cores', '1', '--iterations', '200', '--journal', journal], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const step = readFileSync(journal, 'utf8').split('\n').map((l) => (l ? JSON.parse(l) : {})).find((l) => l.type === 'step-memory');
  assert.match(step.kernel.unavailable, /^\/proc\/net\/snmp .*\(ENOENT\)$/);
  const report = runCli(['report', journal]);
  assert.equal(report.code, 0, report.stderr);
  assert.match(report.stdout, /verdict: unverified: 1-core step: kernel counters unavailable \(\/proc\/net\/snmp .*\(ENOENT\)\), so the RSTs are not proven/);
});
