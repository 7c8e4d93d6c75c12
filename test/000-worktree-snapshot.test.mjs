// First file of `npm test` (node --test runs files in path order, one at a
// time): records the working tree so that zz-worktree-clean.test.mjs, the last
// file, can tell what the tests in between left behind. Node 20 has no global
// setup hook (--test-global-setup, nodejs/node#57438, is a bad option to it),
// so two files bracket the run; package.json's test script stays as it is.
import { test } from 'node:test';
import { writeFileSync } from 'node:fs';
import { cannotCheck, snapshotFile, treeState } from './helpers/worktree.mjs';

test('the working tree is recorded before the suite runs', { skip: cannotCheck() }, () => {
  writeFileSync(snapshotFile, JSON.stringify({ runner: process.ppid, state: treeState() }));
});
