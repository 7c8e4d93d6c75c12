// --tap never says `ok` of a step whose verdict line says it shows nothing
// either way: a step whose kernel counted no RST is a skip with the reason.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { bin, buildShim } from './helpers/cli.mjs';

// A network namespace of the test's own: no other traffic adds RSTs to its counters.
const ownNetns = process.platform === 'linux' && spawnSync('unshare', ['-n', 'sh', '-c', 'ip link set lo up']).status === 0;

test('--tap: a step whose kernel counted no RST is "# SKIP unverified" with the reason, exit 4, not ok', { skip: !ownNetns && 'needs unshare -n and ip (root, iproute2) for counters no other traffic touches' }, () => {
  const r = spawnSync('unshare', ['-n', 'sh', '-c', 'ip link set lo up && exec "$@"', 'sh', process.execPath, bin,
    '--cores', '1', '--iterations', '500', '--quiet', '--tap'], {
    encoding: 'utf8', env: { ...process.env, LD_PRELOAD: buildShim(), CLOSE_SHIM_NO_LINGER: '1' },
  });
  assert.equal(r.status, 4, r.stderr);
  assert.match(r.stderr, /verdict: unverified: 1-core step: the kernel counted 0\.00 OutRsts per resetting close/);
  assert.match(r.stdout, /^1\.\.0 # SKIP unverified: the kernel counted 0\.00 OutRsts per resetting close: the RST injection did not happen$/m);
  assert.doesNotMatch(r.stdout, /^ok /m);
});
