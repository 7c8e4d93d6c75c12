import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { buildReference, runReference } from '../scripts/bench.mjs';

function haveCompiler() {
  try {
    execFileSync(process.env.CC || 'cc', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

test('the bench reference loop builds and reports every trial it was asked for, in both race shapes', { skip: !haveCompiler() && 'no C compiler (cc) to build the reference' }, async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'close-stress-ref-test-'));
  try {
    const bin = buildReference(dir);
    for (const race of ['same-thread', 'cross-thread']) {
      const r = await runReference(bin, 1, 200, race);
      assert.equal(r.trials, 200, race);
      assert.ok(r.trialsPerSec > 0, race);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
