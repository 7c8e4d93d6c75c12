// Mutation testing of the modules that decide verdicts: `npm run mutate`
// (slow, not in CI). One module: `npm run mutate -- --mutate src/measure/skew.ts`.
//
// node:test has no Stryker runner, so this uses the command runner. Stryker
// writes every mutant into src/*.ts at once (mutation switching) and picks the
// active one per run from an environment variable, so one tsc build of the
// sandbox serves all mutants (buildCommand), and each mutant costs one run of
// test/verdicts.test.mjs, in-process tests of those modules (under a second
// of CPU), not a rebuild.
import os from 'node:os';
import path from 'node:path';

const scratch = path.join(os.tmpdir(), 'close-stress-stryker');

export default {
  testRunner: 'command',
  buildCommand: 'tsc -p tsconfig.json',
  commandRunner: {
    // One file run directly: node:test then runs in this process, no runner child.
    command: 'node test/verdicts.test.mjs',
  },
  mutate: ['src/common/stats.ts', 'src/common/posix.ts', 'src/tally/tally.ts', 'src/report/compare.ts', 'src/report/bisect.ts', 'src/result/journal.ts', 'src/measure/skew.ts'],
  coverageAnalysis: 'off',
  // The sandbox stays inside the project (ignored by git, removed after a run)
  // so that tsc and Node find node_modules by walking up from it; the report
  // goes to the temp dir.
  tempDirName: '.stryker-tmp',
  cleanTempDir: true,
  ignorePatterns: ['out*.txt', '.ci'],
  reporters: ['clear-text', 'progress', 'json'],
  jsonReporter: { fileName: path.join(scratch, 'mutation.json') },
  clearTextReporter: { allowColor: false, logTests: false, reportMutants: true, reportScoreTable: true },
  // The machine is shared: give a busy test run room before calling it a timeout.
  timeoutMS: 20_000,
  concurrency: 2,
};
