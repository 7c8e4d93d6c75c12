// Last file of `npm test` (run with --test-concurrency above 1, it waits for the files still running): a test that writes into the working tree (a result
// saved with a relative path while the cwd is the repository, a shell
// redirection) fails the suite here, naming the file, instead of being
// committed by the next `git add -A`. Tests write under os.tmpdir().
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { cannotCheck, otherFilesRunning, snapshotFile, treeState } from './helpers/worktree.mjs';

function why() {
  const no = cannotCheck();
  if (no) return no;
  const snap = existsSync(snapshotFile) && JSON.parse(readFileSync(snapshotFile, 'utf8'));
  // A snapshot from another run (or none) says nothing about this one.
  if (!snap || snap.runner !== process.ppid) return 'run the whole suite (npm test): the first file records the tree this one compares';
  return false;
}

test('the suite leaves no file behind in the working tree', { skip: why() }, async () => {
  // With files run side by side, what the others leave is known only once they have ended.
  for (let waited = 0; otherFilesRunning().length > 0; waited += 100) {
    assert.ok(waited < 900_000, `test files still running after 15 minutes: ${otherFilesRunning().join(', ')}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const { state: before } = JSON.parse(readFileSync(snapshotFile, 'utf8'));
  rmSync(snapshotFile, { force: true });
  const after = treeState();
  const changed = Object.keys({ ...before, ...after }).filter((f) => before[f] !== after[f]).sort();
  assert.deepEqual(changed, [], `tests left these paths changed or new in the working tree: ${changed.join(', ')}`);
});
