// The tree's one rule (README: Layout): src/ is a pipeline of stage folders,
// and every import points back down it. A folder may import from itself and
// from the folders before it in STAGES, never from a later one; the drivers
// (src/*.ts: cli.ts, run.ts) may import any stage and no stage imports them;
// and there is no import circle (which also keeps the measuring strategies
// calling down: repeat.ts -> skew.ts -> step.ts, never back up).
// test/layers.test.mjs runs it; by hand: npx depcruise src
// Type-only imports count: a stage that names a later stage's types knows it.
const STAGES = ['common', 'core', 'env', 'options', 'plan', 'tally', 'measure', 'result', 'report', 'html', 'inject'];

// Folders under src/ that hold no stage: ambient type declarations.
const NOT_STAGES = ['types'];

const later = STAGES.map((stage, i) => ({
  name: `${stage}-imports-no-later-stage`,
  comment: `src/${stage}/ comes before ${STAGES.slice(i + 1).join(', ') || 'nothing'}: it may not import from them`,
  severity: 'error',
  from: { path: `^src/${stage}/` },
  to: { path: `^src/(${STAGES.slice(i + 1).join('|') || '$^'})/` },
})).filter((r) => r.to.path !== '^src/($^)/');

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'an import circle: the modules in it cannot be read (or tested) one before the other',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    ...later,
    {
      name: 'no-stage-imports-a-driver',
      comment: 'cli.ts and run.ts drive the stages; a stage that imports them reaches back up',
      severity: 'error',
      from: { path: '^src/[^/]+/' },
      to: { path: '^src/[^/]+\\.ts$' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
  },
};
// For test/layers.test.mjs, which checks that every folder is one of them; not
// enumerable, since dependency-cruiser refuses keys it does not know.
Object.defineProperties(module.exports, { STAGES: { value: STAGES }, NOT_STAGES: { value: NOT_STAGES } });
