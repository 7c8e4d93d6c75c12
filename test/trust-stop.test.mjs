// A stop is not a trial: when a step stops (end of a --duration run, a
// signal, the watchdog) while a lane waits for its own connection to be
// queued, nothing is tallied, least of all a setup failure accept:EINTR.
// The shim makes every other accept() report EAGAIN after a wait, as on a
// kernel whose loopback queues connections asynchronously (FreeBSD), so the
// stop nearly always finds the lane in that wait.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { buildShim, runCli, tempDir } from './helpers/cli.mjs';

for (const race of ['same-thread', 'cross-thread']) {
  test(`${race}: --duration 200ms --repeat 10 with accept() answering EAGAIN every other time counts no setup failure`, (t) => {
    const json = path.join(tempDir(t), 'r.json');
    const r = runCli(['--cores', '1', '--race', race, '--duration', '200ms', '--repeat', '10', '--json', json, '-q'], {
      env: { LD_PRELOAD: buildShim(), CLOSE_SHIM_ACCEPT_EAGAIN_EVERY: '2', CLOSE_SHIM_ACCEPT_EAGAIN_US: '2000' },
    });
    assert.equal(r.code, 0, r.stderr);
    const [step] = r.result.steps;
    assert.ok(step.trials > 0, 'trials ran');
    assert.deepEqual(step.setupFailures, {}, `a stop was counted as a failed trial: ${JSON.stringify(step.setupFailures)}`);
    assert.equal(step.setupFailed, 0);
    assert.equal(step.posix.close.attempts, step.trials, 'every trial counted is a victim close');
    // Not /EINTR/: a clean verdict lists the errnos POSIX allows for close, EINTR among them.
    assert.doesNotMatch(r.stdout, /accept EINTR/);
  });
}
